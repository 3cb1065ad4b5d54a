//! The sequence's id index: which leaf holds an id.
//!
//! A key is the first id of a range of one replica's ids, all in the leaf it
//! names, up to the replica's next key (ids that are not chars, such as a
//! delete's, fall in ranges too: nothing looks them up). So the leaf of an id
//! is the value of the last key at or before it, of the same replica.
//!
//! Keys live per replica, in sorted chunks of at most `CHUNK` counters: a
//! replica's counters only grow, so a new run's key is nearly always an
//! append to the last chunk, and a key changed in the middle (a leaf split)
//! moves at most one chunk's worth of entries. A lookup is two binary
//! searches over plain arrays (chunk starts, then one chunk), where a
//! `BTreeMap<Id, u32>` compared 128-bit keys down a tree of small nodes, and
//! allocated a node now and then on insert.

use super::id::{Id, ReplicaId};

/// Keys per chunk. Small enough that an insert in the middle moves little,
/// large enough that the chunk starts stay few.
const CHUNK: usize = 64;

#[derive(Clone, Debug, Default)]
pub(crate) struct IdIndex {
    /// The replicas that have keys, sorted.
    replicas: Vec<ReplicaId>,
    /// Each replica's keys, in the order of `replicas`.
    keys: Vec<Keys>,
}

/// One replica's keys: counters and the leaf each names, sorted by counter.
#[derive(Clone, Debug, Default)]
struct Keys {
    /// The first counter of each chunk.
    firsts: Vec<u64>,
    /// Each non-empty, at most `CHUNK` long; all of a chunk's counters are
    /// below the next chunk's.
    chunks: Vec<Chunk>,
}

#[derive(Clone, Debug)]
struct Chunk {
    counters: Vec<u64>,
    leaves: Vec<u32>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            counters: Vec::with_capacity(CHUNK),
            leaves: Vec::with_capacity(CHUNK),
        }
    }
}

impl IdIndex {
    /// Builds the index from keys sorted by id (no id twice).
    pub fn from_sorted(keys: impl Iterator<Item = (Id, u32)>) -> IdIndex {
        let mut index = IdIndex::default();
        for (id, leaf) in keys {
            if index.replicas.last() != Some(&id.replica) {
                index.replicas.push(id.replica);
                index.keys.push(Keys::default());
            }
            let keys = index.keys.last_mut().expect("pushed above");
            keys.push_last(id.counter, leaf);
        }
        index
    }

    fn keys(&self, replica: ReplicaId) -> Option<&Keys> {
        // Nearly every doc has few replicas: one compare in the usual case.
        let i = self.replicas.binary_search(&replica).ok()?;
        Some(&self.keys[i])
    }

    fn keys_mut(&mut self, replica: ReplicaId) -> &mut Keys {
        let i = match self.replicas.binary_search(&replica) {
            Ok(i) => i,
            Err(i) => {
                self.replicas.insert(i, replica);
                self.keys.insert(i, Keys::default());
                i
            }
        };
        &mut self.keys[i]
    }

    /// The leaf named by the last key at or before `id` (same replica).
    pub fn leaf_of(&self, id: Id) -> Option<u32> {
        self.keys(id.replica)?
            .at_or_before(id.counter)
            .map(|(_, l)| l)
    }

    /// Sets the key `id` to name `leaf`.
    pub fn insert(&mut self, id: Id, leaf: u32) {
        self.keys_mut(id.replica).insert(id.counter, leaf);
    }

