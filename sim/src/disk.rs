//! A simulated disk under a hosted replica: the simulator's
//! [`Storage`], faulty the way real disks and kernels are to a process.
//!
//! The host appends each batch durably before it sends anything (see
//! `rumor::host`), so an honest disk loses nothing it acknowledged. What it
//! can do, with probability `fault_p` per write (`--disk-faults`):
//!
//! - a sync fails (EIO): the append returns an error, yet a prefix of the
//!   batch may have reached the platter; if the process crashes before its
//!   next write, that prefix comes back at boot, its last record possibly
//!   torn (cut off, as the file store cuts a torn tail);
//! - the disk fills up (ENOSPC) for the next few writes;
//! - a compaction's snapshot, or the membership, cannot be written (the
//!   old file stays, as an atomic rename leaves it).
//!
//! A lying disk (`--sabotage no-sync`) acknowledges writes it never syncs:
//! a crash loses them, and the checker must notice.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rumor::host::{Entry, Recovered, Storage};
use rumor::{Doc, Op, ReplicaId, VersionVector};

/// The log is folded into a snapshot past this many entries (and past
/// the snapshot's own size in ops), so runs boot from snapshots too.
pub const COMPACT_MIN_ENTRIES: usize = 256;

#[derive(Clone)]
pub struct SimDisk {
    replica: ReplicaId,
    snapshot: Option<Vec<u8>>,
    /// Ops in the snapshot (for the compaction rule).
    snapshot_ops: usize,
    /// Synced entries after the snapshot.
    log: Vec<Entry>,
    /// The membership as last written (see `rumor::node::Membership`).
    membership: Option<Vec<u8>>,
    /// Written by an append that failed: on the platter or not, as a crash
    /// decides; forgotten by the next append that succeeds (which writes
    /// past them, as the file store cuts a failed batch back).
    limbo: Vec<Entry>,
    /// Acknowledged but never synced (a lying disk only).
    unsynced: Vec<Entry>,
    /// Which ids are durable (snapshot and log).
    synced_version: VersionVector,
    rng: ChaCha8Rng,
    fault_p: f64,
    lying: bool,
    /// Writes that will still fail for lack of space.
    full_for: u32,
    pub faults: u64,
    pub syncs: u64,
    pub compactions: u64,
}

impl SimDisk {
    /// An empty disk for `replica`; each write meets a fault with
    /// probability `fault_p`.
    pub fn new(replica: ReplicaId, rng: ChaCha8Rng, fault_p: f64, lying: bool) -> SimDisk {
        SimDisk {
            replica,
            snapshot: None,
            snapshot_ops: 0,
            log: Vec::new(),
            membership: None,
            limbo: Vec::new(),
            unsynced: Vec::new(),
            synced_version: VersionVector::new(),
            rng,
            fault_p,
            lying,
            full_for: 0,
            faults: 0,
            syncs: 0,
            compactions: 0,
        }
    }

    /// What survives the process dying now. Returns the ops lost that had
    /// been acknowledged (only a lying disk loses any).
    pub fn crash(&mut self) -> usize {
        let lost = self.unsynced.len();
        self.unsynced.clear();
        if !self.limbo.is_empty() {
            // A prefix of the failed write made it; its last record torn.
            let kept = self.rng.random_range(0..=self.limbo.len());
            self.limbo.truncate(kept.saturating_sub(1));
            let limbo = std::mem::take(&mut self.limbo);
            for entry in &limbo {
                self.note_synced(&entry.op);
            }
            self.log.extend(limbo);
        }
        self.full_for = 0;
        lost
    }

    /// What a booting replica reads back.
    pub fn recover(&self) -> Recovered {
        Recovered {
            replica: self.replica,
            created: false,
            snapshot: self.snapshot.clone(),
            entries: self.log.clone(),
            membership: self.membership.clone(),
            former_ids: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Which ids survive any crash.
    pub fn synced_version(&self) -> &VersionVector {
        &self.synced_version
    }

    fn note_synced(&mut self, op: &Op) {
        let span = op.span();
        if span.end_counter() > self.synced_version.get(span.start.replica) {
            self.synced_version
                .set(span.start.replica, span.end_counter());
        }
    }

    /// Draws whether this write meets a fault.
    fn fault(&mut self) -> bool {
        self.fault_p > 0.0 && self.rng.random::<f64>() < self.fault_p
    }
}

fn entries(ops: &[Op], unix_ms: u64) -> impl Iterator<Item = Entry> + '_ {
    ops.iter().map(move |op| Entry {
        unix_ms,
        op: op.clone(),
    })
}

impl Storage for SimDisk {
    fn replica(&self) -> ReplicaId {
        self.replica
    }

