//! What the host needs of durable storage: the real file store
//! ([`crate::store::Store`]) and the simulator's disk both provide it.

use crate::doc::{Op, ReplicaId};
use crate::store::{Store, StoreError};

/// A replica's durable storage. Every method that returns `Ok` has made
/// its change durable (synced): the host acknowledges and sends nothing
/// that a crash could take back.
pub trait Storage {
    /// The replica id the storage holds (changed by [`Storage::rejoin`] and
    /// [`Storage::set_replica`]).
    fn replica(&self) -> ReplicaId;
    /// Appends `ops`, written at `unix_ms`, durably. On error nothing of
    /// the batch may be taken for written (a later append retries it).
    fn append(&mut self, ops: &[Op], unix_ms: u64) -> Result<(), String>;
    /// True when the log has grown enough to be folded into a snapshot.
    fn needs_compaction(&self) -> bool;
    /// Replaces the log with `snapshot` (`Doc::encode_snapshot` of a
    /// document holding everything appended so far).
    fn compact(&mut self, snapshot: &[u8]) -> Result<(), String>;
    /// The node rejoined as `replica` with the document `snapshot`.
    fn rejoin(&mut self, replica: ReplicaId, snapshot: &[u8]) -> Result<(), String>;
    /// The node makes its edits under `replica` from now on (a fresh id
    /// for this run; the log keeps the old id's ops as they are).
    fn set_replica(&mut self, replica: ReplicaId) -> Result<(), String>;
    /// Replaces the stored membership (`node::Membership`, encoded), whole:
    /// after a crash the old one or the new one is found, never a mix.
    fn save_membership(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// The record of versions as stored (`host::Versions`): its batches,
    /// and whether it was whole. A storage without one keeps it in memory.
    fn load_versions(&self) -> (Vec<Vec<u8>>, bool) {
        (Vec::new(), true)
    }
    /// Appends a batch to the record of versions, or replaces the record
    /// with it (`whole`). Need not be synced (it is rebuilt at boot).
    fn save_versions(&mut self, _batch: &[u8], _whole: bool) -> Result<(), String> {
        Ok(())
    }
    /// The tags as stored (`host::Tags`, encoded).
    fn load_tags(&self) -> Option<Vec<u8>> {
        None
    }
    /// Replaces the stored tags, whole and durably.
    fn save_tags(&mut self, _bytes: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

impl Storage for Store {
    fn replica(&self) -> ReplicaId {
        Store::replica(self)
    }
    fn append(&mut self, ops: &[Op], unix_ms: u64) -> Result<(), String> {
        Store::append(self, ops, unix_ms).map_err(|e: StoreError| e.to_string())
    }
    fn needs_compaction(&self) -> bool {
        Store::needs_compaction(self)
    }
    fn compact(&mut self, snapshot: &[u8]) -> Result<(), String> {
        Store::compact(self, snapshot).map_err(|e| e.to_string())
    }
    fn rejoin(&mut self, replica: ReplicaId, snapshot: &[u8]) -> Result<(), String> {
        Store::rejoin(self, replica, snapshot).map_err(|e| e.to_string())
    }
    fn set_replica(&mut self, replica: ReplicaId) -> Result<(), String> {
        Store::set_replica(self, replica).map_err(|e| e.to_string())
    }
    fn save_membership(&mut self, bytes: &[u8]) -> Result<(), String> {
        Store::save_membership(self, bytes).map_err(|e| e.to_string())
    }
    fn load_versions(&self) -> (Vec<Vec<u8>>, bool) {
        Store::load_versions(self)
    }
    fn save_versions(&mut self, batch: &[u8], whole: bool) -> Result<(), String> {
        Store::save_versions(self, batch, whole).map_err(|e| e.to_string())
    }
    fn load_tags(&self) -> Option<Vec<u8>> {
        Store::load_tags(self)
    }
    fn save_tags(&mut self, bytes: &[u8]) -> Result<(), String> {
        Store::save_tags(self, bytes).map_err(|e| e.to_string())
    }
}