    /// Points the index at `to` for the ids `start .. end` (counters) of one
    /// replica, all of which moved there. Keys inside go (left by pieces
    /// since joined, or by pieces that moved with them). If `end` has no key,
    /// the leaf named before it keeps `end` when `holds_end(leaf)` says that
    /// leaf holds it (a key is made for it), so ids from `end` on stay where
    /// they were; no key is ever made for an id that is not present.
    pub fn move_range(&mut self, start: Id, end: u64, to: u32, holds_end: impl Fn(u32) -> bool) {
        let keys = self.keys_mut(start.replica);
        // The usual case, in one search: `start` has a key (the piece that
        // moved was a run of its own) and no key lies inside.
        if let Some((i, j)) = keys.find(start.counter) {
            let next = keys.after_place(i, j);
            if next.is_none_or(|k| k >= end) {
                let below = std::mem::replace(&mut keys.chunks[i].leaves[j], to);
                if next != Some(end) && below != to && holds_end(below) {
                    keys.insert(end, below);
                }
                return;
            }
        }
        let has_end = keys.at_or_before(end).is_some_and(|(k, _)| k == end);
        let below = if has_end || end == 0 {
            None
        } else {
            keys.at_or_before(end - 1).map(|(_, l)| l)
        };
        while let Some(k) = keys.after(start.counter).filter(|&k| k < end) {
            keys.remove(k);
        }
        keys.insert(start.counter, to);
        if let Some(leaf) = below.filter(|&l| l != to) {
            if holds_end(leaf) {
                keys.insert(end, leaf);
            }
        }
    }
}

impl Keys {
    /// The chunk holding the last counter at or before `counter`.
    fn chunk_of(&self, counter: u64) -> Option<usize> {
        self.firsts
            .partition_point(|&f| f <= counter)
            .checked_sub(1)
    }

    /// The last key at or before `counter`, and its leaf.
    fn at_or_before(&self, counter: u64) -> Option<(u64, u32)> {
        let c = &self.chunks[self.chunk_of(counter)?];
        // The chunk's first counter is at or before `counter`: j >= 1.
        let j = c.counters.partition_point(|&k| k <= counter) - 1;
        Some((c.counters[j], c.leaves[j]))
    }

    /// The place (chunk, index in it) of key `counter`, if it is one.
    fn find(&self, counter: u64) -> Option<(usize, usize)> {
        let i = self.chunk_of(counter)?;
        let j = self.chunks[i].counters.binary_search(&counter).ok()?;
        Some((i, j))
    }

    /// The key after the one at place `(i, j)`.
    fn after_place(&self, i: usize, j: usize) -> Option<u64> {
        match self.chunks[i].counters.get(j + 1) {
            Some(&k) => Some(k),
            None => self.firsts.get(i + 1).copied(),
        }
    }

    /// The first key after `counter`.
    fn after(&self, counter: u64) -> Option<u64> {
        let i = self.chunk_of(counter).unwrap_or(0);
        let c = self.chunks.get(i)?;
        let j = c.counters.partition_point(|&k| k <= counter);
        match c.counters.get(j) {
            Some(&k) => Some(k),
            None => self.firsts.get(i + 1).copied(),
        }
    }

    /// Appends a key after every other.
    fn push_last(&mut self, counter: u64, leaf: u32) {
        match self.chunks.last_mut() {
            Some(c) if c.counters.len() < CHUNK => {
                c.counters.push(counter);
                c.leaves.push(leaf);
            }
            _ => {
                let mut c = Chunk::new();
                c.counters.push(counter);
                c.leaves.push(leaf);
                self.chunks.push(c);
                self.firsts.push(counter);
            }
        }
    }

    fn insert(&mut self, counter: u64, leaf: u32) {
        let last = self.chunks.last().and_then(|c| c.counters.last());
        if last.is_none_or(|&k| k < counter) {
            // A new run: the replica's counters only grow.
            self.push_last(counter, leaf);
            return;
        }
        let i = self.chunk_of(counter).unwrap_or(0);
        let c = &mut self.chunks[i];
        let j = c.counters.partition_point(|&k| k < counter);
        if c.counters.get(j) == Some(&counter) {
            c.leaves[j] = leaf;
            return;
        }
        if c.counters.len() == CHUNK {
            // Full: move its upper half into a new chunk after it.
            let mut upper = Chunk::new();
            upper.counters.extend(c.counters.drain(CHUNK / 2..));
            upper.leaves.extend(c.leaves.drain(CHUNK / 2..));
            self.firsts.insert(i + 1, upper.counters[0]);
            self.chunks.insert(i + 1, upper);
            return self.insert(counter, leaf);
        }
        c.counters.insert(j, counter);
        c.leaves.insert(j, leaf);
        if j == 0 {
            self.firsts[i] = counter;
        }
    }

