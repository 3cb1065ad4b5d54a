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
//! - Each chunk is inflated ([`Inflater`]) as soon as the chunks before it
//!   are here, while the next ones are on their way: when the last one
//!   lands, what is left is loading the inflated body. A chunk inflates to
//!   at most 64 times what has arrived, so a partial snapshot holds little
//!   more than its bytes.
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

use crate::doc::{self, Doc, Inflated, Inflater, VersionVector};
use crate::node::{Stats, Time};
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
    id: u64,
    bytes: Arc<[u8]>,
    /// What the snapshot holds.
    version: VersionVector,
    /// Chunks (offset, length) still to send, in order; lost ones go back
    /// to the front.
    unsent: std::collections::VecDeque<(u32, u32)>,
    /// Bytes acknowledged so far.
    acked: u64,
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

/// The snapshot transfer to one peer: the snapshot on its way, if any,
/// and when the last one was acknowledged whole.
#[derive(Clone, Debug, Default)]
pub struct SnapshotSend {
    out: Option<Outgoing>,
    /// Asks (a `Join`, a digest lacking everything) the peer sent before
    /// it had loaded the last snapshot can still arrive for about an RTO
    /// after: they do not start another one.
    delivered: Option<Time>,
}

impl SnapshotSend {
    /// A snapshot is on its way.
    pub fn is_sending(&self) -> bool {
        self.out.is_some()
    }

    /// What the snapshot on its way holds.
    pub fn sending_version(&self) -> Option<&VersionVector> {
        self.out.as_ref().map(|o| &o.version)
    }

    /// A chunk waits to be sent (first or again).
    pub fn has_unsent(&self) -> bool {
        self.out.as_ref().is_some_and(|o| !o.unsent.is_empty())
    }

    /// Whether a new snapshot may start at `now`: none is on its way, and
    /// none was delivered within `rto`.
    pub fn is_free(&self, now: Time, rto: std::time::Duration) -> bool {
        let just_delivered = self.delivered.is_some_and(|at| now < at + rto);
        self.out.is_none() && !just_delivered
    }

    pub fn start(&mut self, out: Outgoing) {
        self.out = Some(out);
    }

    /// Offers the next unsent chunk to `push` (true if the datagram took
    /// it); returns (snapshot id, offset, length) of the chunk that went.
    pub fn send_chunk(
        &mut self,
        push: impl FnOnce(SnapshotChunk) -> bool,
    ) -> Option<(u64, u32, u32)> {
        let out = self.out.as_mut()?;
        let next = out.unsent.pop_front()?;
        if push(out.frame(next)) {
            Some((out.id, next.0, next.1))
        } else {
            out.unsent.push_front(next);
            None
        }
    }

    /// A datagram carrying `chunks` was acknowledged at `now`: if that
    /// completes the snapshot, it is delivered, and its version returned.
    pub fn acked(&mut self, chunks: &[(u64, u32, u32)], now: Time) -> Option<VersionVector> {
        let out = self.out.as_mut()?;
        for &(id, _, len) in chunks {
            if id == out.id {
                out.acked += len as u64;
            }
        }
        if !out.done() {
            return None;
        }
        self.delivered = Some(now);
        self.out.take().map(|o| o.version)
    }

    /// A datagram carrying `chunks` was lost: they go again, first.
    pub fn lost(&mut self, chunks: &[(u64, u32, u32)]) {
        if let Some(out) = &mut self.out {
            for &(id, offset, len) in chunks.iter().rev() {
                if id == out.id {
                    out.unsent.push_front((offset, len));
                }
            }
        }
    }

