//! The op log: every op this replica has applied, in the order it applied
//! them (which is a causal order), run-length merged.
//!
//! Stored flat, to stay small: one entry per run of ops (48 bytes), the
//! text of all inserts in one `String` and the targets of all deletes in one
//! `Vec` (16 bytes a span), each entry naming its stretch of them. Entries
//! and targets name replicas by their number in the log's replica table
//! (`u32`, in the order the log first met them), not by their 8-byte id. An op is merged into the
//! last entry when it simply continues it (typing, repeated deletes), so
//! an entry's text and targets are always at the end of their buffer while
//! it can still grow. Both buffers are indexed (`log_buffers`), so any
//! part of a long run is found without walking the run.

use std::collections::BTreeMap;
use std::ops::Range;

use super::error::Error;
use super::id::{Id, ReplicaId, TargetSpan};
use super::log_buffers::{LogTargets, LogText, Targets};
use super::op::{Op, OpKind};
use super::version::VersionVector;

/// The replica number of a missing origin in an entry.
const NO_ORIGIN: u32 = u32::MAX;
/// The left-origin replica number that marks a delete entry.
const DELETE: u32 = u32::MAX - 1;
// Replica numbers stay below 2^31 (a stored target span keeps its
// direction in the top bit, and the markers above are out of reach): a
// replica is numbered only for an op, origin or target the log holds, and
// no log holds two billion of them.

/// An origin as an entry keeps it: replica number ([`NO_ORIGIN`] when
/// none) and counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    replica: u32,
    counter: u64,
}

/// An op of the log, borrowed (see [`OpLog::iter`]).
pub(crate) enum EntryOp<'a> {
    Insert {
        left: Option<Id>,
        right: Option<Id>,
        text: &'a str,
    },
    Delete {
        targets: Targets<'a>,
    },
}

/// An entry of the log as [`OpLog::runs_of`] gives it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: Id,
    pub len: u64,
    pub is_delete: bool,
    /// Origins of the first char (inserts only).
    pub left: Option<Id>,
    pub right: Option<Id>,
    /// Inserts: the byte range of its text in [`OpLog::text`].
    pub text: Range<usize>,
}

impl Run {
    pub fn end(&self) -> u64 {
        self.id.counter + self.len
    }
}

/// One run of the log (48 bytes: the fields are ordered so that none
/// needs padding).
#[derive(Debug, Clone)]
struct Entry {
    /// The first id's counter; its replica is `replica` (a number).
    counter: u64,
    /// Inserts only: the counters of the origins of the first char.
    left: u64,
    right: u64,
    replica: u32,
    /// Inserts: the left origin's replica number ([`NO_ORIGIN`] when
    /// none); deletes: [`DELETE`].
    left_replica: u32,
    /// Inserts: the right origin's replica number ([`NO_ORIGIN`] when none).
    right_replica: u32,
    /// Counters used: chars inserted or deleted (an op has at most
    /// `u32::MAX`; merging stops there).
    len: u32,
    /// Inserts: byte range in `OpLog::text`; deletes: range in
    /// `OpLog::targets`. (u32: a log holds at most 4 GiB of inserted text.)
    start: u32,
    end: u32,
}

impl Entry {
    /// The counter after its last one.
    fn end(&self) -> u64 {
        self.counter + self.len as u64
    }

    fn is_delete(&self) -> bool {
        self.left_replica == DELETE
    }

    fn data(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    fn left(&self) -> Packed {
        Packed {
            replica: self.left_replica,
            counter: self.left,
        }
    }

    fn right(&self) -> Packed {
        Packed {
            replica: self.right_replica,
            counter: self.right,
        }
    }
}

/// Entries per block of [`Entries`].
const BLOCK: usize = 512;

/// The log's entries, in blocks of `BLOCK`: growing never copies them
/// (one `Vec` grown by a quarter at a time copied the whole log about
/// thirty times while it grew) and leaves at most one block unused
/// (the quarter it last grew by was a sixth of the entries' memory).
#[derive(Debug, Clone, Default)]
struct Entries {
    blocks: Vec<Vec<Entry>>,
    len: usize,
}

impl Entries {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, entry: Entry) {
        match self.blocks.last_mut() {
            Some(b) if b.len() < BLOCK => b.push(entry),
            _ => {
                // The first block grows as a `Vec` does (from 16, doubling
                // to `BLOCK`): a small document keeps no room for 512.
                let first = self.blocks.is_empty();
                let mut b = Vec::with_capacity(if first { 16 } else { BLOCK });
                b.push(entry);
                self.blocks.push(b);
            }
        }
        self.len += 1;
    }

