//! The sequence: every char ever inserted, tombstones included, in document
//! order, stored as pieces in a B-tree.
//!
//! - Leaves hold up to `LEAF_CAP` pieces and are linked left to right; inner
//!   nodes hold up to `NODE_CAP` children. Every node knows how many chars it
//!   holds (`raw`, tombstones included) and how many are visible (`vis`), so
//!   a visible position is found from the root in O(log n).
//! - `index` maps ids to leaves: a key is the first id of a range of one
//!   replica's ids, all in the leaf it names, up to the next key. It changes
//!   only when a new run arrives or pieces move to a new leaf, so finding the
//!   piece of an id is O(log n) plus a scan of one leaf.
//! - The position of a piece is found by walking up from its leaf, adding the
//!   sizes of the siblings before it: O(log n).
//!
//! A piece holds only ids, a length and a deleted flag: the origins of its
//! chars live once, in the op log, which `integrate` consults for the few
//! pieces it has to compare. That keeps a piece at 24 bytes.
//!
//! Leaf 0 is always the leftmost leaf: a split moves the right half of a
//! node into a new node. Runs are never removed, only joined with a
//! neighbour, so no node ever becomes empty (except leaf 0 of an empty
//! document) and there is no underflow to handle.
//!
//! Within one operation a leaf may grow past `LEAF_CAP`, so cursors stay
//! valid; `rebalance` splits what grew at the end of each operation.

use super::id::{Id, IdSpan, ReplicaId, TargetSpan};
use super::id_index::IdIndex;
use super::oplog::OpLog;
use super::version::VersionVector;

/// Why `integrate` refused a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// An origin is not a char (unknown, or the id of a delete).
    NotAChar,
    /// The run needs history collected here (this char's place or origins).
    Collected(Id),
}

/// Each piece's id and place in `pieces`, sorted by id.
pub(crate) fn ids_in_order(pieces: &[Piece]) -> Vec<(Id, u32)> {
    let mut by_id: Vec<(Id, u32)> = (0..pieces.len() as u32)
        .map(|i| (pieces[i as usize].id, i))
        .collect();
    by_id.sort_unstable();
    by_id
}

const LEAF_CAP: usize = 32;
const NODE_CAP: usize = 16;
const NONE: u32 = u32::MAX;

/// Consecutive ids of one replica, adjacent in the document, typed one
/// after another (so char `k` has char `k - 1` as its left origin, and all
/// share a right origin), all visible or all deleted. A piece of collected
/// history (ids below the doc's collected frontier, see `collect`) has no
/// origins any more and is never joined to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub id: Id,
    pub len: u32,
    pub deleted: bool,
    /// A causally stable tombstone kept only as a position marker (see
    /// `collect`); always `deleted`.
    pub stable: bool,
}

impl Piece {
    fn visible(&self) -> u64 {
        if self.deleted {
            0
        } else {
            self.len as u64
        }
    }

    pub fn end(&self) -> u64 {
        self.id.counter + self.len as u64
    }

    fn contains(&self, id: Id) -> bool {
        // One unsigned compare for the counter range (wraps below the start).
        id.replica == self.id.replica && id.counter.wrapping_sub(self.id.counter) < self.len as u64
    }

    fn last(&self) -> Id {
        self.id.add(self.len as u64 - 1)
    }

    /// Keeps chars `0..at` and returns the rest.
    fn split(&mut self, at: u32) -> Piece {
        let rest = Piece {
            id: self.id.add(at as u64),
            len: self.len - at,
            deleted: self.deleted,
            stable: self.stable,
        };
        self.len = at;
        rest
    }
}

#[derive(Clone, Debug)]
struct Leaf {
    pieces: Vec<Piece>,
    parent: u32,
    next: u32,
    raw: u64,
    vis: u64,
}

#[derive(Clone, Debug)]
struct Inner {
    children: Vec<u32>,
    parent: u32,
    raw: u64,
    vis: u64,
}

/// A piece in a leaf. As an insertion point, `index` may equal the leaf's
/// length (insert after its last piece).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    leaf: u32,
    index: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Sequence {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    root: u32,
    /// 0 when the root is a leaf.
    height: u32,
    index: IdIndex,
    /// Leaves that may have grown past `LEAF_CAP` during this operation.
    grown: Vec<u32>,
    /// The id right after the last inserted piece, and that piece's right
    /// origin: saves an op-log lookup when typing continues it.
    recent: Option<(Id, Option<Id>)>,
    /// The leaf last found by visible position and the visible position of
    /// its start: edits come in bursts at one place, so the next lookup
    /// usually lands in the same leaf and skips the descent. Any change of
    /// size in another leaf (which could shift this one) clears it.
    hint: Option<(u32, u64)>,
    /// The leaf and piece index where `locate` last found an id, or of the
    /// piece an insert just made: ops name chars near the ones the
    /// previous op named, so most lookups look at a few pieces instead of
    /// searching `index`.
    id_hint: (u32, usize),
    /// Reused by `split_leaf` for the id stretches that moved (saves an
    /// allocation per split).
    spans: Vec<(Id, u64)>,
    /// While a history loads (`begin_load` .. `end_load`): the leaf of
    /// every id, in place of `index`.
    load: Option<LoadIndex>,
}

/// The leaf of every id of every replica, one slot per counter, for a
/// history being loaded: an insert or a leaf split writes the slots of the
/// chars it placed or moved (a fill of plain `u32`s), where `index` needs
/// a search, and often a key inserted, per piece that moves. A lookup is
/// one read. At the end of the load `index` is built from it in one pass
/// (`Sequence::end_load`). It holds 4 bytes per id, so it is used only
/// while loading, and only for histories whose ids are few for their text
/// (see `doc::history`).
#[derive(Clone, Debug)]
struct LoadIndex {
    /// The replicas, sorted.
    replicas: Vec<ReplicaId>,
    /// Per replica (as `replicas`), per counter: its leaf plus one, 0 for
    /// an id that is not (yet) a char (so the slots start zeroed, as the
    /// allocator hands them out).
    leaves: Vec<Vec<u32>>,
}