    fn remove(&mut self, counter: u64) {
        let Some(i) = self.chunk_of(counter) else {
            return;
        };
        let c = &mut self.chunks[i];
        let Ok(j) = c.counters.binary_search(&counter) else {
            return;
        };
        c.counters.remove(j);
        c.leaves.remove(j);
        if c.counters.is_empty() {
            self.chunks.remove(i);
            self.firsts.remove(i);
        } else if j == 0 {
            self.firsts[i] = c.counters[0];
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What the index replaced, as the reference: a sorted map of keys.
    fn reference_leaf(map: &BTreeMap<Id, u32>, id: Id) -> Option<u32> {
        map.range(..=id)
            .next_back()
            .filter(|(k, _)| k.replica == id.replica)
            .map(|(_, &l)| l)
    }

    fn reference_move(
        map: &mut BTreeMap<Id, u32>,
        start: Id,
        end: u64,
        to: u32,
        holds_end: impl Fn(u32) -> bool,
    ) {
        let end = Id::new(start.replica, end);
        let has_end = map.contains_key(&end);
        let below = map
            .range(..end)
            .next_back()
            .filter(|(k, _)| k.replica == end.replica)
            .map(|(_, &l)| l);
        let inside: Vec<Id> = map
            .range(start..end)
            .map(|(&k, _)| k)
            .filter(|&k| k > start)
            .collect();
        for k in inside {
            map.remove(&k);
        }
        map.insert(start, to);
        if !has_end {
            if let Some(leaf) = below.filter(|&l| l != to) {
                if holds_end(leaf) {
                    map.insert(end, leaf);
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Insert(u64, u32),
        Move(u64, u64, u32, bool),
    }

    fn step() -> impl Strategy<Value = (u8, Step)> {
        (
            0u8..3,
            prop_oneof![
                (0u64..400, 0u32..8).prop_map(|(c, l)| Step::Insert(c, l)),
                (0u64..400, 1u64..40, 0u32..8, any::<bool>()).prop_map(|(c, n, l, h)| Step::Move(
                    c,
                    c + n,
                    l,
                    h
                )),
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The chunked index answers as the sorted map it replaced, after
        /// any mix of inserts (in order and not) and moves, over several
        /// chunks and replicas.
        #[test]
        fn matches_a_sorted_map(steps in proptest::collection::vec(step(), 1..400)) {
            let mut index = IdIndex::default();
            let mut map = BTreeMap::new();
            for (r, s) in steps {
                let replica = ReplicaId(r as u64 * 7);
                match s {
                    Step::Insert(c, l) => {
                        index.insert(Id::new(replica, c), l);
                        map.insert(Id::new(replica, c), l);
                    }
                    Step::Move(c, e, l, h) => {
                        let holds = |leaf: u32| h ^ leaf.is_multiple_of(2);
                        index.move_range(Id::new(replica, c), e, l, holds);
                        reference_move(&mut map, Id::new(replica, c), e, l, holds);
                    }
                }
                for c in (0..450).step_by(5) {
                    let id = Id::new(replica, c);
                    prop_assert_eq!(index.leaf_of(id), reference_leaf(&map, id), "{:?}", id);
                }
            }
            let rebuilt = IdIndex::from_sorted(map.iter().map(|(&k, &l)| (k, l)));
            for (&k, &l) in &map {
                prop_assert_eq!(rebuilt.leaf_of(k), Some(l));
                prop_assert_eq!(index.leaf_of(k), Some(l));
            }
        }
    }
}