    fn last(&self) -> Option<&Entry> {
        self.blocks.last().and_then(|b| b.last())
    }

    fn last_mut(&mut self) -> Option<&mut Entry> {
        self.blocks.last_mut().and_then(|b| b.last_mut())
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.blocks.iter().flatten()
    }

    /// Of the entries at `places` (counters ascending), the place of the
    /// last one starting at or before `counter` (the first place if none
    /// does): the block first, then within its slice.
    fn last_at_or_before(&self, places: Range<usize>, counter: u64) -> usize {
        let (mut lo, mut hi) = (places.start / BLOCK, (places.end - 1) / BLOCK + 1);
        let first_in = |b: usize| self.blocks[b][(b * BLOCK).max(places.start) % BLOCK].counter;
        // Block `lo` starts at or before `counter` (or is the first),
        // blocks `hi ..` after it.
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if first_in(mid) <= counter {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let from = (lo * BLOCK).max(places.start);
        let to = ((lo + 1) * BLOCK).min(places.end);
        let block = &self.blocks[lo][from % BLOCK..(to - 1) % BLOCK + 1];
        let k = block.partition_point(|e| e.counter <= counter);
        from + k.saturating_sub(1)
    }
}

impl std::ops::Index<usize> for Entries {
    type Output = Entry;

    fn index(&self, i: usize) -> &Entry {
        &self.blocks[i / BLOCK][i % BLOCK]
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OpLog {
    entries: Entries,
    text: LogText,
    targets: LogTargets,
    /// The replica table: replica number → id.
    replicas: Vec<ReplicaId>,
    /// Per replica, its number and its entries in counter order (a
    /// replica's ops are applied in counter order). A replica named only
    /// by origins or targets has a number and no entries.
    by_replica: BTreeMap<ReplicaId, ReplicaEntries>,
    /// The replica numbered last (most ops name the replica of the op
    /// before, or their own).
    last_number: Option<(ReplicaId, u32)>,
}

/// One replica's entries, as stretches of consecutive places in
/// `entries` (a replica typing alone has one stretch for all its entries,
/// not a place and a counter per entry).
#[derive(Debug, Clone, Default)]
struct ReplicaEntries {
    /// The replica's number in the log's table.
    number: u32,
    stretches: Vec<Stretch>,
}

/// Entries `first .. first + count` of the log, all of one replica, the
/// first of them starting at `counter`.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    counter: u64,
    first: u32,
    count: u32,
}

impl ReplicaEntries {
    fn is_empty(&self) -> bool {
        self.stretches.is_empty()
    }

    /// The places of the entries from the one holding `counter` on (all
    /// of them if `counter` is before the first).
    fn from<'a>(&'a self, entries: &Entries, counter: u64) -> Places<'a> {
        // Most asks are about the newest ops: try the last stretch first.
        let s = match self.stretches.last() {
            Some(last) if last.counter <= counter => self.stretches.len() - 1,
            _ => self
                .stretches
                .partition_point(|st| st.counter <= counter)
                .saturating_sub(1),
        };
        let Some(st) = self.stretches.get(s) else {
            return Places::default();
        };
        // Within the stretch: the last entry starting at or before
        // `counter` (the stretch's last entry first).
        let (first, count) = (st.first as usize, st.count as usize);
        let last = first + count - 1;
        let at = if entries[last].counter <= counter {
            last
        } else {
            entries.last_at_or_before(first..last + 1, counter)
        };
        Places {
            stretches: &self.stretches[s..],
            at: at as u32,
        }
    }