impl LoadIndex {
    fn leaf_of(&self, id: Id) -> Option<u32> {
        let r = self.replicas.binary_search(&id.replica).ok()?;
        let slot = *self.leaves[r].get(usize::try_from(id.counter).ok()?)?;
        slot.checked_sub(1)
    }

    /// Puts the chars `id .. id + len` in `leaf`. The ids were counted by
    /// `begin_load`; one out of range stays unknown (so an op naming it is
    /// refused), it never panics.
    fn set(&mut self, id: Id, len: u64, leaf: u32) {
        let Ok(r) = self.replicas.binary_search(&id.replica) else {
            return;
        };
        let (Ok(from), Ok(len)) = (usize::try_from(id.counter), usize::try_from(len)) else {
            return;
        };
        if let Some(slots) = from
            .checked_add(len)
            .and_then(|to| self.leaves[r].get_mut(from..to))
        {
            slots.fill(leaf + 1);
        }
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence {
            leaves: vec![Leaf {
                pieces: Vec::with_capacity(LEAF_CAP + 3),
                parent: NONE,
                next: NONE,
                raw: 0,
                vis: 0,
            }],
            inners: Vec::new(),
            root: 0,
            height: 0,
            index: IdIndex::default(),
            grown: Vec::new(),
            recent: None,
            hint: None,
            id_hint: (0, 0),
            spans: Vec::new(),
            load: None,
        }
    }
}

impl Sequence {
    pub fn visible_len(&self) -> usize {
        self.totals(self.root, self.height).1 as usize
    }

    pub fn raw_len(&self) -> u64 {
        self.totals(self.root, self.height).0
    }

    /// Number of pieces stored (for statistics).
    pub fn piece_count(&self) -> usize {
        self.leaves.iter().map(|l| l.pieces.len()).sum()
    }

    /// (raw, visible) chars under a node at `level` (0 = leaf).
    fn totals(&self, node: u32, level: u32) -> (u64, u64) {
        if level == 0 {
            let l = &self.leaves[node as usize];
            (l.raw, l.vis)
        } else {
            let n = &self.inners[node as usize];
            (n.raw, n.vis)
        }
    }

    fn piece(&self, c: Cursor) -> &Piece {
        &self.leaves[c.leaf as usize].pieces[c.index]
    }

    /// Adds to the sizes of a leaf and all its ancestors.
    fn add_totals(&mut self, leaf: u32, raw: i64, vis: i64) {
        if self.hint.is_some_and(|(h, _)| h != leaf) {
            self.hint = None;
        }
        let l = &mut self.leaves[leaf as usize];
        l.raw = l.raw.wrapping_add_signed(raw);
        l.vis = l.vis.wrapping_add_signed(vis);
        let mut parent = l.parent;
        while parent != NONE {
            let n = &mut self.inners[parent as usize];
            n.raw = n.raw.wrapping_add_signed(raw);
            n.vis = n.vis.wrapping_add_signed(vis);
            parent = n.parent;
        }
    }

    /// The piece holding visible char `pos` (< visible_len) and the char's
    /// offset in it.
    fn find_visible(&mut self, pos: u64) -> (Cursor, u64) {
        let (leaf, start) = match self.hint {
            Some((leaf, start)) if start <= pos && pos < start + self.leaves[leaf as usize].vis => {
                (leaf, start)
            }
            _ => self.descend(pos),
        };
        self.hint = Some((leaf, start));
        let mut pos = pos - start;
        let pieces = &self.leaves[leaf as usize].pieces;
        for (index, p) in pieces.iter().enumerate() {
            if !p.deleted {
                if pos < p.len as u64 {
                    return (Cursor { leaf, index }, pos);
                }
                pos -= p.len as u64;
            }
        }
        panic!("visible position past the end of the sequence")
    }

    /// The leaf holding visible char `pos`, and the visible position of its start.
    fn descend(&self, pos: u64) -> (u32, u64) {
        let (mut node, mut rest) = (self.root, pos);
        for level in (1..=self.height).rev() {
            let children = &self.inners[node as usize].children;
            node = *children.last().expect("inner nodes are never empty");
            for &c in children {
                let v = self.totals(c, level - 1).1;
                if rest < v {
                    node = c;
                    break;
                }
                rest -= v;
            }
        }
        (node, pos - rest)
    }

    /// The piece holding `id` and the id's offset in it, if `id` is an
    /// inserted char (not the id of a delete, not unknown).
    fn try_find_id(&self, id: Id) -> Option<(Cursor, u64)> {
        let leaf = match &self.load {
            Some(load) => load.leaf_of(id)?,
            None => self.index.leaf_of(id)?,
        };
        let pieces = &self.leaves[leaf as usize].pieces;
        let index = pieces.iter().position(|r| r.contains(id))?;
        Some((
            Cursor { leaf, index },
            id.counter - pieces[index].id.counter,
        ))
    }

    /// [`Sequence::try_find_id`], trying first the pieces around the last
    /// one found. (Scanning the whole leaves of the last lookups before
    /// the index, as this did before, cost more than the index's two
    /// binary searches.)
    fn locate(&mut self, id: Id) -> Option<(Cursor, u64)> {
        let (leaf, near) = self.id_hint;
        if let Some(l) = self.leaves.get(leaf as usize) {
            let from = near.saturating_sub(2).min(l.pieces.len());
            let to = (near + 3).min(l.pieces.len());
            if let Some(k) = l.pieces[from..to].iter().position(|p| p.contains(id)) {
                self.id_hint.1 = from + k;
                let offset = id.counter - l.pieces[from + k].id.counter;
                return Some((
                    Cursor {
                        leaf,
                        index: from + k,
                    },
                    offset,
                ));
            }
        }
        let hit = self.try_find_id(id);
        if let Some((c, _)) = hit {
            self.id_hint = (c.leaf, c.index);
        }
        hit
    }