    /// Forgets the transfer (the peer is down or a new replica).
    pub fn clear(&mut self) {
        *self = SnapshotSend::default();
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
#[derive(Debug, Default)]
pub struct Incoming {
    id: u64,
    total: u32,
    /// Received chunks by offset. Kept apart until the last one arrives,
    /// so memory is what was received, never what a chunk claims.
    chunks: BTreeMap<u32, Vec<u8>>,
    received: u64,
    /// The last snapshot completed: late copies of its chunks are ignored.
    completed: Option<u64>,
    /// The snapshot inflated from its start up to `inflated_to`: each
    /// chunk is inflated as soon as the ones before it are here, while the
    /// next ones are on their way, so that little is left to do when the
    /// last one lands. `None` if inflating failed on the way (a part
    /// inflated further than what had arrived allows): the whole snapshot
    /// is inflated at once at the end.
    inflater: Option<Inflater>,
    inflated_to: u32,
}

/// What became of a received chunk.
#[derive(Debug)]
pub enum ChunkResult {
    /// Kept (or already had); more to come.
    Partial,
    /// The last byte arrived: the whole snapshot, and inflated (or why it
    /// does not inflate).
    Complete {
        bytes: Vec<u8>,
        inflated: Result<Inflated, doc::Error>,
    },
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
                inflater: Some(Inflater::new(c.total as usize)),
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
        while let (Some(inflater), Some(next)) =
            (self.inflater.as_mut(), self.chunks.get(&self.inflated_to))
        {
            self.inflated_to += next.len() as u32;
            if inflater.feed(next).is_err() {
                self.inflater = None;
            }
        }
        if self.received == self.total as u64 {
            // Disjoint chunks inside 0..total that add up to total: they
            // tile it, in order.
            let mut whole = Vec::with_capacity(self.total as usize);
            for (_, b) in std::mem::take(&mut self.chunks) {
                whole.extend_from_slice(&b);
            }
            self.completed = Some(self.id);
            let inflated = match self.inflater.take().map(Inflater::finish) {
                Some(Ok(inflated)) => Ok(inflated),
                _ => Inflater::whole(&whole),
            };
            return ChunkResult::Complete {
                bytes: whole,
                inflated,
            };
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

    fn completed(result: ChunkResult) -> Option<Vec<u8>> {
        match result {
            ChunkResult::Complete { bytes, .. } => Some(bytes),
            _ => None,
        }
    }

    /// A real snapshot, its chunks arriving out of order and twice: it is
    /// inflated on the way (each chunk once the ones before it are here)
    /// and loads to the same document; a chunk damaged on the way leaves
    /// it to be inflated, and refused, at the end.
    #[test]
    fn chunks_are_inflated_as_they_arrive_in_order() {
        let mut doc = Doc::new(ReplicaId(1));
        for i in 0..400 {
            doc.insert(i * 3 % (doc.len() + 1), "héllo ").unwrap();
        }
        let bytes: Arc<[u8]> = doc.encode_snapshot().into();
        let out = Outgoing::new(1, bytes.clone(), doc.version(), 100);
        let mut chunks: Vec<_> = out.unsent.iter().map(|&c| out.frame(c)).collect();
        assert!(chunks.len() > 10);
        chunks.swap(2, 5);
        chunks.insert(4, chunks[0].clone());
        let mut inc = Incoming::default();
        let mut last = None;
        let mut here = std::collections::BTreeSet::new();
        for c in &chunks {
            here.insert(c.offset);
            match inc.take(c.clone()) {
                ChunkResult::Complete { bytes, inflated } => last = Some((bytes, inflated)),
                ChunkResult::Partial => {
                    // Inflated up to the first chunk still missing.
                    let first_missing = (0..).find(|i| !here.contains(&(i * 100))).unwrap();
                    assert_eq!(inc.inflated_to, first_missing * 100);
                }
                ChunkResult::Refused => panic!("refused"),
            }
        }
        let (whole, inflated) = last.expect("complete");
        assert_eq!(&whole[..], &bytes[..]);
        let mut loaded = Doc::new(ReplicaId(2));
        loaded
            .absorb_inflated(&inflated.expect("inflated"))
            .unwrap();
        assert_eq!(loaded.text(), doc.text());

        let mut damaged = out.frame(out.unsent[3]);
        damaged.bytes[10] ^= 0xff;
        let mut inc = Incoming::default();
        let mut last = None;
        for (k, &c) in out.unsent.iter().enumerate() {
            let c = if k == 3 {
                damaged.clone()
            } else {
                out.frame(c)
            };
            if let ChunkResult::Complete { bytes, inflated } = inc.take(c) {
                last = Some((bytes, inflated));
            }
        }
        let (whole, inflated) = last.expect("complete");
        if let Ok(inflated) = inflated {
            // Damage the inflater did not notice is caught by the checks.
            assert!(Doc::new(ReplicaId(2)).absorb_inflated(&inflated).is_err());
        }
        assert!(Doc::new(ReplicaId(2)).absorb_snapshot(&whole).is_err());
    }

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
            assert!(matches!(result, ChunkResult::Partial));
            result = inc.take(c);
        }
        assert_eq!(completed(result), Some(bytes.to_vec()));
        // A late copy of a chunk does not start the same snapshot again.
        assert!(matches!(
            inc.take(out.frame(out.unsent[0])),
            ChunkResult::Partial
        ));
        assert!(inc.chunks.is_empty());
    }

    #[test]
    fn a_newer_snapshot_replaces_a_partial_one_and_huge_ones_are_refused() {
        let a = Outgoing::new(1, vec![1u8; 300].into(), VersionVector::new(), 100);
        let b = Outgoing::new(2, vec![2u8; 200].into(), VersionVector::new(), 100);
        let mut inc = Incoming::default();
        assert!(matches!(
            inc.take(a.frame(a.unsent[0])),
            ChunkResult::Partial
        ));
        assert!(matches!(
            inc.take(b.frame(b.unsent[0])),
            ChunkResult::Partial
        ));
        assert_eq!(
            completed(inc.take(b.frame(b.unsent[1]))),
            Some(vec![2u8; 200])
        );
        let huge = SnapshotChunk {
            id: 3,
            total: MAX_SNAPSHOT_BYTES + 1,
            offset: 0,
            bytes: vec![0],
        };
        assert!(matches!(inc.take(huge), ChunkResult::Refused));
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
        assert!(matches!(inc.take(far), ChunkResult::Partial));
        assert_eq!(inc.received(), 10);
    }

    /// A chunk stream that inflates enormously (a decompression bomb, under
    /// a huge claimed total) is inflated only in proportion to what has
    /// arrived (and never past `MAX_INFLATED` in all).
    #[test]
    fn a_bomb_inflates_only_in_proportion_to_what_arrived() {
        use std::io::Write;
        let mut z =
            flate2::write::DeflateEncoder::new(b"RMS2".to_vec(), flate2::Compression::best());
        z.write_all(&vec![0u8; 16 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        let mut inc = Incoming::default();
        for (i, part) in bomb.chunks(1200).take(8).enumerate() {
            let chunk = SnapshotChunk {
                id: 5,
                total: MAX_SNAPSHOT_BYTES,
                offset: (i * 1200) as u32,
                bytes: part.to_vec(),
            };
            assert!(matches!(inc.take(chunk), ChunkResult::Partial));
            let fed = (i + 1) * 1200;
            match &inc.inflater {
                Some(inflater) => assert!(
                    inflater.inflated_len() <= fed * 1040 + (64 << 10),
                    "{} bytes inflated from {fed}",
                    inflater.inflated_len()
                ),
                None => panic!("refused early: nothing wrong with it yet"),
            }
        }
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

    #[test]
    fn a_snapshot_transfer_resends_lost_chunks_and_is_delivered_once_all_are_acked() {
        let rto = std::time::Duration::from_millis(200);
        let t0 = Time::from_millis(0);
        let mut send = SnapshotSend::default();
        assert!(send.is_free(t0, rto) && !send.has_unsent());
        let version: VersionVector = [(ReplicaId(1), 5)].into_iter().collect();
        send.start(Outgoing::new(
            9,
            vec![0u8; 250].into(),
            version.clone(),
            100,
        ));
        assert!(send.is_sending() && !send.is_free(t0, rto));
        assert_eq!(send.sending_version(), Some(&version));
        // A datagram with no room for it leaves the chunk first in line.
        assert_eq!(send.send_chunk(|_| false), None);
        let sent: Vec<_> = std::iter::from_fn(|| send.send_chunk(|_| true)).collect();
        assert_eq!(sent, [(9, 0, 100), (9, 100, 100), (9, 200, 50)]);
        send.lost(&sent[1..2]);
        assert_eq!(send.send_chunk(|_| true), Some((9, 100, 100)));
        assert_eq!(send.acked(&sent[..2], t0), None);
        // A chunk of another snapshot counts for nothing.
        assert_eq!(send.acked(&[(8, 200, 50)], t0), None);
        assert_eq!(send.acked(&sent[2..], t0), Some(version));
        assert!(!send.is_sending());
        assert!(
            !send.is_free(t0 + rto / 2, rto),
            "an ask from before it landed"
        );
        assert!(send.is_free(t0 + rto, rto));
    }
}
