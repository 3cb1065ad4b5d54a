//! Snapshots for newcomers: a peer that lacks most of the document gets it
//! in one piece instead of op by op.
//!
//! When a peer's digest shows it lacks at least `Config::snapshot_min_ops`
//! counters and more than half of what we have (a newcomer, or a replica
//! back from a long absence), we send it [`Doc::encode_snapshot`](crate::doc::Doc::encode_snapshot): the
//! whole history plus the document order, which the receiver loads without
//! integrating any op (several times faster than applying the ops, and
//! about half their bytes).
//!
//! - The snapshot is cut into chunks that each fill one datagram, and sent
//!   through the same window, acks and loss detection as ops: a lost chunk
//!   is sent again, so a transfer resumes after loss without starting over.
//! - While it is on its way, the peer's `pull` point includes the snapshot's
//!   version, so the ops it holds are not also queued; ops made after it
//!   flow as usual (the receiver holds them until the snapshot lands).
//! - The receiver keeps one partial snapshot per sender, as the chunks
//!   received (memory is what arrived, never what a chunk claims; all
//!   senders together stay under [`MAX_SNAPSHOT_BYTES`]), and loads it
//!   with [`Doc::absorb_snapshot`](crate::doc::Doc::absorb_snapshot) when
//!   every byte is there: its own ops the snapshot lacks are kept. A
//!   snapshot that does not load is dropped and counted; anti-entropy then
//!   catches up op by op.
//! - Once every chunk is acknowledged the peer is known to have the
//!   snapshot's version; its next digest confirms it.
//! - Encoding is the slow part of serving a newcomer (milliseconds for a
//!   long history), so the node keeps the last snapshot of its own
//!   document ([`Cached`]) and sends it again while the document has not
//!   changed: to every newcomer, and to the next one after a loaded
//!   snapshot (the bytes received are the document). A driver can make
//!   it ahead of time ([`Node::prepare_snapshot`](super::Node::prepare_snapshot),
//!   e.g. at start) or hand over the bytes it just compacted its log into
//!   ([`Node::offer_snapshot`](super::Node::offer_snapshot)).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::doc::{Doc, VersionVector};
use crate::node::Stats;
use crate::wire::SnapshotChunk;

/// Largest snapshot accepted from a peer, in bytes. (A snapshot is
/// compressed: this is a history of hundreds of millions of chars.)
pub const MAX_SNAPSHOT_BYTES: u32 = 256 << 20;

/// A snapshot of this node's document, encoded once and sent to every
/// newcomer while the document stays at `version`.
#[derive(Clone, Debug)]
pub struct Cached {
    pub version: VersionVector,
    pub bytes: Arc<[u8]>,
}

/// The snapshot of `doc` as it is now: the cached one if still current,
/// else a new one, cached in its place.
pub fn current(cache: &mut Option<Cached>, doc: &Doc, stats: &mut Stats) -> Arc<[u8]> {
    match cache {
        Some(c) if &c.version == doc.version_ref() => c.bytes.clone(),
        _ => {
            stats.snapshots_encoded += 1;
            let bytes: Arc<[u8]> = doc.encode_snapshot().into();
            *cache = Some(Cached {
                version: doc.version(),
                bytes: bytes.clone(),
            });
            bytes
        }
    }
}

/// A snapshot on its way to one peer.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: u64,
    pub bytes: Arc<[u8]>,
    /// What the snapshot holds.
    pub version: VersionVector,
    /// Chunks (offset, length) still to send, in order; lost ones go back
    /// to the front.
    pub unsent: std::collections::VecDeque<(u32, u32)>,
    /// Bytes acknowledged so far.
    pub acked: u64,
}

impl Outgoing {
    pub fn new(id: u64, bytes: Arc<[u8]>, version: VersionVector, chunk: usize) -> Outgoing {
        let chunk = chunk.max(1) as u32;
        let total = bytes.len() as u32;
        let unsent = (0..total.div_ceil(chunk))
            .map(|i| (i * chunk, chunk.min(total - i * chunk)))
            .collect();
        Outgoing {
            id,
            bytes,
            version,
            unsent,
            acked: 0,
        }
    }

    /// The frame for chunk `(offset, len)`.
    pub fn frame(&self, (offset, len): (u32, u32)) -> SnapshotChunk {
        let range = offset as usize..(offset + len) as usize;
        SnapshotChunk {
            id: self.id,
            total: self.bytes.len() as u32,
            offset,
            bytes: self.bytes[range].to_vec(),
        }
    }

    /// Every byte is acknowledged.
    pub fn done(&self) -> bool {
        self.acked >= self.bytes.len() as u64
    }
}

/// Whether a peer that has `theirs` should get a snapshot of a document at
/// `ours` instead of ops.
pub fn worth_sending(ours: &VersionVector, theirs: &VersionVector, min_ops: u64) -> bool {
    let lacks: u64 = ours
        .iter()
        .map(|(r, n)| n.saturating_sub(theirs.get(r)))
        .sum();
    lacks >= min_ops.max(1) && lacks * 2 > ours.total()
}