    /// (raw, visible) chars before the piece at `c`.
    fn position(&self, c: Cursor) -> (u64, u64) {
        let leaf = &self.leaves[c.leaf as usize];
        let (mut raw, mut vis) = leaf.pieces[..c.index]
            .iter()
            .fold((0u64, 0u64), |(r, v), p| {
                (r + p.len as u64, v + p.visible())
            });
        let (mut child, mut parent, mut level) = (c.leaf, leaf.parent, 0);
        while parent != NONE {
            let n = &self.inners[parent as usize];
            for &s in n.children.iter().take_while(|&&s| s != child) {
                let (r, v) = self.totals(s, level);
                raw += r;
                vis += v;
            }
            (child, parent, level) = (parent, n.parent, level + 1);
        }
        (raw, vis)
    }

    /// Visible chars before the piece at `c` (as `position`), through
    /// `hint` when it names `c`'s leaf: a remote edit usually lands in the
    /// leaf of the one before, so the walk up the tree (summing the sizes
    /// of up to `NODE_CAP` siblings per level) is mostly saved. Leaves the
    /// hint at `c`'s leaf.
    fn visible_before(&mut self, c: Cursor) -> u64 {
        let start = match self.hint {
            Some((leaf, start)) if leaf == c.leaf => start,
            _ => {
                self.position(Cursor {
                    leaf: c.leaf,
                    index: 0,
                })
                .1
            }
        };
        self.hint = Some((c.leaf, start));
        let pieces = &self.leaves[c.leaf as usize].pieces[..c.index];
        start + pieces.iter().map(Piece::visible).sum::<u64>()
    }

    /// The id of visible char `pos` (< visible_len).
    pub fn id_at_visible(&self, pos: u64) -> Id {
        let (leaf, start) = self.descend(pos);
        let mut rest = pos - start;
        for p in &self.leaves[leaf as usize].pieces {
            if !p.deleted {
                if rest < p.len as u64 {
                    return p.id.add(rest);
                }
                rest -= p.len as u64;
            }
        }
        panic!("visible position past the end of the sequence")
    }

    /// Appends the ids of visible chars `pos .. pos + len` (all below
    /// `visible_len`) to `out`, in document order, as spans of consecutive
    /// ids (a span is extended when the next char continues it).
    pub fn visible_ids(&self, pos: u64, len: u64, out: &mut Vec<IdSpan>) {
        if len == 0 {
            return;
        }
        let (mut leaf, start) = self.descend(pos);
        let mut skip = pos - start;
        let mut remaining = len;
        while remaining > 0 && leaf != NONE {
            let l = &self.leaves[leaf as usize];
            for p in l.pieces.iter().filter(|p| !p.deleted) {
                let n = p.len as u64;
                if skip >= n {
                    skip -= n;
                    continue;
                }
                let take = (n - skip).min(remaining);
                let span = IdSpan::new(p.id.add(skip), take);
                match out.last_mut() {
                    Some(last)
                        if last.start.replica == span.start.replica
                            && last.end_counter() == span.start.counter =>
                    {
                        last.len += take
                    }
                    _ => out.push(span),
                }
                skip = 0;
                remaining -= take;
                if remaining == 0 {
                    break;
                }
            }
            leaf = l.next;
        }
    }

    /// Number of visible chars before char `id`, and whether `id` itself is
    /// visible; `None` if `id` is not a char here.
    pub fn visible_pos(&self, id: Id) -> Option<(u64, bool)> {
        let (c, k) = self.try_find_id(id)?;
        let p = self.piece(c);
        let before = self.position(c).1 + if p.deleted { 0 } else { k };
        Some((before, !p.deleted))
    }

    /// The counter after the last char of the piece holding `id`, if any.
    pub fn piece_end(&self, id: Id) -> Option<u64> {
        self.try_find_id(id).map(|(c, _)| self.piece(c).end())
    }

    /// Char-level position (tombstones counted) of a present id.
    fn raw_pos(&self, id: Id) -> u64 {
        self.try_raw_pos(id).expect("id present in the sequence")
    }

    fn try_raw_pos(&self, id: Id) -> Option<u64> {
        let (c, k) = self.try_find_id(id)?;
        Some(self.position(c).0 + k)
    }

    /// The piece after `c`, or `None` at the end.
    fn next(&self, c: Cursor) -> Option<Cursor> {
        self.normalize(Cursor {
            leaf: c.leaf,
            index: c.index + 1,
        })
    }

    /// `c` itself if it names a piece, else the first piece after it.
    fn normalize(&self, mut c: Cursor) -> Option<Cursor> {
        while c.index >= self.leaves[c.leaf as usize].pieces.len() {
            let next = self.leaves[c.leaf as usize].next;
            if next == NONE {
                return None;
            }
            c = Cursor {
                leaf: next,
                index: 0,
            };
        }
        Some(c)
    }

    /// Makes `at` a piece boundary inside the piece at `c` (no-op at 0 or
    /// len). Returns whether it cut the piece.
    fn split_at(&mut self, c: Cursor, at: u64) -> bool {
        let pieces = &mut self.leaves[c.leaf as usize].pieces;
        if at > 0 && at < pieces[c.index].len as u64 {
            let rest = pieces[c.index].split(at as u32);
            grow_gently(pieces);
            pieces.insert(c.index + 1, rest);
            self.grown.push(c.leaf);
            return true;
        }
        false
    }

