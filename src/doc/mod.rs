//! The text CRDT: one replica of the shared document.
//!
//! # Model
//!
//! Every char ever inserted has a unique [`Id`] `(replica, counter)`; a
//! replica's inserts and deletes share one counter that only grows, so a
//! [`VersionVector`] (replica -> how many counters seen) names exactly a set
//! of ops. Chars typed one after another by one replica form a run: one op,
//! one entry in memory.
//!
//! A deleted char stays in the sequence as a tombstone, invisible, so that
//! ops which name it as an origin still find their place.
//!
//! # Merge rule (FugueMax)
//!
//! An insert names its neighbours when it was made, by id, never by
//! position: the char to its left (`left`, the left origin) and the char that
//! was then right after that one (`right`, the right origin). A remote run is
//! placed between its origins; when other chars already sit there
//! (concurrent inserts at the same place), it scans them left to right.
//! Writing `L`/`R` for positions of our origins and `oL`/`oR` for those of the
//! char `o` being looked at:
//!
//! - `oL < L`: `o` belongs to an enclosing insert; stop, go before `o`.
//! - `oL == L` and `oR == R`: a true tie between siblings; the lower replica
//!   id goes first (stop before `o` if ours is lower, else pass it).
//! - `oL == L` and `oR > R`: pass `o` (and everything anchored in it).
//! - `oL == L` and `oR < R`: `o` may or may not precede us; keep scanning
//!   without moving the insertion point until that is decided.
//! - `oL > L`: `o` is anchored inside a sibling we are passing; pass it.
//!
//! This is the rule of Weidner and Kleppmann's FugueMax (equivalently the
//! "YjsMod" rule): it converges (the result depends only on the set of ops),
//! and it is maximally non-interleaving: runs typed concurrently at the same
//! place, whether typed forwards or backwards, end up one after the other,
//! never interleaved.
//!
//! # Delivery
//!
//! [`Doc::apply`] is idempotent and commutative. An op whose dependencies
//! (its origins, its delete targets, the previous counter of its replica)
//! are not all here yet is held and applied as soon as they arrive.

mod collect;
mod error;
#[cfg(test)]
mod flat_sequence;
mod history;
mod id;
mod id_index;
mod log_buffers;
mod op;
mod oplog;
mod past;
mod pending;
mod replay;
mod sequence;
mod undo;
mod version;

pub use error::Error;
pub use history::{Inflated, Inflater};
pub use id::{Id, IdSpan, ReplicaId, TargetSpan};
pub use op::{Op, OpKind};
pub use past::{Past, PastError};
pub use undo::{Change, LocalEdits, Outcome, Removal, UndoStack};
pub use version::VersionVector;

use jumprope::{JumpRope, JumpRopeBuf};

use oplog::OpLog;
use pending::Pending;
use sequence::{Refused, Sequence};

const NAMES_A_DELETE: Error = Error::InvalidOp("names the id of a delete as a char");

/// What `Doc::apply` did with an op.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Ops (this one and any it released from the holding area) now part of the document.
    pub ops_applied: usize,
    /// The op waits for ops it depends on; it is applied when they arrive.
    pub held: bool,
    /// The visible changes, in the order they happened, for an editor to follow.
    pub patches: Vec<Patch>,
}

/// A visible change: `deleted` chars removed at `pos`, then `inserted` chars put there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub pos: usize,
    pub deleted: usize,
    pub inserted: usize,
}

/// Sizes of a replica, for `status` and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocStats {
    pub visible_chars: usize,
    /// Deleted chars still held in the sequence.
    pub tombstones: usize,
    /// Pieces in the sequence (runs of chars, visible or deleted).
    pub runs: usize,
    /// Runs in the op log.
    pub log_entries: usize,
    /// Ops held waiting for their dependencies.
    pub pending_ops: usize,
    /// Tombstones removed by cleanup ([`Doc::collect`]) so far.
    pub tombstones_reclaimed: u64,
    /// Counters applied, over all replicas (chars inserted plus chars deleted).
    pub ops: u64,
}

fn op_len(text: &str) -> u64 {
    text.chars().count() as u64
}