    fn all(&self) -> Places<'_> {
        Places {
            at: self.stretches.first().map_or(0, |st| st.first),
            stretches: &self.stretches,
        }
    }

    fn push(&mut self, counter: u64, place: u32) {
        if let Some(last) = self.stretches.last_mut() {
            if last.first + last.count == place {
                last.count += 1;
                return;
            }
        }
        if self.stretches.len() == self.stretches.capacity() {
            // By a quarter (doubling left up to half of them unused),
            // from 4: most replicas of a large group author a few runs,
            // and a document holds a list for each (starting at 64, a
            // 1,000-node simulation kept 120 MB more).
            let extra = (self.stretches.capacity() / 4).max(4);
            self.stretches.reserve_exact(extra);
        }
        self.stretches.push(Stretch {
            counter,
            first: place,
            count: 1,
        });
    }
}

/// Places in `entries`, in a replica's counter order (see
/// [`ReplicaEntries::from`]).
#[derive(Debug, Clone, Default)]
struct Places<'a> {
    /// The stretch `at` is in, then the later ones.
    stretches: &'a [Stretch],
    at: u32,
}

impl Iterator for Places<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let st = self.stretches.first()?;
        let at = self.at;
        self.at += 1;
        if self.at == st.first + st.count {
            self.stretches = &self.stretches[1..];
            self.at = self.stretches.first().map_or(0, |st| st.first);
        }
        Some(at)
    }
}

impl OpLog {
    /// Number of entries (runs), not chars.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Whether an op with `text_bytes` of text and `targets` delete spans
    /// still fits the log's 32-bit offsets.
    pub fn has_room(&self, text_bytes: usize, targets: usize) -> bool {
        self.text.len() + text_bytes <= u32::MAX as usize
            && self.targets.len() + targets <= u32::MAX as usize
    }

    /// Makes room for `entries` more runs, `text_bytes` more bytes of
    /// inserted text and `targets` more delete spans (a snapshot knows
    /// them all before it loads).
    pub fn reserve(&mut self, entries: usize, text_bytes: usize, targets: usize) {
        self.entries.blocks.reserve_exact(entries.div_ceil(BLOCK));
        self.text.reserve_exact(text_bytes);
        self.targets.reserve_exact(targets);
    }