    /// Puts a new visible piece with the given origins at insertion point
    /// `at`, joining it to the piece before when it continues that piece.
    fn insert_at(
        &mut self,
        at: Cursor,
        id: Id,
        len: u64,
        origins: (Option<Id>, Option<Id>),
        log: &OpLog,
    ) {
        let joins = at.index > 0 && {
            let prev = self.leaves[at.leaf as usize].pieces[at.index - 1];
            !prev.deleted
                && prev.id.replica == id.replica
                && prev.end() == id.counter
                && origins.0 == Some(prev.last())
                && self.right_origin(&prev, log) == Some(origins.1)
        };
        let pieces = &mut self.leaves[at.leaf as usize].pieces;
        if joins {
            pieces[at.index - 1].len += len as u32;
        } else {
            let piece = Piece {
                id,
                len: len as u32,
                deleted: false,
                stable: false,
            };
            grow_gently(pieces);
            pieces.insert(at.index, piece);
            // (While loading, `integrate_with` writes the slots instead.)
            if self.load.is_none() {
                self.index.insert(id, at.leaf);
            }
            self.grown.push(at.leaf);
        }
        // The next op most likely names the chars just typed (typing goes
        // on, or deletes them): `locate` looks here first. Only a hint:
        // a split below may move the piece, and `locate` checks.
        self.id_hint = (at.leaf, at.index.saturating_sub(joins as usize));
        self.recent = Some((id.add(len), origins.1));
        self.add_totals(at.leaf, len as i64, len as i64);
    }

    /// The right origin shared by the chars of `p`; `None` when `p` is
    /// collected history (its origins are gone).
    fn right_origin(&self, p: &Piece, log: &OpLog) -> Option<Option<Id>> {
        match self.recent {
            Some((next, right)) if next == p.id.add(p.len as u64) => Some(right),
            _ => log.origins(p.id).map(|o| o.1),
        }
    }

    /// Whether deleted piece `next` continues deleted piece `prev` (see `Piece`).
    fn continues(&self, prev: &Piece, next: &Piece, log: &OpLog) -> bool {
        prev.deleted == next.deleted
            && prev.id.replica == next.id.replica
            && prev.end() == next.id.counter
            && log.continues(prev.last(), next.id)
    }

    /// Marks the (visible) piece at `c` deleted and joins it to the deleted
    /// pieces around it that it continues or that continue it (Backspace
    /// deletes right to left, so both sides matter). Returns the cursor of
    /// the piece after it.
    fn mark_deleted(&mut self, c: Cursor, log: &OpLog) -> Cursor {
        let pieces = &mut self.leaves[c.leaf as usize].pieces;
        pieces[c.index].deleted = true;
        let len = pieces[c.index].len;
        let mut at = c.index;
        let pieces = &self.leaves[c.leaf as usize].pieces;
        if at + 1 < pieces.len() && self.continues(&pieces[at], &pieces[at + 1], log) {
            let next = self.leaves[c.leaf as usize].pieces.remove(at + 1);
            self.leaves[c.leaf as usize].pieces[at].len += next.len;
        }
        let pieces = &self.leaves[c.leaf as usize].pieces;
        if at > 0 && self.continues(&pieces[at - 1], &pieces[at], log) {
            let this = self.leaves[c.leaf as usize].pieces.remove(at);
            self.leaves[c.leaf as usize].pieces[at - 1].len += this.len;
            at -= 1;
        }
        self.add_totals(c.leaf, 0, -(len as i64));
        Cursor {
            leaf: c.leaf,
            index: at + 1,
        }
    }

    /// Inserts a local run of `len` chars so that it starts at visible
    /// position `pos`, right after the visible char before it. Returns its
    /// origins.
    pub fn insert_local(
        &mut self,
        pos: usize,
        id: Id,
        len: u64,
        log: &OpLog,
    ) -> (Option<Id>, Option<Id>) {
        debug_assert!(self.load.is_none(), "a load places only remote runs");
        let (at, left) = if pos == 0 {
            (Cursor { leaf: 0, index: 0 }, None)
        } else {
            let (c, k) = self.find_visible(pos as u64 - 1);
            self.split_at(c, k + 1);
            let at = Cursor {
                leaf: c.leaf,
                index: c.index + 1,
            };
            (at, Some(self.piece(c).id.add(k)))
        };
        let right = self.normalize(at).map(|c| self.piece(c).id);
        self.insert_at(at, id, len, (left, right), log);
        self.rebalance();
        (left, right)
    }

    /// Marks visible chars `pos .. pos + len` deleted, appending their ids
    /// (in document order) to `out`.
    pub fn delete_local(&mut self, pos: usize, len: usize, out: &mut Vec<TargetSpan>, log: &OpLog) {
        let (c, k) = self.find_visible(pos as u64);
        self.split_at(c, k);
        let mut c = Some(Cursor {
            leaf: c.leaf,
            index: c.index + (k > 0) as usize,
        });
        let mut remaining = len as u64;
        while remaining > 0 {
            let Some(at) = c.and_then(|c| self.normalize(c)) else {
                break;
            };
            let run = *self.piece(at);
            if run.deleted {
                c = Some(Cursor {
                    leaf: at.leaf,
                    index: at.index + 1,
                });
                continue;
            }
            self.split_at(at, remaining);
            let n = (run.len as u64).min(remaining);
            TargetSpan::push(out, TargetSpan::forward(IdSpan::new(run.id, n)));
            remaining -= n;
            c = Some(self.mark_deleted(at, log));
        }
        self.rebalance();
    }

    /// Places a remote run between its origins by the FugueMax rule (see
    /// the module doc of `doc`) and returns the visible position of its
    /// first char. Both origins must be known. Refused, before anything
    /// visible changes: an origin that is not a char (the id of a delete,
    /// `NotAChar`), and an op that needs collected history (an origin that
    /// was removed, or collected pieces to compare with: impossible for an
    /// op made by a member that knew of the collection, see `collect`).
    pub fn integrate(
        &mut self,
        id: Id,
        len: u64,
        left: Option<Id>,
        right: Option<Id>,
        log: &OpLog,
        collected: &VersionVector,
    ) -> Result<usize, Refused> {
        self.integrate_with(id, len, (left, right), log, collected, true)
    }