    fn append(&mut self, ops: &[Op], unix_ms: u64) -> Result<(), String> {
        if self.full_for > 0 {
            self.full_for -= 1;
            return Err("No space left on device (simulated)".into());
        }
        if self.fault() {
            self.faults += 1;
            if self.rng.random::<bool>() {
                self.full_for = self.rng.random_range(1..16);
                return Err("No space left on device (simulated)".into());
            }
            let reached = self.rng.random_range(0..=ops.len());
            self.limbo = entries(&ops[..reached], unix_ms).collect();
            return Err("Input/output error: sync failed (simulated)".into());
        }
        self.limbo.clear();
        if self.lying {
            self.unsynced.extend(entries(ops, unix_ms));
            return Ok(());
        }
        for op in ops {
            self.note_synced(op);
        }
        self.log.extend(entries(ops, unix_ms));
        self.syncs += 1;
        Ok(())
    }

    fn needs_compaction(&self) -> bool {
        self.log.len() > COMPACT_MIN_ENTRIES.max(self.snapshot_ops)
    }

    fn compact(&mut self, snapshot: &[u8]) -> Result<(), String> {
        if self.fault() {
            self.faults += 1;
            return Err("cannot write the snapshot (simulated)".into());
        }
        // Everything unsynced is in the snapshot now, synced by its write.
        for entry in std::mem::take(&mut self.unsynced) {
            self.note_synced(&entry.op);
        }
        self.snapshot_ops += self.log.len();
        self.snapshot = Some(snapshot.to_vec());
        self.log.clear();
        self.limbo.clear();
        self.compactions += 1;
        Ok(())
    }

    fn rejoin(&mut self, replica: ReplicaId, snapshot: &[u8]) -> Result<(), String> {
        let doc = Doc::decode_history(replica, snapshot).map_err(|e| e.to_string())?;
        self.replica = replica;
        self.unsynced.clear();
        self.synced_version = doc.version();
        self.snapshot_ops = doc.version_ref().total() as usize;
        self.snapshot = Some(snapshot.to_vec());
        self.log.clear();
        self.limbo.clear();
        Ok(())
    }

    fn set_replica(&mut self, replica: ReplicaId) -> Result<(), String> {
        // One small file replaced whole, as the membership is.
        if self.full_for > 0 {
            self.full_for -= 1;
            return Err("No space left on device (simulated)".into());
        }
        if self.fault() {
            self.faults += 1;
            return Err("cannot write the replica id (simulated)".into());
        }
        self.replica = replica;
        Ok(())
    }

    fn save_membership(&mut self, bytes: &[u8]) -> Result<(), String> {
        // Replaced whole (temporary file and rename): a failed write or a
        // full disk leaves the old one.
        if self.full_for > 0 {
            self.full_for -= 1;
            return Err("No space left on device (simulated)".into());
        }
        if self.fault() {
            self.faults += 1;
            return Err("cannot write the membership (simulated)".into());
        }
        self.membership = Some(bytes.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rumor::{Id, OpKind};

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
    fn an_honest_disk_keeps_every_acknowledged_write() {
        let mut d = SimDisk::new(ReplicaId(1), ChaCha8Rng::seed_from_u64(1), 0.0, false);
        d.append(&[insert(1, 0, "ab")], 5).unwrap();
        d.append(&[insert(2, 0, "xyz")], 6).unwrap();
        assert_eq!(d.crash(), 0);
        let r = d.recover();
        assert_eq!(r.entries.len(), 2);
        assert_eq!(d.synced_version().get(ReplicaId(2)), 3);
    }

    #[test]
    fn a_lying_disk_loses_what_it_acknowledged() {
        let mut d = SimDisk::new(ReplicaId(1), ChaCha8Rng::seed_from_u64(1), 0.0, true);
        d.append(&[insert(1, 0, "ab")], 5).unwrap();
        assert_eq!(d.crash(), 1);
        assert!(d.recover().entries.is_empty());
    }

    #[test]
    fn a_failed_write_is_refused_and_at_most_a_prefix_of_it_survives_a_crash() {
        let mut failures = 0;
        for seed in 0..200 {
            let mut d = SimDisk::new(ReplicaId(1), ChaCha8Rng::seed_from_u64(seed), 0.5, false);
            let batch = [insert(1, 0, "a"), insert(1, 1, "b"), insert(1, 2, "c")];
            if d.append(&batch, 1).is_ok() {
                continue;
            }
            failures += 1;
            d.crash();
            let back: Vec<Op> = d.recover().entries.into_iter().map(|e| e.op).collect();
            assert!(back.len() < batch.len(), "the last record is torn");
            assert_eq!(back[..], batch[..back.len()], "a prefix, in order");
        }
        assert!(failures > 50);
    }
}
