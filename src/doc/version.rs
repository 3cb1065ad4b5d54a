//! Version vectors: what a replica has seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::id::{Id, IdSpan, ReplicaId};

/// For each replica, how many of its counters have been seen: `v[r] == n`
/// means counters `0..n` of `r`, and no others. Because a replica's inserts
/// and deletes share one counter, this names exactly a set of ops.
///
/// A `BTreeMap` keeps iteration (and so encoding) in a fixed order. The
/// total is kept beside it (the node asks for it after every input, in
/// groups of hundreds of replicas); it is encoded as the map alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "BTreeMap<ReplicaId, u64>", into = "BTreeMap<ReplicaId, u64>")]
pub struct VersionVector(BTreeMap<ReplicaId, u64>, u64);

impl From<BTreeMap<ReplicaId, u64>> for VersionVector {
    fn from(counts: BTreeMap<ReplicaId, u64>) -> Self {
        // Wrapping, as any sum of decoded counts may be: never a panic.
        let total = counts.values().fold(0u64, |t, &n| t.wrapping_add(n));
        VersionVector(counts, total)
    }
}

impl From<VersionVector> for BTreeMap<ReplicaId, u64> {
    fn from(v: VersionVector) -> Self {
        v.0
    }
}

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
        let old = if count == 0 {
            self.0.remove(&replica)
        } else {
            self.0.insert(replica, count)
        };
        self.1 = self.1.wrapping_sub(old.unwrap_or(0)).wrapping_add(count);
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
            let have = self.get(r);
            if n > have {
                self.0.insert(r, n);
                self.1 = self.1.wrapping_sub(have).wrapping_add(n);
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
        self.1
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
        VersionVector::from(
            entries
                .iter()
                .map(|&(r, n)| (ReplicaId(r), n))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn the_kept_total_is_the_sum_and_is_not_encoded() {
        let sum = |v: &VersionVector| v.0.values().sum::<u64>();
        let mut a = VersionVector::new();
        a.set(ReplicaId(1), 5);
        a.set(ReplicaId(2), 7);
        a.set(ReplicaId(1), 9);
        assert_eq!((a.total(), sum(&a)), (16, 16));
        a.set(ReplicaId(2), 0);
        assert_eq!((a.total(), sum(&a)), (9, 9));
        let b = vv(&[(1, 3), (3, 4), (4, 0)]);
        a.merge(&b);
        assert_eq!((a.total(), sum(&a)), (13, 13));
        // Encoded as the map alone (the format peers and disks know), and
        // decoded with its total.
        let bytes = postcard::to_allocvec(&a).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&a.0).unwrap());
        let back: VersionVector = postcard::from_bytes(&bytes).unwrap();
        assert_eq!((back.total(), &back), (13, &a));
        // Counts from the network may sum past u64: no panic.
        let huge = vv(&[(1, u64::MAX), (2, 2)]);
        assert_eq!(huge.total(), 1);
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