    /// [`Sequence::integrate`] for a caller that needs no visible position
    /// (a history being loaded): saves a walk up the tree per run.
    pub fn integrate_silently(
        &mut self,
        id: Id,
        len: u64,
        left: Option<Id>,
        right: Option<Id>,
        log: &OpLog,
        collected: &VersionVector,
    ) -> Result<(), Refused> {
        self.integrate_with(id, len, (left, right), log, collected, false)
            .map(drop)
    }

    /// `integrate`; the visible position is 0 unless `want_pos`.
    fn integrate_with(
        &mut self,
        id: Id,
        len: u64,
        (left, right): (Option<Id>, Option<Id>),
        log: &OpLog,
        collected: &VersionVector,
        want_pos: bool,
    ) -> Result<usize, Refused> {
        let refuse = |origin: Id| {
            if collected.contains(origin) && log.origins(origin).is_none() {
                Refused::Collected(origin)
            } else {
                Refused::NotAChar
            }
        };
        let found_left = match left {
            Some(l) => Some(self.locate(l).ok_or_else(|| refuse(l))?),
            None => None,
        };
        let mut found_right = match right {
            Some(r) => Some(self.locate(r).ok_or_else(|| refuse(r))?),
            None => None,
        };
        // Make the origins piece boundaries, so the scan moves piece by
        // piece. Splitting the right origin's piece only inserts after it,
        // which is after the left origin's piece: `left_cursor` stays valid.
        let left_cursor = found_left.map(|(c, k)| {
            if self.split_at(c, k + 1) {
                // The right origin's piece moved one place on, or was cut.
                if let Some((rc, rk)) = found_right.as_mut().filter(|(rc, _)| rc.leaf == c.leaf) {
                    if rc.index == c.index {
                        // A right origin at or before the left one (only a
                        // forged op has that) stays in the first part.
                        if *rk > k {
                            *rk -= k + 1;
                            rc.index += 1;
                        }
                    } else if rc.index > c.index {
                        rc.index += 1;
                    }
                }
            }
            c
        });
        let end = found_right.map(|(c, k)| {
            debug_assert!(self.piece(c).contains(right.expect("found")));
            self.split_at(c, k);
            Cursor {
                leaf: c.leaf,
                index: c.index + (k > 0) as usize,
            }
        });
        // Positions of our origins, needed only when there is something to
        // scan past (a concurrent insert here): most ops have none.
        let mut mine: Option<(i64, i64)> = None;

        // Scan the pieces between the origins. `dest` is the run after which
        // the new one goes (None: at the very start).
        let mut prev = left_cursor;
        let mut cur = match left_cursor {
            Some(c) => self.next(c),
            None => self.normalize(Cursor { leaf: 0, index: 0 }),
        };
        let mut dest = prev;
        let mut scanning = false;
        loop {
            if !scanning {
                dest = prev;
            }
            let Some(c) = cur else { break };
            if Some(c) == end {
                break;
            }
            let (my_left, my_right) = *mine.get_or_insert_with(|| {
                let l = left.map_or(-1, |l| self.raw_pos(l) as i64);
                let r = right.map_or(self.raw_len(), |r| self.raw_pos(r)) as i64;
                (l, r)
            });
            let other = *self.piece(c);
            // Splits above only cut pieces in two: nothing visible changed
            // yet if this refuses.
            let (o_left, o_right) = log.origins(other.id).ok_or(Refused::Collected(other.id))?;
            let pos_of = |o: Id| self.try_raw_pos(o).ok_or(Refused::Collected(o));
            let other_left = match o_left {
                Some(l) => pos_of(l)? as i64,
                None => -1,
            };
            if other_left < my_left {
                break;
            }
            if other_left == my_left {
                let other_right = match o_right {
                    Some(r) => pos_of(r)?,
                    None => self.raw_len(),
                } as i64;
                if other_right < my_right {
                    scanning = true;
                } else if other_right == my_right && id.replica < other.id.replica {
                    break;
                } else {
                    scanning = false;
                }
            }
            prev = Some(c);
            cur = self.next(c);
        }
        let at = match dest {
            Some(d) => Cursor {
                leaf: d.leaf,
                index: d.index + 1,
            },
            None => Cursor { leaf: 0, index: 0 },
        };
        let pos = if want_pos {
            self.visible_before(at) as usize
        } else {
            0
        };
        self.insert_at(at, id, len, (left, right), log);
        if let Some(load) = &mut self.load {
            // Before `rebalance`: a split moves the slots on with the piece.
            load.set(id, len, at.leaf);
        }
        self.rebalance();
        Ok(pos)
    }

    /// Marks the chars of `span` deleted (all must be present). Calls
    /// `removed(pos, len)` for each visible stretch that disappears, at its
    /// visible position at that moment, in order.
    pub fn delete_span(&mut self, span: IdSpan, log: &OpLog, removed: impl FnMut(usize, usize)) {
        let done = self.delete_span_with(span, log, Some(removed));
        assert!(done, "id present in the sequence");
    }

    /// [`Sequence::delete_span`] for a caller that needs no positions and
    /// has not checked the span: false when some id of it is not a char
    /// here (the chars before it are marked deleted by then: the caller
    /// drops the sequence, as a history being loaded does).
    pub fn delete_span_silently(&mut self, span: IdSpan, log: &OpLog) -> bool {
        self.delete_span_with(span, log, None::<fn(usize, usize)>)
    }