    /// The replicas that have ops in the log, in order.
    pub fn replicas(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.by_replica
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(&r, _)| r)
    }

    /// The number of `replica` in the table, numbering it if new.
    fn number(&mut self, replica: ReplicaId) -> u32 {
        if let Some((r, n)) = self.last_number {
            if r == replica {
                return n;
            }
        }
        let next = self.replicas.len() as u32;
        let n = self
            .by_replica
            .entry(replica)
            .or_insert_with(|| ReplicaEntries {
                number: next,
                ..ReplicaEntries::default()
            })
            .number;
        if n == next {
            self.replicas.push(replica);
        }
        self.last_number = Some((replica, n));
        n
    }

    fn pack(&mut self, origin: Option<Id>) -> Packed {
        match origin {
            None => Packed {
                replica: NO_ORIGIN,
                counter: 0,
            },
            Some(id) => Packed {
                replica: self.number(id.replica),
                counter: id.counter,
            },
        }
    }

    /// An origin as an id (`None` when missing; a delete's markers
    /// stand for no origin).
    fn unpack(&self, origin: Packed) -> Option<Id> {
        let replica = *self.replicas.get(origin.replica as usize)?;
        Some(Id::new(replica, origin.counter))
    }

    /// The first id of an entry.
    fn id_of(&self, entry: &Entry) -> Id {
        Id::new(self.replicas[entry.replica as usize], entry.counter)
    }

    /// The entries of one replica in counter order: they tile its
    /// counters from where its log starts.
    pub fn runs_of(&self, replica: ReplicaId) -> impl Iterator<Item = Run> + '_ {
        let list = self.by_replica.get(&replica).map(ReplicaEntries::all);
        list.into_iter().flatten().map(move |e| {
            let e = &self.entries[e as usize];
            Run {
                id: Id::new(replica, e.counter),
                len: e.len as u64,
                is_delete: e.is_delete(),
                left: self.unpack(e.left()),
                right: self.unpack(e.right()),
                text: e.data(),
            }
        })
    }

    /// All inserted text, in log order ([`Run::text`] indexes it).
    pub fn text(&self) -> &str {
        self.text.as_str()
    }

    /// Appends an insert that was just applied.
    pub fn push_insert(
        &mut self,
        id: Id,
        left: Option<Id>,
        right: Option<Id>,
        text: &str,
        len: u64,
    ) {
        let continues = self.entries.last().is_some_and(|last| {
            !last.is_delete()
                && last.end() == id.counter
                && self.replicas[last.replica as usize] == id.replica
                && last.len as u64 + len <= u32::MAX as u64
                && left == Some(Id::new(id.replica, id.counter - 1))
                && self.unpack(last.right()) == right
        });
        if self.text.spare() < text.len() {
            self.text
                .reserve_exact(gentle_growth(self.text.capacity(), text.len()));
        }
        self.text.push(text);
        let end = self.text.len() as u32;
        if continues {
            let last = self.entries.last_mut().expect("checked above");
            last.len += len as u32;
            last.end = end;
        } else {
            let replica = self.number(id.replica);
            let (left, right) = (self.pack(left), self.pack(right));
            self.push_entry(
                id.replica,
                Entry {
                    counter: id.counter,
                    left: left.counter,
                    right: right.counter,
                    replica,
                    left_replica: left.replica,
                    right_replica: right.replica,
                    len: len as u32,
                    start: end - text.len() as u32,
                    end,
                },
            );
        }
    }

    /// Appends a delete that was just applied.
    pub fn push_delete(&mut self, id: Id, targets: &[TargetSpan], len: u64) {
        let continues = self.entries.last().is_some_and(|last| {
            last.is_delete()
                && last.end() == id.counter
                && self.replicas[last.replica as usize] == id.replica
                && last.len as u64 + len <= u32::MAX as u64
        });
        if self.targets.spare() < targets.len() {
            let extra = gentle_growth(self.targets.capacity(), targets.len());
            self.targets.reserve_exact(extra);
        }
        if continues {
            for &t in targets {
                let n = self.number(t.start.replica);
                self.targets.push(t, n, true);
            }
            let last = self.entries.last_mut().expect("checked above");
            last.len += len as u32;
            last.end = self.targets.len() as u32;
        } else {
            let start = self.targets.len() as u32;
            // The first span must not merge into the previous entry's last one.
            for (k, &t) in targets.iter().enumerate() {
                let n = self.number(t.start.replica);
                self.targets.push(t, n, k > 0);
            }
            let replica = self.number(id.replica);
            self.push_entry(
                id.replica,
                Entry {
                    counter: id.counter,
                    left: 0,
                    right: 0,
                    replica,
                    left_replica: DELETE,
                    right_replica: NO_ORIGIN,
                    len: len as u32,
                    start,
                    end: self.targets.len() as u32,
                },
            );
        }
    }

    /// Appends an op that was just applied (either kind).
    pub fn push(&mut self, op: &Op, len: u64) {
        match &op.kind {
            OpKind::Insert { left, right, text } => {
                self.push_insert(op.id, *left, *right, text, len)
            }
            OpKind::Delete { targets } => self.push_delete(op.id, targets, len),
        }
    }

    fn push_entry(&mut self, replica: ReplicaId, entry: Entry) {
        let list = self
            .by_replica
            .get_mut(&replica)
            .expect("numbered before its entry");
        list.push(entry.counter, self.entries.len() as u32);
        self.entries.push(entry);
    }

    /// The entries of `replica` from the one holding `counter` on.
    fn entries_from(&self, replica: ReplicaId, counter: u64) -> Places<'_> {
        match self.by_replica.get(&replica) {
            Some(list) => list.from(&self.entries, counter),
            None => Places::default(),
        }
    }

    /// The entry holding `id`, if any.
    fn entry_of(&self, id: Id) -> Option<&Entry> {
        let first = self.entries_from(id.replica, id.counter).next()?;
        let entry = &self.entries[first as usize];
        (entry.counter <= id.counter && id.counter < entry.end()).then_some(entry)
    }

    /// The (left, right) origins of the inserted char `id`, if it is one.
    pub fn origins(&self, id: Id) -> Option<(Option<Id>, Option<Id>)> {
        let entry = self.entry_of(id)?;
        if entry.is_delete() {
            return None;
        }
        let left = if id.counter == entry.counter {
            self.unpack(entry.left())
        } else {
            Some(Id::new(id.replica, id.counter - 1))
        };
        Some((left, self.unpack(entry.right())))
    }

    /// Whether inserted char `next` was typed right after `prev` (the id
    /// before it): its left origin is `prev` and both share a right origin.
    /// One lookup when both are in one entry (the usual case).
    pub fn continues(&self, prev: Id, next: Id) -> bool {
        let Some(entry) = self.entry_of(next) else {
            return false;
        };
        if entry.is_delete() {
            return false;
        }
        if entry.counter <= prev.counter && prev.replica == next.replica {
            // Within one run: char k's left origin is char k - 1.
            return prev.counter + 1 == next.counter;
        }
        next.counter == entry.counter
            && self.unpack(entry.left()) == Some(prev)
            && self
                .origins(prev)
                .is_some_and(|o| o.1 == self.unpack(entry.right()))
    }

    /// Every entry as an op, borrowed, in log order (a causal order):
    /// `(first id, counters used, what it does)`. The same ops as
    /// `ops_since(&VersionVector::new())`, without copying them.
    pub fn iter(&self) -> impl Iterator<Item = (Id, u64, EntryOp<'_>)> + '_ {
        self.entries.iter().map(|e| {
            let op = if e.is_delete() {
                EntryOp::Delete {
                    targets: self.targets.spans(e.data(), &self.replicas),
                }
            } else {
                EntryOp::Insert {
                    left: self.unpack(e.left()),
                    right: self.unpack(e.right()),
                    text: &self.text.as_str()[e.data()],
                }
            };
            (self.id_of(e), e.len as u64, op)
        })
    }

    /// Appends the text of the inserted chars `start .. start + len` (all
    /// known chars of one replica) to `out`.
    pub fn push_text(&self, start: Id, len: u64, out: &mut String) {
        let end = start.counter + len;
        for e in self.entries_from(start.replica, start.counter) {
            let entry = &self.entries[e as usize];
            if entry.counter >= end {
                break;
            }
            let from = start.counter.max(entry.counter) - entry.counter;
            let to = end.min(entry.end()) - entry.counter;
            if entry.is_delete() || from >= to {
                continue;
            }
            out.push_str(self.chars_of(entry, from, to));
        }
    }

    /// Whether every id of `span` (all known) is an inserted char, not the
    /// id of a delete: an origin or a delete target must name chars.
    pub fn all_chars(&self, span: super::id::IdSpan) -> bool {
        let end = span.end_counter();
        for e in self.entries_from(span.start.replica, span.start.counter) {
            let entry = &self.entries[e as usize];
            if entry.counter >= end {
                break;
            }
            if entry.is_delete() {
                return false;
            }
        }
        true
    }

    /// The chars deleted by the deletes below `frontier` (per replica, the
    /// counters under it), sorted and merged.
    pub fn deleted_below(&self, frontier: &VersionVector) -> Vec<super::id::IdSpan> {
        let mut spans = Vec::new();
        for e in self.entries.iter().filter(|e| e.is_delete()) {
            let below = frontier.get(self.replicas[e.replica as usize]);
            if e.counter >= below {
                continue;
            }
            let mut left = below.min(e.end()) - e.counter;
            for t in self.targets.spans(e.data(), &self.replicas) {
                if left == 0 {
                    break;
                }
                let take = t.len.min(left);
                spans.extend(t.slice(0, take).ids());
                left -= take;
            }
        }
        spans.sort_unstable();
        let mut out: Vec<super::id::IdSpan> = Vec::with_capacity(spans.len());
        for s in spans {
            match out.last_mut() {
                Some(last)
                    if last.start.replica == s.start.replica
                        && s.start.counter <= last.end_counter() =>
                {
                    last.len = last.len.max(s.end_counter() - last.start.counter);
                }
                _ => out.push(s),
            }
        }
        out
    }

    /// The log without the ops below `frontier`: the ops beyond it, in
    /// the same order.
    pub fn without_below(&self, frontier: &VersionVector) -> OpLog {
        let mut log = OpLog::default();
        for op in self.ops_since(frontier) {
            let len = op.len();
            log.push(&op, len);
        }
        log
    }

    /// The text of counters `from .. to` (offsets) of an insert entry.
    /// O(log n + the part), whatever the entry's length.
    fn chars_of(&self, entry: &Entry, from: u64, to: u64) -> &str {
        self.text.slice(entry.data(), entry.len as u64, from, to)
    }

    /// The part of an entry that uses counters `from .. to` (offsets), as
    /// an op. O(log n + the part), whatever the entry's length.
    fn op(&self, entry: &Entry, from: u64, to: u64) -> Op {
        let id = self.id_of(entry).add(from);
        let kind = if entry.is_delete() {
            let mut targets = Vec::new();
            self.targets
                .slice(entry.data(), from, to, &self.replicas, &mut targets);
            OpKind::Delete { targets }
        } else {
            let text = self.chars_of(entry, from, to);
            OpKind::Insert {
                left: if from == 0 {
                    self.unpack(entry.left())
                } else {
                    Some(Id::new(id.replica, id.counter - 1))
                },
                right: self.unpack(entry.right()),
                text: text.to_string(),
            }
        };
        Op { id, kind }
    }

    /// Every op (or part of an op) whose ids `v` lacks, in log order.
    pub fn ops_since(&self, v: &VersionVector) -> Vec<Op> {
        let mut picks: Vec<(u32, u64)> = Vec::new();
        // One pass over both maps (in replica order), no lookup per
        // replica: the node asks this for every datagram that brings ops,
        // in groups of hundreds of replicas.
        let mut theirs = v.iter().peekable();
        for (&replica, list) in &self.by_replica {
            while theirs.next_if(|&(r, _)| r < replica).is_some() {}
            let have = match theirs.peek() {
                Some(&(r, n)) if r == replica => n,
                _ => 0,
            };
            for e in list.from(&self.entries, have) {
                let entry = &self.entries[e as usize];
                if entry.end() > have {
                    picks.push((e, have.saturating_sub(entry.counter)));
                }
            }
        }
        picks.sort_unstable();
        picks
            .into_iter()
            .map(|(e, from)| {
                let entry = &self.entries[e as usize];
                self.op(entry, from, entry.len as u64)
            })
            .collect()
    }

    /// Checks that `op`'s ids in `0..known` (offsets into the op, all of
    /// which this log has) carry the same content as the log has for them.
    pub fn check_same(&self, op: &Op, known: u64) -> Result<(), Error> {
        let (lo, hi) = (op.id.counter, op.id.counter + known);
        for e in self.entries_from(op.id.replica, lo) {
            let have = &self.entries[e as usize];
            let (start, end) = (have.counter, have.end());
            if start >= hi {
                break;
            }
            let (a, b) = (lo.max(start), hi.min(end));
            if a >= b {
                continue;
            }
            let same = match &op.kind {
                // The common case (a retransmitted or relayed insert):
                // compared in place, without building either slice.
                OpKind::Insert { left, right, text } if !have.is_delete() => {
                    let origin_left = |first: u64, left: Option<Id>| {
                        if a == first {
                            left
                        } else {
                            Some(Id::new(op.id.replica, a - 1))
                        }
                    };
                    origin_left(lo, *left) == origin_left(start, self.unpack(have.left()))
                        && *right == self.unpack(have.right())
                        && char_range(text, a - lo, b - lo)
                            == self.chars_of(have, a - start, b - start)
                }
                _ => {
                    let theirs = op.slice(a - lo, b - lo);
                    same_content(&theirs, &self.op(have, a - start, b - start))
                }
            };
            if !same {
                return Err(Error::Conflict(op.id.add(a - lo)));
            }
        }
        Ok(())
    }
}

