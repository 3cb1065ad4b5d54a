//! Undo and redo of this replica's own edits (selective undo).
//!
//! # What an undo does
//!
//! An [`UndoStack`] is plain data: a list of *steps*, each the [`Change`]s
//! one user action made, told by the ids of the chars involved, never by
//! positions. A front end records each local edit as it makes it
//! ([`UndoStack::record`]; whether it joins the open step is the front
//! end's call: a burst of typing in the editor, one command in a script)
//! and asks for [`UndoStack::undo`] / [`UndoStack::redo`]. Those turn a
//! step into ordinary local edits on the document as it is *now*, made
//! through [`LocalEdits`] (a bare [`Doc`], or the program's driver, which
//! makes them durable and sends them like any keystroke):
//!
//! - undoing an insert deletes those of the inserted chars that are still
//!   visible (a peer may have deleted some, or typed among them: its
//!   chars stay);
//! - undoing a delete inserts the deleted text again, char by char at the
//!   place where each char was: between the same visible neighbours if
//!   they are still there, at its tombstone's position within them (so a
//!   peer's text typed in the gap stays on its side), and where the
//!   neighbours were if they are gone;
//! - the inverse of what was done is pushed on the other stack, so redo
//!   re-does what undo reverted, and undo after redo reverts again. A new
//!   recorded change clears the redo stack. A step that finds nothing to
//!   change (peers deleted all of it) is dropped and the next one is tried.
//!
//! Only this replica's own steps are on the stack, and an undo deletes
//! only chars that a step of ours inserted (or restored): a peer's visible
//! chars are never touched. Restored text is made of new chars with new
//! ids; the stack remembers which old id each stands for (`remade`), so a
//! step recorded before the restore still finds its chars (type "abc",
//! delete "b", undo, undo: the second undo removes the restored "b" too).
//!
//! # The cleanup rule
//!
//! Every edit an undo or redo makes is a plain [`Doc::insert`] or
//! [`Doc::delete`] at a position of the current visible text. So its ops
//! are exactly those a keystroke at that place would make, and keep to
//! the promise of `collect` as any keystroke does: a delete names only
//! visible chars; an insert's left origin is the visible char before the
//! position and its right origin whatever follows that char in the
//! current sequence (rule 2 there: possibly the first of a run of stable
//! tombstones, which cleanup keeps as a marker). An undo never names a
//! deleted char as an origin, and never re-uses the id of a deleted char:
//! the text to restore is kept here, in the step, not read from the op
//! log (where cleanup may have dropped it). A deleted char's tombstone is
//! only *looked up* to find a position ([`Doc::position_of`]); when
//! cleanup has removed it, the restore falls back on the chars restored
//! just before it, then on the recorded right neighbour (text typed into
//! the gap after the delete sits before the tombstones, since a local
//! insert goes right after the visible char before it), then the left
//! one, then the position the delete was made at.
//!
//! # A new replica id
//!
//! The stack belongs to one replica id. After a rejoin (`Doc::rejoin`
//! re-makes our ops under a new id, with new char ids) the recorded ids
//! would name chars that are gone or no longer ours, so the stack is
//! cleared ([`UndoStack::follow`] says when, for a notice): never wrong,
//! only forgetful.

use std::collections::{BTreeMap, VecDeque};

use super::{Doc, Error, Id, IdSpan, ReplicaId};

/// Steps kept; older ones are forgotten.
pub const MAX_STEPS: usize = 1000;
/// Chars of removed or restored text an [`Outcome`] quotes.
const PREVIEW_CHARS: usize = 40;

/// Where undo and redo make their edits: ordinary local edits.
pub trait LocalEdits {
    fn doc(&self) -> &Doc;
    /// A local insert; `Err`: refused, nothing changed.
    fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error>;
    /// A local delete; `Err`: refused, nothing changed.
    fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error>;
}

impl LocalEdits for Doc {
    fn doc(&self) -> &Doc {
        self
    }
    fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        Doc::insert(self, pos, text)
    }
    fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error> {
        Doc::delete(self, pos, len)
    }
}

/// One local edit, told by ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Chars this replica inserted.
    Inserted(Vec<IdSpan>),
    /// Chars this replica deleted, one stretch that was contiguous.
    Deleted(Removal),
}

/// A stretch of visible text this replica deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The ids of the chars, in document order.
    ids: Vec<IdSpan>,
    /// Their text, one char per id.
    text: String,
    /// The visible char before the stretch (`None`: the start of the text).
    left: Option<Id>,
    /// The visible char after it (`None`: the end of the text).
    right: Option<Id>,
    /// Its position when it was deleted.
    pos: usize,
}