    fn delete_span_with(
        &mut self,
        span: IdSpan,
        log: &OpLog,
        mut removed: Option<impl FnMut(usize, usize)>,
    ) -> bool {
        let mut id = span.start;
        let end = span.end_counter();
        while id.counter < end {
            let Some((c, k)) = self.locate(id) else {
                self.rebalance();
                return false;
            };
            self.split_at(c, k);
            let c = Cursor {
                leaf: c.leaf,
                index: c.index + (k > 0) as usize,
            };
            self.split_at(c, end - id.counter);
            let run = *self.piece(c);
            if !run.deleted {
                let pos = removed.as_ref().map(|_| self.visible_before(c) as usize);
                self.mark_deleted(c, log);
                if let (Some(removed), Some(pos)) = (removed.as_mut(), pos) {
                    removed(pos, run.len as usize);
                }
            }
            id = id.add(run.len as u64);
        }
        self.rebalance();
        true
    }

    /// Splits every leaf that grew past `LEAF_CAP` during this operation.
    fn rebalance(&mut self) {
        while let Some(leaf) = self.grown.pop() {
            while self.leaves[leaf as usize].pieces.len() > LEAF_CAP {
                self.split_leaf(leaf);
            }
        }
    }

    /// Moves the right half of a leaf into a new leaf after it.
    fn split_leaf(&mut self, leaf: u32) {
        let new = self.leaves.len() as u32;
        let l = &mut self.leaves[leaf as usize];
        let keep = l.pieces.len() / 2;
        // The half with the piece last inserted or found (editing goes on
        // there) keeps room to grow; the other holds only what it has,
        // since most leaves, once split, are seldom edited again
        // (`LEAF_CAP + 3` is the most a leaf holds within an operation).
        let (hint_leaf, hint_index) = self.id_hint;
        let hot = |right: bool| hint_leaf == leaf && (hint_index >= keep) == right;
        let room = |n: usize, hot: bool| if hot { LEAF_CAP + 3 } else { n };
        let mut moved = Vec::with_capacity(room(l.pieces.len() - keep, hot(true)));
        moved.extend(l.pieces.drain(keep..));
        if hot(false) {
            l.pieces
                .reserve_exact((LEAF_CAP + 3).saturating_sub(l.pieces.len()));
        } else {
            l.pieces.shrink_to_fit();
        }
        if hot(true) {
            self.id_hint = (new, hint_index - keep);
        }
        let l = &mut self.leaves[leaf as usize];
        let raw: u64 = moved.iter().map(|p| p.len as u64).sum();
        let vis: u64 = moved.iter().map(|p| p.visible()).sum();
        l.raw -= raw;
        l.vis -= vis;
        let (parent, next) = (l.parent, l.next);
        l.next = new;
        self.leaves.push(Leaf {
            pieces: Vec::new(),
            parent,
            next,
            raw,
            vis,
        });
        if let Some(load) = &mut self.load {
            for p in &moved {
                load.set(p.id, p.len as u64, new);
            }
            self.leaves[new as usize].pieces = moved;
            self.insert_sibling(0, leaf, new);
            return;
        }
        // One index update per stretch of consecutive ids that moved (a run
        // cut by deletes moves as several pieces, one stretch).
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(moved.iter().map(|p| (p.id, p.end())));
        spans.sort_unstable();
        let mut start = 0;
        for i in 1..=spans.len() {
            let (id, end) = spans[start];
            match spans.get(i) {
                Some(&(next, next_end)) if next.replica == id.replica && next.counter == end => {
                    spans[start].1 = next_end;
                }
                _ => {
                    self.index_move(id, end, new);
                    start = i;
                }
            }
        }
        self.spans = spans;
        self.leaves[new as usize].pieces = moved;
        self.insert_sibling(0, leaf, new);
    }

    /// Points the index at `to` for the ids `start .. end` (counters) of
    /// one replica, all of which moved there. Ids right after them that are
    /// present stay where they were; keys inside (left by pieces since
    /// joined, or by pieces that moved with them) go. No key is ever made
    /// for an id that is not present, so a piece that later grows needs no
    /// key.
    fn index_move(&mut self, start: Id, end: u64, to: u32) {
        let leaves = &self.leaves;
        let end_id = Id::new(start.replica, end);
        self.index.move_range(start, end, to, |leaf| {
            leaves[leaf as usize]
                .pieces
                .iter()
                // A present `end` starts a piece: the piece of `end - 1`
                // ends right before it.
                .any(|q| q.id == end_id)
        });
    }

    /// Starts loading a history into this sequence, which must be empty:
    /// until `end_load`, ids are found through a slot per id (`LoadIndex`)
    /// instead of `index`. `counts`: each replica's number of ids (its
    /// version at the end of the history), sorted by replica, no replica
    /// twice.
    pub fn begin_load(&mut self, counts: impl Iterator<Item = (ReplicaId, u64)>) {
        debug_assert_eq!(self.raw_len(), 0, "a load starts from nothing");
        let mut load = LoadIndex {
            replicas: Vec::new(),
            leaves: Vec::new(),
        };
        for (replica, n) in counts {
            debug_assert!(load.replicas.last() < Some(&replica));
            load.replicas.push(replica);
            load.leaves.push(vec![0; n as usize]);
        }
        self.load = Some(load);
    }