/// One replica of the shared text.
#[derive(Clone)]
pub struct Doc {
    replica: ReplicaId,
    version: VersionVector,
    log: OpLog,
    seq: Sequence,
    /// The visible text. Buffered: a burst of typing becomes one rope edit.
    text: JumpRopeBuf,
    pending: Pending,
    /// Reused for the targets of each local delete (saves an allocation).
    scratch: Vec<TargetSpan>,
    /// History cleaned up (see `collect`): ops below it are gone from the
    /// log, and its stable tombstones from the sequence.
    collected: VersionVector,
    /// Tombstones removed by cleanup so far.
    reclaimed: u64,
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doc")
            .field("replica", &self.replica)
            .field("version", &self.version)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Doc {
    pub fn new(replica: ReplicaId) -> Self {
        Doc {
            replica,
            version: VersionVector::new(),
            log: OpLog::default(),
            seq: Sequence::default(),
            text: JumpRopeBuf::with_rope(JumpRope::new_from_seed(0)),
            pending: Pending::default(),
            scratch: Vec::new(),
            collected: VersionVector::new(),
            reclaimed: 0,
        }
    }

    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// Makes this replica's next local changes under `replica`, an id no
    /// op has used yet; the ops made under the old id stay as they are
    /// (one author among others). See `node::Config::id_used_before`.
    pub fn set_replica(&mut self, replica: ReplicaId) {
        debug_assert_eq!(self.version.get(replica), 0, "a fresh id");
        self.replica = replica;
    }

    /// The id of the visible char at `pos` (< len), or `None` past the end.
    /// An editor anchors a cursor to this id, not to the position, so remote
    /// edits before it do not move it off its char. O(log n).
    pub fn id_at(&self, pos: usize) -> Option<Id> {
        (pos < self.len()).then(|| self.seq.id_at_visible(pos as u64))
    }

    /// Where char `id` is now: the number of visible chars before it, and
    /// whether it is itself visible (`false`: deleted, so the position is
    /// where it was). `None` if no char has this id here. O(log n).
    pub fn position_of(&self, id: Id) -> Option<(usize, bool)> {
        self.seq
            .visible_pos(id)
            .map(|(pos, visible)| (pos as usize, visible))
    }

    /// The ids of the visible chars `range`, in document order, as spans
    /// of consecutive ids; `None` if the range is out of range. O(log n + k).
    pub fn ids_in(&self, range: std::ops::Range<usize>) -> Option<Vec<IdSpan>> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        let mut out = Vec::new();
        self.seq.visible_ids(
            range.start as u64,
            (range.end - range.start) as u64,
            &mut out,
        );
        Some(out)
    }

    /// The id the next local change will use.
    fn next_id(&self) -> Id {
        Id::new(self.replica, self.version.get(self.replica))
    }