/// Appends `span` to `spans`, extending the last one when it continues it.
fn push_span(spans: &mut Vec<IdSpan>, span: IdSpan) {
    match spans.last_mut() {
        Some(last)
            if last.start.replica == span.start.replica
                && last.end_counter() == span.start.counter =>
        {
            last.len += span.len
        }
        _ => spans.push(span),
    }
}

fn each_id(spans: &[IdSpan]) -> impl Iterator<Item = Id> + '_ {
    spans
        .iter()
        .flat_map(|s| (0..s.len).map(move |k| s.start.add(k)))
}

impl Change {
    /// The insert of `n` chars at `pos` that was just made (`doc` is the
    /// document after it); `None` if there is no such text there.
    pub fn inserted(doc: &Doc, pos: usize, n: usize) -> Option<Change> {
        let end = pos.checked_add(n)?;
        let ids = doc.ids_in(pos..end)?;
        (!ids.is_empty()).then_some(Change::Inserted(ids))
    }

    /// The delete of `len` chars at `pos` about to be made (`doc` is the
    /// document before it); `None` if the range is out of the text.
    pub fn deleting(doc: &Doc, pos: usize, len: usize) -> Option<Change> {
        let end = pos.checked_add(len)?;
        let text = doc.slice(pos..end)?;
        let ids = doc.ids_in(pos..end)?;
        if ids.is_empty() {
            return None;
        }
        Some(Change::Deleted(Removal {
            ids,
            text,
            left: pos.checked_sub(1).and_then(|p| doc.id_at(p)),
            right: doc.id_at(end),
            pos,
        }))
    }

    /// Chars this change inserted or deleted.
    pub fn len(&self) -> usize {
        match self {
            Change::Inserted(spans) => spans.iter().map(|s| s.len as usize).sum(),
            Change::Deleted(r) => r.text.chars().count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins `next`, made right after this change, into it when the two
    /// are one edit: more typing, or more deleting at the same place.
    fn absorb(&mut self, next: Change) -> Option<Change> {
        match (self, next) {
            (Change::Inserted(spans), Change::Inserted(more)) => {
                for s in more {
                    push_span(spans, s);
                }
                None
            }
            (Change::Deleted(a), Change::Deleted(mut b)) => {
                let b_len = b.text.chars().count();
                if b.right == a.right && b.pos.checked_add(b_len) == Some(a.pos) {
                    // Backspace: `b` was just before `a`.
                    for s in a.ids.drain(..) {
                        push_span(&mut b.ids, s);
                    }
                    b.text.push_str(&a.text);
                    a.ids = b.ids;
                    a.text = b.text;
                    a.left = b.left;
                    a.pos = b.pos;
                    None
                } else if b.left == a.left && b.pos == a.pos {
                    // Delete key: `b` was just after `a`.
                    for s in b.ids {
                        push_span(&mut a.ids, s);
                    }
                    a.text.push_str(&b.text);
                    a.right = b.right;
                    None
                } else {
                    Some(Change::Deleted(b))
                }
            }
            (_, next) => Some(next),
        }
    }
}

/// The changes of one user action, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Step {
    changes: Vec<Change>,
}

/// What one undo or redo did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Chars deleted.
    pub removed: usize,
    /// Chars inserted again.
    pub restored: usize,
    /// The first chars deleted, in document order.
    pub removed_preview: String,
    /// The first chars inserted, in document order.
    pub restored_preview: String,
    /// Where the cursor goes: right after the last edit made, a char
    /// position in the text as it is now.
    pub cursor: usize,
}

impl Outcome {
    fn is_empty(&self) -> bool {
        self.removed == 0 && self.restored == 0
    }
}

/// The first chars of what `inverse` (the step that reverts what was just
/// done to `doc`) would change, in document order: the chars just
/// removed, and the chars just inserted.
fn previews(doc: &Doc, inverse: &Step) -> (String, String) {
    let mut removed: Vec<(usize, &str)> = Vec::new();
    let mut inserted: Vec<usize> = Vec::new();
    for change in &inverse.changes {
        match change {
            Change::Deleted(r) => {
                let at = each_id(&r.ids)
                    .next()
                    .and_then(|id| doc.position_of(id))
                    .map_or(r.pos, |(p, _)| p);
                removed.push((at, &r.text));
            }
            Change::Inserted(spans) => {
                inserted.extend(each_id(spans).filter_map(|id| match doc.position_of(id) {
                    Some((p, true)) => Some(p),
                    _ => None,
                }))
            }
        }
    }
    removed.sort_by_key(|&(at, _)| at);
    let removed = removed
        .iter()
        .flat_map(|(_, text)| text.chars())
        .take(PREVIEW_CHARS)
        .collect();
    inserted.sort_unstable();
    let inserted = inserted
        .iter()
        .take(PREVIEW_CHARS)
        .filter_map(|&p| doc.slice(p..p + 1))
        .collect();
    (removed, inserted)
}