    /// Ends a load begun by `begin_load`: builds `index` in one pass over
    /// the pieces and one over a bit per id (sorting the pieces by id cost
    /// more, and so did a pass over every slot). A key starts each stretch
    /// of chars of one replica in one leaf: a piece needs one unless the
    /// char before it is in the same leaf, so the first char after ids
    /// that are not chars always has one (as `index` keeps it: see
    /// `IdIndex::move_range`).
    pub fn end_load(&mut self) {
        let Some(load) = self.load.take() else {
            return;
        };
        let mut starts: Vec<Vec<u64>> = (load.leaves.iter())
            .map(|slots| vec![0; slots.len().div_ceil(64)])
            .collect();
        let mut leaf = 0u32;
        while leaf != NONE {
            let l = &self.leaves[leaf as usize];
            for p in &l.pieces {
                let Ok(r) = load.replicas.binary_search(&p.id.replica) else {
                    continue;
                };
                let Ok(c) = usize::try_from(p.id.counter) else {
                    continue;
                };
                let before = c.checked_sub(1).and_then(|b| load.leaves[r].get(b));
                if c < load.leaves[r].len() && before != Some(&(leaf + 1)) {
                    starts[r][c / 64] |= 1 << (c % 64);
                }
            }
            leaf = l.next;
        }
        let mut keys: Vec<(Id, u32)> = Vec::new();
        for (r, words) in starts.iter().enumerate() {
            for (w, &word) in words.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let c = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let leaf = load.leaves[r][c].wrapping_sub(1);
                    keys.push((Id::new(load.replicas[r], c as u64), leaf));
                }
            }
        }
        self.index = IdIndex::from_sorted(keys.into_iter());
    }

    /// Puts `sibling` right after `child` (both at `level`) in their parent,
    /// growing a new root or splitting the parent as needed.
    fn insert_sibling(&mut self, level: u32, child: u32, sibling: u32) {
        let parent = self.parent_of(child, level);
        if parent == NONE {
            let (r1, v1) = self.totals(child, level);
            let (r2, v2) = self.totals(sibling, level);
            let root = self.inners.len() as u32;
            self.inners.push(Inner {
                children: vec![child, sibling],
                parent: NONE,
                raw: r1 + r2,
                vis: v1 + v2,
            });
            self.set_parent(child, level, root);
            self.set_parent(sibling, level, root);
            self.root = root;
            self.height += 1;
            return;
        }
        let children = &mut self.inners[parent as usize].children;
        let slot = children
            .iter()
            .position(|&c| c == child)
            .expect("child in its parent");
        children.insert(slot + 1, sibling);
        self.set_parent(sibling, level, parent);
        if self.inners[parent as usize].children.len() > NODE_CAP {
            self.split_inner(parent, level + 1);
        }
    }

    fn split_inner(&mut self, node: u32, level: u32) {
        let new = self.inners.len() as u32;
        let n = &mut self.inners[node as usize];
        let keep = n.children.len() / 2;
        let moved = n.children.split_off(keep);
        let parent = n.parent;
        let (mut raw, mut vis) = (0, 0);
        for &c in &moved {
            let (r, v) = self.totals(c, level - 1);
            raw += r;
            vis += v;
            self.set_parent(c, level - 1, new);
        }
        let n = &mut self.inners[node as usize];
        n.raw -= raw;
        n.vis -= vis;
        self.inners.push(Inner {
            children: moved,
            parent,
            raw,
            vis,
        });
        self.insert_sibling(level, node, new);
    }

    fn parent_of(&self, node: u32, level: u32) -> u32 {
        if level == 0 {
            self.leaves[node as usize].parent
        } else {
            self.inners[node as usize].parent
        }
    }

    fn set_parent(&mut self, node: u32, level: u32, parent: u32) {
        if level == 0 {
            self.leaves[node as usize].parent = parent;
        } else {
            self.inners[node as usize].parent = parent;
        }
    }

    /// Builds a sequence from its pieces in document order, without
    /// integrating anything: O(n log n) for the index, O(n) for the tree.
    /// The caller vouches for the pieces (each a run of one op's chars,
    /// every inserted char once); see `history::decode_snapshot`.
    pub fn from_pieces(pieces: &[Piece]) -> Sequence {
        Sequence::from_pieces_by_id(pieces, &ids_in_order(pieces))
    }

    /// [`Sequence::from_pieces`], given each piece's id and place in
    /// `pieces`, sorted by id (as [`ids_in_order`] makes them).
    pub fn from_pieces_by_id(pieces: &[Piece], by_id: &[(Id, u32)]) -> Sequence {
        let mut seq = Sequence::default();
        if pieces.is_empty() {
            return seq;
        }
        // Leaves and nodes three-quarters full, so edits split them rarely.
        let per_leaf = LEAF_CAP * 3 / 4;
        seq.leaves.clear();
        for chunk in pieces.chunks(per_leaf) {
            let leaf = seq.leaves.len() as u32;
            let mut owned = Vec::with_capacity(LEAF_CAP + 3);
            owned.extend_from_slice(chunk);
            seq.leaves.push(Leaf {
                raw: chunk.iter().map(|p| p.len as u64).sum(),
                vis: chunk.iter().map(Piece::visible).sum(),
                pieces: owned,
                parent: NONE,
                next: leaf + 1,
            });
        }
        let last = seq.leaves.len() - 1;
        seq.leaves[last].next = NONE;
        // Already sorted: the map is built without sorting again.
        seq.index = IdIndex::from_sorted(by_id.iter().map(|&(id, i)| (id, i / per_leaf as u32)));
        let per_node = NODE_CAP * 3 / 4;
        let mut level: Vec<u32> = (0..seq.leaves.len() as u32).collect();
        let mut height = 0;
        while level.len() > 1 {
            let mut parents = Vec::with_capacity(level.len() / per_node + 1);
            for chunk in level.chunks(per_node) {
                let node = seq.inners.len() as u32;
                let (mut raw, mut vis) = (0, 0);
                for &c in chunk {
                    let (r, v) = seq.totals(c, height);
                    raw += r;
                    vis += v;
                    seq.set_parent(c, height, node);
                }
                seq.inners.push(Inner {
                    children: chunk.to_vec(),
                    parent: NONE,
                    raw,
                    vis,
                });
                parents.push(node);
            }
            level = parents;
            height += 1;
        }
        seq.root = level[0];
        seq.height = height;
        seq
    }

    /// The pieces this sequence keeps once history up to `frontier` is
    /// collected, and how many tombstones go. `stable`: the chars deleted
    /// by deletes below the frontier (sorted, merged); `keep`: the
    /// collected chars that surviving ops still name as origins (sorted).
    /// See `Doc::collect` for the rule and why it is sound. Pieces are cut
    /// at the frontier, so no piece mixes collected and live history, and
    /// neighbouring collected pieces of one replica are joined (their
    /// origins are gone, so nothing compares them). O(n log n).
    pub fn collected_pieces(
        &self,
        stable: &[IdSpan],
        keep: &[Id],
        frontier: &VersionVector,
    ) -> (Vec<Piece>, u64) {
        let mut out: Vec<Piece> = Vec::with_capacity(self.piece_count());
        let mut removed = 0u64;
        // The char before (in the full order, removed ones included) is a
        // stable tombstone: a stable char here cannot start a future op's
        // right origin.
        let mut after_stable = false;
        let below = |p: &Piece| p.end() <= frontier.get(p.id.replica);
        let push = |out: &mut Vec<Piece>, p: Piece| {
            if let Some(last) = out.last_mut() {
                if below(last)
                    && below(&p)
                    && last.id.replica == p.id.replica
                    && last.end() == p.id.counter
                    && (last.deleted, last.stable) == (p.deleted, p.stable)
                {
                    last.len += p.len;
                    return;
                }
            }
            out.push(p);
        };
        for &piece in self.pieces() {
            for seg in cut(piece, frontier.get(piece.id.replica), stable) {
                if !seg.stable {
                    push(&mut out, seg);
                    after_stable = false;
                    continue;
                }
                let mut kept = 0u64;
                let mut keep_char = |out: &mut Vec<Piece>, counter: u64| {
                    kept += 1;
                    push(
                        out,
                        Piece {
                            id: Id::new(seg.id.replica, counter),
                            len: 1,
                            deleted: true,
                            stable: true,
                        },
                    );
                };
                let mut next = seg.id.counter;
                if !after_stable {
                    keep_char(&mut out, next);
                    next += 1;
                }
                let from = keep.partition_point(|&k| k < Id::new(seg.id.replica, next));
                for &k in &keep[from..] {
                    if k.replica != seg.id.replica || k.counter >= seg.end() {
                        break;
                    }
                    keep_char(&mut out, k.counter);
                }
                removed += seg.len as u64 - kept;
                after_stable = true;
            }
        }
        (out, removed)
    }

    /// Every piece in document order.
    pub fn pieces(&self) -> impl Iterator<Item = &Piece> + '_ {
        let mut leaf = 0u32;
        std::iter::from_fn(move || {
            if leaf == NONE {
                return None;
            }
            let l = &self.leaves[leaf as usize];
            leaf = l.next;
            Some(l.pieces.iter())
        })
        .flatten()
    }
}

