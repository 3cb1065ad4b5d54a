//! A simulated durable log, like a file on a disk: appended writes sit in a
//! buffer until synced, and a crash loses whatever was not synced yet.

use rumor::{Op, VersionVector};

#[derive(Default, Clone, Debug)]
pub struct DurableStore {
    /// Ops that survive a crash, in the order they were written (a causal order).
    synced: Vec<Op>,
    /// Written but not yet synced: gone if the node crashes now.
    unsynced: Vec<Op>,
    /// Which ids `synced` holds.
    synced_version: VersionVector,
    pub syncs: u64,
}

impl DurableStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends ops to the log (not yet durable).
    pub fn append(&mut self, ops: impl IntoIterator<Item = Op>) {
        self.unsynced.extend(ops);
    }

    /// Makes every appended op durable (fsync).
    pub fn sync(&mut self) {
        if self.unsynced.is_empty() {
            return;
        }
        for op in &self.unsynced {
            let span = op.span();
            let have = self.synced_version.get(span.start.replica);
            if span.end_counter() > have {
                self.synced_version
                    .set(span.start.replica, span.end_counter());
            }
        }
        self.synced.append(&mut self.unsynced);
        self.syncs += 1;
    }

    /// Replaces the whole log by `ops` (a causal order), durably at once:
    /// a node that loaded a snapshot, or rejoined as a new replica, writes
    /// its new state whole (as rumor's store does), not as ops appended to
    /// the old one.
    pub fn replace(&mut self, ops: Vec<Op>) {
        self.synced.clear();
        self.unsynced.clear();
        self.synced_version = VersionVector::new();
        self.unsynced = ops;
        self.sync();
    }

    /// The disk after a crash: unsynced writes are lost. Returns how many ops were lost.
    pub fn crash(&mut self) -> usize {
        let lost = self.unsynced.len();
        self.unsynced.clear();
        lost
    }

    /// What a restarted node reads back.
    pub fn synced_ops(&self) -> &[Op] {
        &self.synced
    }

    /// Which ids are durable. Because ops are logged in causal order from a
    /// version-vector frontier, the synced ids of each replica form a prefix.
    pub fn synced_version(&self) -> &VersionVector {
        &self.synced_version
    }

    pub fn unsynced_len(&self) -> usize {
        self.unsynced.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumor::{Id, OpKind, ReplicaId};

    fn insert(replica: u64, counter: u64, text: &str) -> Op {
        Op {
            id: Id::new(ReplicaId(replica), counter),
            kind: OpKind::Insert {
                left: None,
                right: None,
                text: text.into(),
            },
        }
    }

    #[test]
    fn crash_loses_only_unsynced_writes() {
        let mut s = DurableStore::new();
        s.append([insert(1, 0, "ab")]);
        s.sync();
        s.append([insert(1, 2, "c"), insert(2, 0, "xyz")]);
        assert_eq!(s.unsynced_len(), 2);
        assert_eq!(s.crash(), 2);
        assert_eq!(s.synced_ops(), &[insert(1, 0, "ab")]);
        assert_eq!(s.synced_version().get(ReplicaId(1)), 2);
        assert_eq!(s.synced_version().get(ReplicaId(2)), 0);
        s.append([insert(2, 0, "xyz")]);
        s.sync();
        assert_eq!(s.crash(), 0);
        assert_eq!(s.synced_ops().len(), 2);
        assert_eq!(s.synced_version().get(ReplicaId(2)), 3);
    }
}