/// This replica's undo and redo stacks (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct UndoStack {
    /// The replica the ids were recorded for.
    replica: Option<ReplicaId>,
    undo: VecDeque<Step>,
    redo: Vec<Step>,
    /// Whether the next change may join the last undo step.
    open: bool,
    /// Chars an undo or redo inserted again for deleted ones: a run of
    /// consecutive old ids -> (its length, the first new id).
    remade: BTreeMap<Id, (u64, Id)>,
}

impl UndoStack {
    pub fn new() -> UndoStack {
        UndoStack::default()
    }

    /// Steps that can be undone / redone.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }

    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
        self.remade.clear();
        self.open = false;
    }

    /// Keeps the stack to `replica`'s ids: when the document now belongs
    /// to another replica id (a rejoin), the stack is cleared. Returns
    /// whether something was forgotten.
    pub fn follow(&mut self, replica: ReplicaId) -> bool {
        if self.replica == Some(replica) {
            return false;
        }
        let had = !self.undo.is_empty() || !self.redo.is_empty();
        self.clear();
        self.replica = Some(replica);
        had
    }

    /// Records a local change `replica` just made (for a delete: about to
    /// make). `merge`: it joins the open step (more of one burst of
    /// typing); otherwise it starts a step of its own. Clears the redo stack.
    pub fn record(&mut self, replica: ReplicaId, change: Change, merge: bool) {
        self.follow(replica);
        if change.is_empty() {
            return;
        }
        self.redo.clear();
        match self.undo.back_mut() {
            Some(step) if merge && self.open => {
                let rest = match step.changes.last_mut() {
                    Some(last) => last.absorb(change),
                    None => Some(change),
                };
                step.changes.extend(rest);
            }
            _ => {
                self.undo.push_back(Step {
                    changes: vec![change],
                });
                if self.undo.len() > MAX_STEPS {
                    self.undo.pop_front();
                }
            }
        }
        self.open = true;
    }

    /// Ends the open step: the next change starts a new one.
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Reverts the last step that still changes something. `Ok(None)`:
    /// nothing to undo. On `Err` (the document refused an edit) the step
    /// stays on the stack: what was already done is not done again when
    /// it is tried again.
    pub fn undo(&mut self, target: &mut impl LocalEdits) -> Result<Option<Outcome>, Error> {
        self.follow(target.doc().replica());
        self.open = false;
        while let Some(step) = self.undo.pop_back() {
            match self.revert(&step, target) {
                Ok((inverse, outcome)) if !outcome.is_empty() => {
                    self.redo.push(inverse);
                    return Ok(Some(outcome));
                }
                Ok(_) => {}
                Err(e) => {
                    self.undo.push_back(step);
                    return Err(e);
                }
            }
        }
        self.forget_remade();
        Ok(None)
    }

    /// Re-does the last step undone. `Ok(None)`: nothing to redo.
    pub fn redo(&mut self, target: &mut impl LocalEdits) -> Result<Option<Outcome>, Error> {
        self.follow(target.doc().replica());
        self.open = false;
        while let Some(step) = self.redo.pop() {
            match self.revert(&step, target) {
                Ok((inverse, outcome)) if !outcome.is_empty() => {
                    self.undo.push_back(inverse);
                    return Ok(Some(outcome));
                }
                Ok(_) => {}
                Err(e) => {
                    self.redo.push(step);
                    return Err(e);
                }
            }
        }
        self.forget_remade();
        Ok(None)
    }

    /// With both stacks empty nothing can name a re-made char.
    fn forget_remade(&mut self) {
        if self.undo.is_empty() && self.redo.is_empty() {
            self.remade.clear();
        }
    }

    /// The char that stands for `id` now: `id` itself, or the char an
    /// undo or redo inserted again in its place (following re-makes of
    /// re-makes).
    fn resolve(&self, mut id: Id) -> Id {
        // Each hop goes to an id made later; the bound only guards the loop.
        for _ in 0..=self.remade.len() {
            match self.remade.range(..=id).next_back() {
                Some((start, &(len, to)))
                    if start.replica == id.replica && id.counter - start.counter < len =>
                {
                    id = to.add(id.counter - start.counter);
                }
                _ => break,
            }
        }
        id
    }

    /// Makes the edits that revert `step` (its changes in reverse order);
    /// returns the step that reverts them, and what was done.
    fn revert(
        &mut self,
        step: &Step,
        target: &mut impl LocalEdits,
    ) -> Result<(Step, Outcome), Error> {
        let mut inverse = Step::default();
        let mut outcome = Outcome::default();
        for change in step.changes.iter().rev() {
            match change {
                Change::Inserted(spans) => {
                    self.remove(spans, target, &mut inverse, &mut outcome)?
                }
                Change::Deleted(removal) => {
                    self.restore(removal, target, &mut inverse, &mut outcome)?
                }
            }
        }
        (outcome.removed_preview, outcome.restored_preview) = previews(target.doc(), &inverse);
        Ok((inverse, outcome))
    }

    /// Deletes those of the chars `spans` stands for that are visible, in
    /// stretches of consecutive positions, right to left.
    fn remove(
        &mut self,
        spans: &[IdSpan],
        target: &mut impl LocalEdits,
        inverse: &mut Step,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        let doc = target.doc();
        let mut visible: Vec<usize> = each_id(spans)
            .filter_map(|id| match doc.position_of(self.resolve(id)) {
                Some((pos, true)) => Some(pos),
                _ => None,
            })
            .collect();
        visible.sort_unstable();
        visible.dedup();
        // Stretches (start, len), left to right.
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for pos in visible {
            match stretches.last_mut() {
                Some((start, len)) if *start + *len == pos => *len += 1,
                _ => stretches.push((pos, 1)),
            }
        }
        for &(pos, len) in stretches.iter().rev() {
            let Some(change) = Change::deleting(target.doc(), pos, len) else {
                continue;
            };
            target.delete(pos, len)?;
            inverse.changes.push(change);
            outcome.removed += len;
            outcome.cursor = pos;
        }
        Ok(())
    }

    /// Inserts the deleted chars of `removal` that are not visible again,
    /// each where it was (see the module doc), and remembers the new chars
    /// as standing for the old ones.
    fn restore(
        &mut self,
        removal: &Removal,
        target: &mut impl LocalEdits,
        inverse: &mut Step,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        let doc = target.doc();
        let len = doc.len();
        let place = |id: Id| doc.position_of(self.resolve(id));
        // The neighbours, where they are (or were).
        let low = match removal.left {
            None => Some(0),
            Some(l) => place(l).map(|(p, visible)| p + visible as usize),
        };
        let high = match removal.right {
            None => Some(len),
            Some(r) => place(r).map(|(p, _)| p),
        };
        let clamp = |p: usize| match (low, high) {
            (Some(l), Some(h)) if l <= h => p.clamp(l, h),
            (Some(l), None) => p.max(l),
            (None, Some(h)) => p.min(h),
            _ => p,
        };
        // A char whose tombstone cleanup removed goes right before the
        // right neighbour: text typed into the gap after the delete went
        // right after the left one (a local insert goes before tombstones).
        let fallback = high.or(low).unwrap_or(removal.pos.min(len));
        // (position, text, old ids) of each run of chars going to one place.
        let mut groups: Vec<(usize, String, Vec<Id>)> = Vec::new();
        let mut prev: Option<usize> = None;
        for (id, c) in each_id(&removal.ids).zip(removal.text.chars()) {
            let now = self.resolve(id);
            let pos = match doc.position_of(now) {
                Some((p, true)) => {
                    // Still (or again) there: what follows goes after it.
                    prev = Some(prev.map_or(p + 1, |q| q.max(p + 1)));
                    continue;
                }
                Some((p, false)) => clamp(p),
                None => prev.unwrap_or(fallback),
            };
            let pos = prev.map_or(pos, |q| pos.max(q)).min(len);
            prev = Some(pos);
            match groups.last_mut() {
                Some((at, text, ids)) if *at == pos => {
                    text.push(c);
                    ids.push(now);
                }
                _ => groups.push((pos, c.to_string(), vec![now])),
            }
        }
        // Right to left, so that each position still holds when it is used.
        for (pos, text, old) in groups.into_iter().rev() {
            target.insert(pos, &text)?;
            let doc = target.doc();
            let n = old.len();
            if let Some(first) = doc.id_at(pos) {
                self.remember(&old, first);
                inverse
                    .changes
                    .push(Change::Inserted(vec![IdSpan::new(first, n as u64)]));
            }
            outcome.restored += n;
            outcome.cursor = pos + n;
        }
        Ok(())
    }

    /// Notes that `old[k]` was inserted again as `first + k`.
    fn remember(&mut self, old: &[Id], first: Id) {
        let mut k = 0;
        while k < old.len() {
            let start = old[k];
            let mut n = 1;
            while k + n < old.len() && old[k + n] == start.add(n as u64) {
                n += 1;
            }
            self.remade.insert(start, (n as u64, first.add(k as u64)));
            k += n;
        }
    }
}

#[cfg(test)]
mod tests;