/// Makes room in a leaf for one more piece, a few at a time rather than
/// doubling: most leaves are seldom edited once split, and the room
/// doubling left unused in them was a third of the leaves' memory.
fn grow_gently(pieces: &mut Vec<Piece>) {
    if pieces.len() == pieces.capacity() {
        pieces.reserve_exact(4);
    }
}

/// `piece` cut where it crosses the collected frontier (`below`: the
/// counter it stops at for this replica), with its parts deleted by a
/// stable delete (`stable`, sorted and merged) marked stable.
fn cut(piece: Piece, below: u64, stable: &[IdSpan]) -> Vec<Piece> {
    let mut parts = Vec::with_capacity(1);
    let mut rest = piece;
    if rest.id.counter < below && below < rest.end() {
        let high = rest.split((below - rest.id.counter) as u32);
        parts.push(rest);
        rest = high;
    }
    parts.push(rest);
    if !piece.deleted || piece.stable {
        return parts;
    }
    let mut out = Vec::with_capacity(parts.len());
    for mut part in parts {
        if part.end() > below {
            out.push(part);
            continue;
        }
        // Stable spans of this replica that overlap `part`, in order.
        let first = stable.partition_point(|s| {
            (s.start.replica, s.end_counter()) <= (part.id.replica, part.id.counter)
        });
        for s in &stable[first..] {
            if s.start.replica != part.id.replica || s.start.counter >= part.end() {
                break;
            }
            if s.start.counter > part.id.counter {
                let tail = part.split((s.start.counter - part.id.counter) as u32);
                out.push(part);
                part = tail;
            }
            let covered = (s.end_counter().min(part.end()) - part.id.counter) as u32;
            if covered < part.len {
                let tail = part.split(covered);
                part.stable = true;
                out.push(part);
                part = tail;
            } else {
                part.stable = true;
                break;
            }
        }
        out.push(part);
    }
    out
}

#[cfg(test)]
impl Sequence {
    /// Checks every invariant the module doc states; panics on a broken one.
    pub fn check(&self) {
        assert!(self.load.is_none(), "a load was left unfinished");
        if let Some((leaf, start)) = self.hint {
            let at = self.position(Cursor { leaf, index: 0 }).1;
            assert_eq!(start, at, "hint: visible start of leaf {leaf}");
        }
        let mut leaf = 0u32;
        while leaf != NONE {
            let l = &self.leaves[leaf as usize];
            let raw: u64 = l.pieces.iter().map(|r| r.len as u64).sum();
            let vis: u64 = l.pieces.iter().map(|r| r.visible()).sum();
            assert_eq!((raw, vis), (l.raw, l.vis), "leaf {leaf} totals");
            for run in &l.pieces {
                for id in [run.id, run.last()] {
                    let (c, _) = self.try_find_id(id).expect("indexed");
                    assert_eq!(c.leaf, leaf, "index of {id:?}");
                }
            }
            leaf = l.next;
        }
    }
}
