//! One open editor's view of the document: positions, deltas, and the
//! operational transform that keeps an editor and rumor in step while
//! edits cross on the wire.
//!
//! Pure: no sockets, no clock. The bridge (`super`) feeds it the
//! document's text and the editor's messages and sends what it returns.
//!
//! - A position is `{line, character}`: lines end at `\n` (a `\r` before
//!   it belongs to the line ending, as in LSP), characters are Unicode
//!   scalar values. A character past the end of its line means the end of
//!   the line; a line past the last is an error.
//! - A delta is a list of replacements whose ranges all refer to the text
//!   before it and do not overlap. Inside, a delta is a list of [`Hunk`]s
//!   in char offsets, sorted; for transforming it becomes a sequence of
//!   retain / delete / insert steps ([`Step`]).
//! - [`EditorSync`] keeps the two revision counters of the protocol: the
//!   editor's edits rumor applied, and rumor's edits the editor is known
//!   to have applied. rumor's edits the editor has not acknowledged stay
//!   pending; an editor edit made before it saw them is transformed past
//!   them (and they past it), so both apply exactly once, and the editor,
//!   which ignores an edit whose revision is stale, gets them again,
//!   transformed, under its new revision.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::net::text_merge::{self, Hunk};

/// Effort spent diffing the document against what an editor has.
const DIFF_BUDGET: Duration = Duration::from_millis(200);

/// A place in a text: line and character, both from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub line: u64,
    pub character: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

/// One replacement of a delta, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub range: Range,
    pub replacement: String,
}

/// Where each line of a text starts, in chars, and how long its content
/// is (without its `\n` or `\r\n`).
pub struct Lines {
    starts: Vec<usize>,
    lens: Vec<usize>,
    total: usize,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        let mut lens = Vec::new();
        let mut at = 0;
        let mut prev_cr = false;
        for c in text.chars() {
            at += 1;
            if c == '\n' {
                let start = *starts.last().unwrap_or(&0);
                let content = at - 1 - start - usize::from(prev_cr);
                lens.push(content);
                starts.push(at);
            }
            prev_cr = c == '\r';
        }
        let start = *starts.last().unwrap_or(&0);
        lens.push(at - start);
        Lines {
            starts,
            lens,
            total: at,
        }
    }

    /// The char offset of `pos`.
    pub fn offset(&self, pos: Position) -> Result<usize, String> {
        let line = usize::try_from(pos.line).unwrap_or(usize::MAX);
        let (Some(&start), Some(&len)) = (self.starts.get(line), self.lens.get(line)) else {
            return Err(format!(
                "line {} is past the end of the text ({} lines)",
                pos.line,
                self.starts.len()
            ));
        };
        let character = usize::try_from(pos.character).unwrap_or(usize::MAX);
        Ok(start + character.min(len))
    }

    /// The position of char offset `offset` (at most the text's length).
    /// An offset between a `\r` and its `\n` is shown as the end of the
    /// line's content plus one; [`align`] keeps deltas from naming one.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.total);
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        Position {
            line: line as u64,
            character: (offset - self.starts[line]) as u64,
        }
    }
}

/// The hunks (sorted, disjoint, in char offsets of `text`) of a delta on
/// `text`; an error for ranges out of order or overlapping.
pub fn delta_to_hunks(text: &str, delta: &[Replacement]) -> Result<Vec<Hunk>, String> {
    let lines = Lines::new(text);
    let mut hunks = Vec::with_capacity(delta.len());
    for r in delta {
        let start = lines.offset(r.range.start)?;
        let end = lines.offset(r.range.end)?;
        if end < start {
            return Err("a range ends before it starts".into());
        }
        hunks.push(Hunk {
            start,
            deleted: end - start,
            inserted: r.replacement.clone(),
        });
    }
    hunks.sort_by_key(|h| (h.start, h.deleted));
    for pair in hunks.windows(2) {
        if pair[0].start + pair[0].deleted > pair[1].start {
            return Err("the ranges of a delta overlap".into());
        }
    }
    Ok(hunks)
}

/// The delta on the wire for `hunks` (sorted, disjoint) on `text`.
pub fn hunks_to_delta(text: &str, hunks: &[Hunk]) -> Vec<Replacement> {
    let lines = Lines::new(text);
    hunks
        .iter()
        .map(|h| Replacement {
            range: Range {
                start: lines.position(h.start),
                end: lines.position(h.start + h.deleted),
            },
            replacement: h.inserted.clone(),
        })
        .collect()
}