/// How much to grow a log buffer of `capacity` that needs `needed` more:
/// by a quarter rather than the usual double, since the log is most of what
/// a replica keeps and only ever grows (still amortised O(1) per push).
fn gentle_growth(capacity: usize, needed: usize) -> usize {
    needed.max(capacity / 4 + 64)
}

/// Chars `from .. to` of `text` (clamped to its end): for an op's own
/// text, which is short; the log's runs are sliced through their index.
fn char_range(text: &str, from: u64, to: u64) -> &str {
    let mut bounds = text.char_indices().map(|(i, _)| i).chain([text.len()]);
    let start = bounds.nth(from as usize).unwrap_or(text.len());
    let end = match to - from {
        0 => start,
        n => bounds.nth(n as usize - 1).unwrap_or(text.len()),
    };
    &text[start..end]
}

/// Equal ops, with delete target lists compared after merging adjacent spans.
fn same_content(a: &Op, b: &Op) -> bool {
    match (&a.kind, &b.kind) {
        (OpKind::Delete { targets: x }, OpKind::Delete { targets: y }) => {
            a.id == b.id && merged_spans(x) == merged_spans(y)
        }
        _ => a == b,
    }
}

fn merged_spans(spans: &[TargetSpan]) -> Vec<TargetSpan> {
    let mut out = Vec::with_capacity(spans.len());
    for &s in spans {
        TargetSpan::push(&mut out, s);
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry(counter: u64, len: u32) -> Entry {
        Entry {
            counter,
            left: 0,
            right: 0,
            replica: 0,
            left_replica: if len.is_multiple_of(2) {
                DELETE
            } else {
                NO_ORIGIN
            },
            right_replica: NO_ORIGIN,
            len,
            start: 0,
            end: len,
        }
    }

    /// An entry is 48 bytes, a stored target span 16 (the heap of a long
    /// history is mostly these).
    #[test]
    fn entries_stay_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
        assert_eq!(std::mem::size_of::<crate::doc::log_buffers::Span>(), 16);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// The block store answers as the `Vec` it replaced: length, each
        /// entry by place, the last one (also after changing it), and the
        /// order, over several blocks.
        /// A replica's entries, found through its stretches, are the
        /// ones a plain filter of the log finds: from the entry holding
        /// the counter asked (or the first) on, in order.
        #[test]
        fn places_match_a_plain_filter(
            pushes in proptest::collection::vec((0u64..3, 1u64..5, any::<bool>()), 0..1500),
            asks in proptest::collection::vec((0u64..4, 0u64..2500), 1..20),
        ) {
            let mut log = OpLog::default();
            let mut next = [0u64; 3];
            for &(r, len, delete) in &pushes {
                let id = Id::new(ReplicaId(r), next[r as usize]);
                if delete {
                    let target = TargetSpan::forward(super::super::id::IdSpan::new(Id::new(ReplicaId(9), 0), len));
                    log.push_delete(id, &[target], len);
                } else {
                    log.push_insert(id, None, None, &"x".repeat(len as usize), len);
                }
                next[r as usize] += len;
            }
            for (r, counter) in asks {
                let replica = ReplicaId(r);
                let got: Vec<u32> = log.entries_from(replica, counter).collect();
                let mine: Vec<u32> = (0..log.entries.len() as u32)
                    .filter(|&e| log.id_of(&log.entries[e as usize]).replica == replica)
                    .collect();
                let from = mine
                    .iter()
                    .rposition(|&e| log.entries[e as usize].counter <= counter)
                    .unwrap_or(0);
                prop_assert_eq!(&got[..], &mine[from.min(mine.len())..]);
                let runs: Vec<u64> = log.runs_of(replica).map(|run| run.id.counter).collect();
                let want: Vec<u64> = mine.iter().map(|&e| log.entries[e as usize].counter).collect();
                prop_assert_eq!(runs, want);
            }
        }

        #[test]
        fn entries_match_a_vec(lens in proptest::collection::vec(1u32..9, 0..1600), grow in 1u32..5) {
            let mut blocks = Entries::default();
            let mut flat: Vec<Entry> = Vec::new();
            for (k, &len) in lens.iter().enumerate() {
                let e = entry(k as u64 * 10, len);
                blocks.push(e.clone());
                flat.push(e);
                if len == 8 {
                    blocks.last_mut().expect("pushed").len += grow;
                    flat.last_mut().expect("pushed").len += grow;
                }
            }
            prop_assert_eq!(blocks.len(), flat.len());
            prop_assert_eq!(blocks.last().map(|e| (e.counter, e.len)), flat.last().map(|e| (e.counter, e.len)));
            for (i, e) in flat.iter().enumerate() {
                prop_assert_eq!((blocks[i].counter, blocks[i].len, blocks[i].is_delete()), (e.counter, e.len, e.is_delete()));
            }
            let order: Vec<(u64, u32)> = blocks.iter().map(|e| (e.counter, e.len)).collect();
            let want: Vec<(u64, u32)> = flat.iter().map(|e| (e.counter, e.len)).collect();
            prop_assert_eq!(order, want);
        }
    }
}