/// A snapshot arriving from one peer.
#[derive(Clone, Debug, Default)]
pub struct Incoming {
    id: u64,
    total: u32,
    /// Received chunks by offset. Kept apart until the last one arrives,
    /// so memory is what was received, never what a chunk claims.
    chunks: BTreeMap<u32, Vec<u8>>,
    received: u64,
    /// The last snapshot completed: late copies of its chunks are ignored.
    completed: Option<u64>,
}

/// What became of a received chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkResult {
    /// Kept (or already had); more to come.
    Partial,
    /// The last byte arrived: the whole snapshot.
    Complete(Vec<u8>),
    /// Refused: too large.
    Refused,
}

impl Incoming {
    /// Takes a chunk. A chunk of another snapshot starts over (the sender
    /// moved on to a newer one, or restarted).
    pub fn take(&mut self, c: SnapshotChunk) -> ChunkResult {
        if c.total > MAX_SNAPSHOT_BYTES {
            return ChunkResult::Refused;
        }
        if self.completed == Some(c.id) {
            return ChunkResult::Partial;
        }
        if c.id != self.id || c.total != self.total || self.chunks.is_empty() {
            *self = Incoming {
                id: c.id,
                total: c.total,
                completed: self.completed,
                ..Incoming::default()
            };
        }
        let (offset, len) = (c.offset, c.bytes.len() as u32);
        // Chunks of one snapshot are cut the same way every time: a chunk
        // overlapping one we have is that one again.
        let overlaps = self
            .chunks
            .range(..offset + len)
            .next_back()
            .is_some_and(|(&o, b)| o + b.len() as u32 > offset);
        if overlaps {
            return ChunkResult::Partial;
        }
        self.chunks.insert(offset, c.bytes);
        self.received += len as u64;
        if self.received == self.total as u64 {
            // Disjoint chunks inside 0..total that add up to total: they
            // tile it, in order.
            let mut whole = Vec::with_capacity(self.total as usize);
            for (_, b) in std::mem::take(&mut self.chunks) {
                whole.extend_from_slice(&b);
            }
            self.completed = Some(self.id);
            return ChunkResult::Complete(whole);
        }
        ChunkResult::Partial
    }

    /// Bytes held for the snapshot in progress.
    pub fn received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::ReplicaId;

    #[test]
    fn chunks_reassemble_in_any_order_with_duplicates() {
        let bytes: Arc<[u8]> = (0..1000u32).map(|i| i as u8).collect::<Vec<_>>().into();
        let out = Outgoing::new(7, bytes.clone(), VersionVector::new(), 128);
        let mut chunks: Vec<_> = out.unsent.iter().map(|&c| out.frame(c)).collect();
        assert_eq!(chunks.len(), 8);
        chunks.reverse();
        chunks.insert(3, chunks[1].clone());
        let mut inc = Incoming::default();
        let mut result = ChunkResult::Partial;
        for c in chunks {
            assert_eq!(result, ChunkResult::Partial);
            result = inc.take(c);
        }
        assert_eq!(result, ChunkResult::Complete(bytes.to_vec()));
        // A late copy of a chunk does not start the same snapshot again.
        assert_eq!(inc.take(out.frame(out.unsent[0])), ChunkResult::Partial);
        assert!(inc.chunks.is_empty());
    }

    #[test]
    fn a_newer_snapshot_replaces_a_partial_one_and_huge_ones_are_refused() {
        let a = Outgoing::new(1, vec![1u8; 300].into(), VersionVector::new(), 100);
        let b = Outgoing::new(2, vec![2u8; 200].into(), VersionVector::new(), 100);
        let mut inc = Incoming::default();
        assert_eq!(inc.take(a.frame(a.unsent[0])), ChunkResult::Partial);
        assert_eq!(inc.take(b.frame(b.unsent[0])), ChunkResult::Partial);
        assert_eq!(
            inc.take(b.frame(b.unsent[1])),
            ChunkResult::Complete(vec![2u8; 200])
        );
        let huge = SnapshotChunk {
            id: 3,
            total: MAX_SNAPSHOT_BYTES + 1,
            offset: 0,
            bytes: vec![0],
        };
        assert_eq!(inc.take(huge), ChunkResult::Refused);
    }

    #[test]
    fn a_chunk_far_out_holds_only_its_own_bytes() {
        let mut inc = Incoming::default();
        let far = SnapshotChunk {
            id: 9,
            total: MAX_SNAPSHOT_BYTES,
            offset: MAX_SNAPSHOT_BYTES - 10,
            bytes: vec![1; 10],
        };
        assert_eq!(inc.take(far), ChunkResult::Partial);
        assert_eq!(inc.received(), 10);
    }

    #[test]
    fn only_a_peer_lacking_most_of_the_document_gets_one() {
        let mut ours = VersionVector::new();
        ours.set(ReplicaId(1), 10_000);
        let mut theirs = VersionVector::new();
        assert!(worth_sending(&ours, &theirs, 4096));
        theirs.set(ReplicaId(1), 6_000);
        assert!(!worth_sending(&ours, &theirs, 4096), "has most of it");
        assert!(
            !worth_sending(&ours, &VersionVector::new(), 20_000),
            "small doc"
        );
    }
}