/// The same change as `hunks` on `text`, with no hunk starting or ending
/// between a `\r` and its `\n` (a position cannot name that place):
/// such a boundary takes in the `\r` or the `\n`. Touching hunks are
/// joined first.
pub fn align(text: &str, hunks: Vec<Hunk>) -> Vec<Hunk> {
    if !text.contains("\r\n") {
        return hunks;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut joined: Vec<Hunk> = Vec::with_capacity(hunks.len());
    for h in hunks {
        match joined.last_mut() {
            Some(last) if last.start + last.deleted == h.start => {
                last.deleted += h.deleted;
                last.inserted.push_str(&h.inserted);
            }
            _ => joined.push(h),
        }
    }
    let inside_crlf =
        |at: usize| at > 0 && chars.get(at - 1) == Some(&'\r') && chars.get(at) == Some(&'\n');
    for h in &mut joined {
        if inside_crlf(h.start) {
            h.start -= 1;
            h.deleted += 1;
            h.inserted.insert(0, '\r');
        }
        if inside_crlf(h.start + h.deleted) {
            h.deleted += 1;
            h.inserted.push('\n');
        }
    }
    joined
}

/// One step of a change walked from the start of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Retain(usize),
    Delete(usize),
    Insert(String),
}

fn push(steps: &mut Vec<Step>, step: Step) {
    match (steps.last_mut(), step) {
        (_, Step::Retain(0) | Step::Delete(0)) => {}
        (_, Step::Insert(s)) if s.is_empty() => {}
        (Some(Step::Retain(a)), Step::Retain(b)) => *a += b,
        (Some(Step::Delete(a)), Step::Delete(b)) => *a += b,
        (Some(Step::Insert(a)), Step::Insert(b)) => a.push_str(&b),
        (_, step) => steps.push(step),
    }
}

/// The steps of `hunks` on a text of `len` chars.
pub fn steps(hunks: &[Hunk], len: usize) -> Vec<Step> {
    let mut out = Vec::new();
    let mut at = 0;
    for h in hunks {
        push(&mut out, Step::Retain(h.start.saturating_sub(at)));
        push(&mut out, Step::Delete(h.deleted));
        push(&mut out, Step::Insert(h.inserted.clone()));
        at = h.start + h.deleted;
    }
    push(&mut out, Step::Retain(len.saturating_sub(at)));
    out
}

/// The hunks of `steps`.
pub fn hunks(steps: &[Step]) -> Vec<Hunk> {
    let mut out: Vec<Hunk> = Vec::new();
    let mut at = 0;
    let mut open = false;
    for step in steps {
        match step {
            Step::Retain(n) => {
                at += n;
                open = false;
            }
            Step::Delete(n) => {
                if !open {
                    out.push(Hunk {
                        start: at,
                        deleted: 0,
                        inserted: String::new(),
                    });
                    open = true;
                }
                if let Some(h) = out.last_mut() {
                    h.deleted += n;
                }
                at += n;
            }
            Step::Insert(s) => {
                if !open {
                    out.push(Hunk {
                        start: at,
                        deleted: 0,
                        inserted: String::new(),
                    });
                    open = true;
                }
                if let Some(h) = out.last_mut() {
                    h.inserted.push_str(s);
                }
            }
        }
    }
    out
}

/// `a` and `b`, two changes of the same text, each moved past the other:
/// `(a2, b2)` such that `b` then `a2` and `a` then `b2` give the same
/// text. Where both insert at one place, `a`'s text comes first when
/// `a_first`. Steps are cut where needed; both must span the same length
/// (an error when not).
pub fn transform(a: &[Step], b: &[Step], a_first: bool) -> Result<(Vec<Step>, Vec<Step>), String> {
    let mut a2 = Vec::new();
    let mut b2 = Vec::new();
    let mut ia = a.iter().cloned();
    let mut ib = b.iter().cloned();
    let mut x = ia.next();
    let mut y = ib.next();
    loop {
        match (&x, &y) {
            (None, None) => return Ok((a2, b2)),
            (Some(Step::Insert(s)), other)
                if a_first || !matches!(other, Some(Step::Insert(_))) =>
            {
                push(&mut b2, Step::Retain(s.chars().count()));
                push(&mut a2, Step::Insert(s.clone()));
                x = ia.next();
            }
            (_, Some(Step::Insert(s))) => {
                push(&mut a2, Step::Retain(s.chars().count()));
                push(&mut b2, Step::Insert(s.clone()));
                y = ib.next();
            }
            (None, _) | (_, None) => return Err("the changes are of texts of other lengths".into()),
            (Some(sx), Some(sy)) => {
                let (n, m) = match (sx, sy) {
                    (Step::Retain(n) | Step::Delete(n), Step::Retain(m) | Step::Delete(m)) => {
                        (*n, *m)
                    }
                    // Inserts are handled above.
                    _ => return Err("unreachable step pair".into()),
                };
                let k = n.min(m);
                match (sx, sy) {
                    (Step::Retain(_), Step::Retain(_)) => {
                        push(&mut a2, Step::Retain(k));
                        push(&mut b2, Step::Retain(k));
                    }
                    (Step::Delete(_), Step::Retain(_)) => push(&mut a2, Step::Delete(k)),
                    (Step::Retain(_), Step::Delete(_)) => push(&mut b2, Step::Delete(k)),
                    _ => {} // both delete it
                }
                x = shorten(sx, k).or_else(|| ia.next());
                y = shorten(sy, k).or_else(|| ib.next());
            }
        }
    }
}

