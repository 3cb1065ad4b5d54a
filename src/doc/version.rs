//! Version vectors: what a replica has seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::id::{Id, IdSpan, ReplicaId};

/// For each replica, how many of its counters have been seen: `v[r] == n`
/// means counters `0..n` of `r`, and no others. Because a replica's inserts
/// and deletes share one counter, this names exactly a set of ops.
///
/// A `BTreeMap` keeps iteration (and so encoding) in a fixed order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionVector(BTreeMap<ReplicaId, u64>);

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many counters of `replica` are included (0 if none).
    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.0.get(&replica).copied().unwrap_or(0)
    }

    /// Sets the count for `replica` (removing it at 0, so equal sets compare equal).
    pub fn set(&mut self, replica: ReplicaId, count: u64) {
        if count == 0 {
            self.0.remove(&replica);
        } else {
            self.0.insert(replica, count);
        }
    }

    pub fn contains(&self, id: Id) -> bool {
        id.counter < self.get(id.replica)
    }

    /// Whether every id of `span` is included.
    pub fn contains_span(&self, span: &IdSpan) -> bool {
        span.end_counter() <= self.get(span.start.replica)
    }

    /// Raises each entry to the larger of the two.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&r, &n) in &other.0 {
            if n > self.get(r) {
                self.0.insert(r, n);
            }
        }
    }

    /// True when `self` includes everything `other` does. One pass over
    /// both (sorted) maps, no lookups: the node asks this per peer often.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        let mut mine = self.0.iter().peekable();
        for (r, &n) in &other.0 {
            loop {
                match mine.peek() {
                    Some((q, _)) if *q < r => {
                        mine.next();
                    }
                    Some((q, &m)) if *q == r => {
                        if m < n {
                            return false;
                        }
                        break;
                    }
                    // `r` missing from `self`: fine only for a 0 entry (which
                    // `set` never makes, but a decoded vector may hold).
                    _ if n > 0 => return false,
                    _ => break,
                }
            }
        }
        true
    }

    /// Entries in replica order.
    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.0.iter().map(|(&r, &n)| (r, n))
    }

    /// Total number of ids included (the sum of all entries).
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The spans `self` has that `other` lacks, one per replica at most.
    pub fn missing_from(&self, other: &VersionVector) -> Vec<IdSpan> {
        self.iter()
            .filter_map(|(r, n)| {
                let have = other.get(r);
                (n > have).then(|| IdSpan::new(Id::new(r, have), n - have))
            })
            .collect()
    }
}

impl FromIterator<(ReplicaId, u64)> for VersionVector {
    fn from_iter<T: IntoIterator<Item = (ReplicaId, u64)>>(iter: T) -> Self {
        let mut v = VersionVector::new();
        for (r, n) in iter {
            v.set(r, n);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(u64, u64)]) -> VersionVector {
        VersionVector(entries.iter().map(|&(r, n)| (ReplicaId(r), n)).collect())
    }

    #[test]
    fn dominates_matches_its_definition() {
        let cases = [
            (vec![], vec![], true),
            (vec![(1, 3)], vec![], true),
            (vec![], vec![(1, 3)], false),
            (vec![], vec![(1, 0)], true),
            (vec![(1, 3), (2, 5)], vec![(2, 5)], true),
            (vec![(1, 3), (2, 5)], vec![(2, 6)], false),
            (vec![(1, 3), (3, 1)], vec![(2, 1)], false),
            (vec![(1, 3), (3, 1)], vec![(1, 2), (3, 1)], true),
            (vec![(2, 1)], vec![(1, 0), (2, 1), (3, 0)], true),
        ];
        for (a, b, want) in cases {
            let (a, b) = (vv(&a), vv(&b));
            let by_definition = b.0.iter().all(|(&r, &n)| a.get(r) >= n);
            assert_eq!(by_definition, want, "{a:?} {b:?}");
            assert_eq!(a.dominates(&b), want, "{a:?} {b:?}");
        }
    }
}