    /// Inserts `text` at char position `pos` (0 ..= len).
    pub fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        if pos > self.len() {
            return Err(Error::OutOfRange {
                pos,
                len: self.len(),
            });
        }
        let n = text.chars().count() as u64;
        if n == 0 {
            return Ok(());
        }
        if n > op::MAX_RUN || !self.log.has_room(text.len(), 0) {
            return Err(Error::InvalidOp("insert too long"));
        }
        let id = self.next_id();
        let (left, right) = self.seq.insert_local(pos, id, n, &self.log);
        self.text.insert(pos, text);
        self.log.push_insert(id, left, right, text, n);
        self.version.set(self.replica, id.counter + n);
        Ok(())
    }

    /// Deletes `len` chars starting at char position `pos`.
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error> {
        match pos.checked_add(len) {
            Some(end) if end <= self.len() => {}
            _ => {
                return Err(Error::OutOfRange {
                    pos: pos.saturating_add(len),
                    len: self.len(),
                })
            }
        }
        if len == 0 {
            return Ok(());
        }
        // One span per piece deleted at most; a piece is at least one char.
        if len as u64 > op::MAX_RUN || !self.log.has_room(0, len) {
            return Err(Error::InvalidOp("history full"));
        }
        let id = self.next_id();
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        self.seq.delete_local(pos, len, &mut targets, &self.log);
        self.text.remove(pos..pos + len);
        self.log.push_delete(id, &targets, len as u64);
        self.scratch = targets;
        self.version.set(self.replica, id.counter + len as u64);
        Ok(())
    }

    /// The visible text.
    pub fn text(&self) -> String {
        self.text.to_string()
    }

    /// The visible chars `range` (in chars), or `None` if it is out of
    /// range. O(log n + k): an editor draws the lines on screen with it.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<String> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(self.text.borrow().slice_substrings(range).collect())
    }

    /// Visible length in chars.
    pub fn len(&self) -> usize {
        self.seq.visible_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every op this replica has applied (held ops excluded).
    pub fn version(&self) -> VersionVector {
        self.version.clone()
    }

    /// Borrowing form of [`Doc::version`].
    pub fn version_ref(&self) -> &VersionVector {
        &self.version
    }

    /// Every op `v` lacks, in an order `apply` accepts (causal), when
    /// [`Doc::can_serve`] says `v` can be served; otherwise only those
    /// beyond the collected history.
    pub fn ops_since(&self, v: &VersionVector) -> Vec<Op> {
        self.log.ops_since(v)
    }

    /// Whether [`Doc::ops_since`] gives everything `v` lacks: `v` has all
    /// the history this replica cleaned up. A peer that lacks some of it
    /// needs a snapshot instead.
    pub fn can_serve(&self, v: &VersionVector) -> bool {
        v.dominates(&self.collected)
    }

    /// Cleans up the history up to `frontier` (see the `collect` module for
    /// the rule and the promise the caller makes: every op applied from now
    /// on was made by a replica that had all of `frontier`). Drops those ops
    /// from the log and the stable tombstones from the sequence (keeping
    /// one-char markers where later ops may still need a position). The
    /// text does not change. Returns the number of tombstones removed.
    /// O(n log n) in the size of the replica: call it now and then.
    pub fn collect(&mut self, frontier: &VersionVector) -> u64 {
        collect::collect(self, frontier)
    }

    /// The history cleaned up so far (a version vector; empty at first).
    pub fn collected(&self) -> &VersionVector {
        &self.collected
    }

    /// The whole history in a compact, self-contained form (see
    /// `doc::history`): what a document is saved as and what a newcomer
    /// can load in one piece.
    pub fn encode_history(&self) -> Vec<u8> {
        history::encode(self)
    }

    /// Rebuilds a replica from [`Doc::encode_history`]'s or
    /// [`Doc::encode_snapshot`]'s bytes. Damaged or
    /// hostile bytes give an error, never a panic.
    pub fn decode_history(replica: ReplicaId, bytes: &[u8]) -> Result<Doc, Error> {
        history::decode(replica, bytes)
    }

    /// A snapshot: the whole history plus the document order of every char,
    /// for a newcomer or a compacted log. [`Doc::decode_history`] reads it
    /// (and plain histories); a snapshot loads without integrating any op,
    /// several times faster than replaying the history.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        history::encode_snapshot(self)
    }

    /// Replaces this replica's state by a snapshot's, keeping every op of
    /// ours the snapshot lacks (re-applied on top of it) and every held op.
    /// Returns one patch for the whole text and the snapshot's version. On
    /// error nothing changes; [`Error::Collected`] means some of our ops
    /// were made without history the snapshot has cleaned up: rejoin with
    /// [`Doc::rejoin`] instead.
    pub fn absorb_snapshot(&mut self, bytes: &[u8]) -> Result<(Patch, VersionVector), Error> {
        self.absorb_inflated(&Inflater::whole(bytes)?)
    }

    /// A snapshot of `version` that lacks history we cleaned up is older
    /// than what is here: our ops past it cannot all be given back to it
    /// (the log no longer holds the cleaned-up ones), so taking it in, or
    /// rejoining by it, would leave ours waiting for causes.
    fn check_not_stale(&self, version: &VersionVector) -> Result<(), Error> {
        if version.dominates(&self.collected) {
            Ok(())
        } else {
            Err(Error::StaleSnapshot)
        }
    }

    /// [`Doc::absorb_snapshot`], for a snapshot already inflated (as it
    /// arrived, with an [`Inflater`]).
    pub fn absorb_inflated(
        &mut self,
        snapshot: &Inflated,
    ) -> Result<(Patch, VersionVector), Error> {
        let mut loaded = history::decode_inflated(self.replica, snapshot)?;
        self.check_not_stale(&loaded.version)?;
        let snapshot_version = loaded.version();
        for op in self.ops_since(&loaded.version) {
            let ours = op.id.replica == self.replica;
            match loaded.apply(op) {
                Ok(_) => {}
                // Ours, made without history the snapshot cleaned up.
                Err(Error::Collected(id)) if ours => return Err(Error::Collected(id)),
                // Another replica's op the snapshot's history has moved
                // past: its maker refuses it too.
                Err(Error::Collected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for op in self.pending.all() {
            // Held ops may still lack their causes; an op the snapshot
            // contradicts is refused there, as it would be here.
            let _ = loaded.apply(op);
        }
        // An op of ours that now waits for a cause the snapshot's history
        // refused (another replica's, made without what it cleaned up) is
        // as lost as one refused outright: and its id would be made again.
        let own = loaded.version.get(self.replica);
        if own < self.version.get(self.replica) {
            return Err(Error::Collected(Id::new(self.replica, own)));
        }
        let patch = Patch {
            pos: 0,
            deleted: self.len(),
            inserted: loaded.len(),
        };
        *self = loaded;
        Ok((patch, snapshot_version))
    }

    /// Rejoins the group as a new replica `replica` from a member's
    /// snapshot, when this replica's own ops can no longer be accepted
    /// (it was declared gone, or made them without history the group has
    /// cleaned up). Every op of ours the snapshot lacks is *re-made* as a
    /// new local edit of the new replica, at the same place: an insert goes
    /// right after its left neighbour (or before its right one, or at the
    /// end if both are gone), a delete removes the chars it removed that
    /// are still visible. Other replicas' ops the snapshot lacks are applied
    /// where they still can be (the group sends them again anyway).
    ///
    /// The snapshot may also hold ops of ours under ids that this replica
    /// used again for other content (its data directory was restored from
    /// a backup, so it made new ops with counters it had already sent).
    /// Such ops of ours are re-made too, from the first id whose content
    /// differs; what the snapshot holds under those ids stays as it is.
    /// Returns the new replica and one patch for the whole text.
    pub fn rejoin(&self, bytes: &[u8], replica: ReplicaId) -> Result<(Doc, Patch), Error> {
        let mut new = history::decode(replica, bytes)?;
        self.check_not_stale(&new.version)?;
        let since = new.version.get(self.replica);
        // Our chars re-made: old id -> new id.
        let mut moved: std::collections::BTreeMap<Id, Id> = Default::default();
        let mut others = Vec::new();
        // All of our ops, so that those the snapshot holds can be compared.
        let mut from = new.version.clone();
        from.set(self.replica, 0);
        for op in self.ops_since(&from) {
            if op.id.replica != self.replica {
                others.push(op);
                continue;
            }
            let op = if op.id.counter < since {
                // The snapshot has (part of) it: keep what is the same.
                let known = op.len().min(since - op.id.counter);
                let same = match new.log.check_same(&op, known) {
                    Ok(()) => known,
                    Err(Error::Conflict(at)) => at.counter - op.id.counter,
                    // Cleaned up there: every member has it as it is.
                    Err(_) => known,
                };
                if same == op.len() {
                    continue;
                }
                op.slice(same, op.len())
            } else {
                op
            };
            let now = |id: Id| moved.get(&id).copied().unwrap_or(id);
            match op.kind {
                OpKind::Insert { left, right, text } => {
                    let after_left = match left {
                        None => Some(0),
                        Some(l) => new.position_of(now(l)).map(|(p, vis)| p + vis as usize),
                    };
                    let pos = after_left
                        .or_else(|| right.and_then(|r| new.position_of(now(r))).map(|(p, _)| p))
                        .unwrap_or(new.len());
                    let first = new.next_id();
                    new.insert(pos, &text)?;
                    for k in 0..op_len(&text) {
                        moved.insert(op.id.add(k), first.add(k));
                    }
                }
                OpKind::Delete { targets } => {
                    for span in targets.iter().filter_map(|t| t.ids()) {
                        for k in 0..span.len {
                            if let Some((p, true)) = new.position_of(now(span.start.add(k))) {
                                new.delete(p, 1)?;
                            }
                        }
                    }
                }
            }
        }
        for op in others.into_iter().chain(self.pending.all()) {
            let _ = new.apply(op);
        }
        let patch = Patch {
            pos: 0,
            deleted: self.len(),
            inserted: new.len(),
        };
        Ok((new, patch))
    }

    /// Number of ops held waiting for their dependencies.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether an op starting at `id` is held waiting for its dependencies.
    pub fn holds(&self, id: Id) -> bool {
        self.pending.holds(id)
    }

    /// Drops the held ops that were already held at the previous call:
    /// their causes did not come in a whole interval. Call it now and then
    /// (the node does, every `Config::held_expiry`), so that what a flood
    /// parked is given back; an honest sender's next digest exchange
    /// brings any op dropped here again, with its causes. Returns how many
    /// were dropped. O(held ops).
    pub fn expire_held(&mut self) -> usize {
        self.pending.expire()
    }

    /// Number of runs in the op log (a measure of history size).
    pub fn log_entries(&self) -> usize {
        self.log.entries()
    }

    /// Sizes, for `status` and benchmarks.
    pub fn stats(&self) -> DocStats {
        DocStats {
            visible_chars: self.len(),
            tombstones: self.seq.raw_len() as usize - self.len(),
            runs: self.seq.piece_count(),
            log_entries: self.log.entries(),
            pending_ops: self.pending.len(),
            tombstones_reclaimed: self.reclaimed,
            ops: self.version.total(),
        }
    }

    /// Applies an op from any replica: idempotent (a duplicate, or the
    /// already-known part of an op, is ignored) and commutative. An op
    /// whose dependencies are missing is held and applied once they are
    /// here. An op that is malformed or reuses a known id with other
    /// content is an error, and changes nothing.
    pub fn apply(&mut self, op: Op) -> Result<Applied, Error> {
        op.validate()?;
        let mut applied = Applied::default();
        // Ops released by this one; allocated only when there are any.
        let mut queue = Vec::new();
        // `held` and errors speak of the op passed in. A released op that
        // fails is dropped (it could never apply); the rest goes on.
        applied.held = self.apply_one(op, &mut applied, &mut queue)?;
        while let Some(op) = queue.pop() {
            let _ = self.apply_one(op, &mut applied, &mut queue);
        }
        Ok(applied)
    }

    fn apply_one(
        &mut self,
        op: Op,
        applied: &mut Applied,
        queue: &mut Vec<Op>,
    ) -> Result<bool, Error> {
        let replica = op.id.replica;
        let have = self.version.get(replica);
        let len = op.len();
        let end = op.id.counter + len;
        // Already-known prefix: must match, then only the rest is new.
        if op.id.counter < have {
            let known = have.min(end) - op.id.counter;
            self.log.check_same(&op, known)?;
            if end <= have {
                return Ok(false);
            }
        }
        let op = if op.id.counter < have {
            op.slice(have - op.id.counter, len)
        } else {
            op
        };
        let len = end - op.id.counter;
        // Missing dependencies: hold.
        let missing = if op.id.counter > have {
            Some(Id::new(replica, op.id.counter - 1))
        } else {
            op.missing_dependency(&self.version)
        };
        let room = match &op.kind {
            OpKind::Insert { text, .. } => self.log.has_room(text.len(), 0),
            OpKind::Delete { targets } => self.log.has_room(0, targets.len()),
        };
        if !room {
            return Err(Error::InvalidOp("history full"));
        }
        if let Some(missing) = missing {
            if self.pending.is_full_for(&op) {
                return Err(Error::PendingFull);
            }
            self.pending.hold(missing, op);
            return Ok(true);
        }
        // What the op names must be chars, not ids of deletes (an insert's
        // origins are checked by `integrate`, before it changes anything).
        if let OpKind::Delete { targets } = &op.kind {
            for span in targets.iter().filter_map(|t| t.ids()) {
                collect::check_chars(self, span)?;
            }
        }
        match &op.kind {
            OpKind::Insert { left, right, text } => {
                let pos = self
                    .seq
                    .integrate(op.id, len, *left, *right, &self.log, &self.collected)
                    .map_err(|refused| match refused {
                        Refused::NotAChar => NAMES_A_DELETE,
                        Refused::Collected(id) => Error::Collected(id),
                    })?;
                self.text.insert(pos, text);
                applied.patches.push(Patch {
                    pos,
                    deleted: 0,
                    inserted: len as usize,
                });
            }
            OpKind::Delete { targets } => {
                for t in targets.iter().filter_map(|t| t.ids()) {
                    let (text, patches) = (&mut self.text, &mut applied.patches);
                    self.seq.delete_span(t, &self.log, |pos, n| {
                        text.remove(pos..pos + n);
                        patches.push(Patch {
                            pos,
                            deleted: n,
                            inserted: 0,
                        });
                    });
                }
            }
        }
        self.log.push(&op, len);
        self.version.set(replica, end);
        applied.ops_applied += 1;
        self.pending.release(replica, have, end, queue);
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