/// What is left of a retain or delete step after `k` chars; `None` when
/// nothing.
fn shorten(step: &Step, k: usize) -> Option<Step> {
    match step {
        Step::Retain(n) if *n > k => Some(Step::Retain(n - k)),
        Step::Delete(n) if *n > k => Some(Step::Delete(n - k)),
        _ => None,
    }
}

fn changed_len(len: usize, hunks: &[Hunk]) -> usize {
    let (ins, del) = text_merge::size(hunks);
    (len + ins).saturating_sub(del)
}

/// An edit notification for the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The editor edits rumor has applied (the editor drops the edit
    /// unless it has made exactly these).
    pub revision: u64,
    pub delta: Vec<Replacement>,
}

/// One open editor, kept in step with the document (see the module docs).
#[derive(Debug)]
pub struct EditorSync {
    /// The editor's text after its own edits so far and the first
    /// `acked` of rumor's.
    editor_text: String,
    /// rumor's edits sent and not acknowledged, oldest first; the first
    /// applies to `editor_text`, each next one to the text after it.
    pending: VecDeque<Vec<Hunk>>,
    acked: u64,
    editor_revision: u64,
    /// `editor_text` with every pending edit applied: the document's text
    /// when last brought in step.
    shadow: String,
}

impl EditorSync {
    /// An editor opened the document with `content` in its buffer; the
    /// edit that makes it `doc_text`, if they differ.
    pub fn open(content: &str, doc_text: &str) -> (EditorSync, Option<Outgoing>) {
        let mut sync = EditorSync {
            editor_text: content.to_string(),
            pending: VecDeque::new(),
            acked: 0,
            editor_revision: 0,
            shadow: content.to_string(),
        };
        let out = sync.document_changed(doc_text);
        (sync, out)
    }

    /// rumor's edits sent so far.
    pub fn daemon_revision(&self) -> u64 {
        self.acked + self.pending.len() as u64
    }

    pub fn editor_revision(&self) -> u64 {
        self.editor_revision
    }

    /// The document's text as this editor will have it once it has
    /// applied everything sent.
    pub fn shadow(&self) -> &str {
        &self.shadow
    }

    /// The document now holds `text`: the edit to send, if any.
    pub fn document_changed(&mut self, text: &str) -> Option<Outgoing> {
        if text == self.shadow {
            return None;
        }
        let hunks = text_merge::diff(&self.shadow, text, Some(Instant::now() + DIFF_BUDGET));
        let hunks = align(&self.shadow, hunks);
        let delta = hunks_to_delta(&self.shadow, &hunks);
        self.pending.push_back(hunks);
        self.shadow = text.to_string();
        Some(Outgoing {
            revision: self.editor_revision,
            delta,
        })
    }

    /// The editor made `delta` after applying `revision` of rumor's edits.
    /// Returns the change to make to the document (on [`Self::shadow`]
    /// as it was, which must be the document's text: call
    /// [`Self::document_changed`] first) and rumor's pending edits sent
    /// again, moved past it.
    pub fn editor_edit(
        &mut self,
        revision: u64,
        delta: &[Replacement],
    ) -> Result<(Vec<Hunk>, Vec<Outgoing>), String> {
        if revision < self.acked || revision > self.daemon_revision() {
            return Err(format!(
                "revision {revision} is not one of rumor's ({} to {})",
                self.acked,
                self.daemon_revision()
            ));
        }
        // Everything to check comes before any change of state.
        let mut acked_text = None;
        let skip = usize::try_from(revision - self.acked).unwrap_or(usize::MAX);
        for hunks in self.pending.iter().take(skip) {
            let base = acked_text.as_deref().unwrap_or(self.editor_text.as_str());
            acked_text = Some(text_merge::apply(base, hunks));
        }
        let editor_text = acked_text.unwrap_or_else(|| self.editor_text.clone());
        let mine = delta_to_hunks(&editor_text, delta)?;
        let mut len = editor_text.chars().count();
        let mut moved = steps(&mine, len);
        let mut rest = Vec::new();
        for theirs in self.pending.iter().skip(skip) {
            let (mine2, theirs2) = transform(&moved, &steps(theirs, len), true)?;
            len = changed_len(len, theirs);
            moved = mine2;
            rest.push(hunks(&theirs2));
        }
        let to_doc = hunks(&moved);
        // Commit.
        self.acked = revision;
        self.editor_text = text_merge::apply(&editor_text, &mine);
        self.shadow = text_merge::apply(&self.shadow, &to_doc);
        self.editor_revision += 1;
        let mut resend = Vec::with_capacity(rest.len());
        let mut text = self.editor_text.clone();
        self.pending.clear();
        for theirs in rest {
            let theirs = align(&text, theirs);
            resend.push(Outgoing {
                revision: self.editor_revision,
                delta: hunks_to_delta(&text, &theirs),
            });
            text = text_merge::apply(&text, &theirs);
            self.pending.push_back(theirs);
        }
        Ok((to_doc, resend))
    }
}

#[cfg(test)]
mod tests;
