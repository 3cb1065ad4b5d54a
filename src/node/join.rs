//! Joining and rejoining: a newcomer's `Join`, which document a peer
//! edits, and snapshots sent and loaded.

use std::net::SocketAddr;

use rand::RngExt;

use crate::doc::{self, Patch, ReplicaId, VersionVector};
use crate::wire::{self, DatagramBuilder};

use super::anti_entropy::digest_frames;
use super::gossip::Gossip;
use super::peer::Peer;
use super::{snapshot, Event, Node, Refusal, Time, ACK_RESERVE};

impl Node {
    /// A peer asks for our document to join with. A newcomer has nothing to
    /// give yet: it never founds a group when asked, since another founder
    /// may exist that neither has met (see `stability`, "Newcomers").
    pub(super) fn on_join(&mut self, now: Time, from: SocketAddr, sender: ReplicaId) {
        if !self.joined {
            return;
        }
        // A replica with only its own ops that restarts asks as a newcomer
        // does. If its digest shows it has exactly our document, and its
        // ops are ours too, it is a member that restarted: our digest tells
        // it so (see `on_digest`), and a snapshot would only repeat what it
        // has. (Only as one whole digest frame: it must see all of it.)
        let ours = self.doc.version_ref();
        let same = self
            .peers
            .get(&from)
            .is_some_and(|p| p.known.dominates(ours) && ours.dominates(&p.known));
        let gone = self
            .stability
            .declarations()
            .iter()
            .any(|&(r, _)| r == sender);
        let digests = digest_frames(ours, None, false, self.max_frame(), self.report_members());
        if same && !gone && ours.get(sender) > 0 && digests.len() == 1 {
            self.stats.digests_sent += 1;
            if let Some(peer) = self.peers.get_mut(&from) {
                peer.control.extend(digests);
            }
            return;
        }
        // (A snapshot already on its way goes on: asks are repeated.)
        self.start_snapshot(from, now);
    }

    /// Whether a datagram of `document` (0: a newcomer's, of none yet) may
    /// be read: datagrams of another document are refused, counted and
    /// reported (once at a time), so two texts never merge. A member that
    /// knows no document (its data directory is from before documents had
    /// ids) takes the first one a peer names.
    pub(super) fn same_document(&mut self, from: SocketAddr, document: u32) -> bool {
        self.datagram_document = document;
        if document == 0 || document == self.document {
            return true;
        }
        if self.document == 0 {
            if self.joined && !self.own_ops_lost {
                self.document = document;
            }
            return true;
        }
        self.stats.drops.other_document += 1;
        self.foreign_document = document;
        let reason = Refusal::OtherDocument;
        if !std::mem::replace(&mut self.refusal_queued[reason as usize], true) {
            self.events.push_back(Event::Refused { from, reason });
        }
        false
    }

    /// A newcomer became a member with the document of the datagram being
    /// handled.
    pub(super) fn adopt_document(&mut self) {
        if self.document == 0 {
            self.document = self.datagram_document;
        }
    }

    /// Starts sending `addr` a snapshot of the document, unless one is on
    /// its way or one was just delivered (an ask from before it landed).
    pub(super) fn start_snapshot(&mut self, addr: SocketAddr, now: Time) {
        let ours = self.doc.version();
        let me = self.doc.replica();
        let free = |p: &Peer| {
            let just_delivered = p
                .snapshot_delivered
                .is_some_and(|at| now < at + p.rtt.rto());
            p.snapshot_out.is_none() && !just_delivered
        };
        if !self.peers.get(&addr).is_some_and(free) {
            return;
        }
        let bytes = snapshot::current(&mut self.snapshot_cache, &self.doc, &mut self.stats);
        let chunk = self.config.mtu - DatagramBuilder::overhead() - ACK_RESERVE - 32;
        let id = self.rng.random();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.snapshot_out = Some(snapshot::Outgoing::new(id, bytes, ours, chunk));
        peer.leave_to_snapshot(me);
    }

    /// Becomes a new replica from a member's snapshot, re-making our ops
    /// the group lacks (see `Doc::rejoin`).
    /// Returns what the group had (the new document less our re-made ops).
    pub(super) fn rejoin(
        &mut self,
        bytes: &[u8],
        patches: &mut Vec<Patch>,
    ) -> Option<VersionVector> {
        let old = self.doc.replica();
        let new = self.unused_replica_id();
        let Ok((doc, patch)) = self.doc.rejoin(bytes, new) else {
            return None;
        };
        // What the snapshot had is not news to push; our re-made ops are.
        let mut base = doc.version();
        base.set(new, 0);
        self.gossip = Gossip::new(base.clone());
        self.doc = doc;
        self.snapshot_cache = None;
        // The old id makes no more ops: say so, so that it holds back no
        // one's cleanup (the group has exactly the snapshot's ops of it).
        self.stability = Default::default();
        self.stability.replaced(old, &self.doc);
        self.stats.rejoins += 1;
        self.own_ops_lost = false;
        self.id_fresh = true;
        patches.push(patch);
        self.events.push_back(Event::Rejoined { old, new });
        Some(base)
    }

    /// A random replica id that no op here uses (never 0).
    fn unused_replica_id(&mut self) -> ReplicaId {
        loop {
            let id = ReplicaId(self.rng.random());
            if id.0 != 0 && self.doc.version_ref().get(id) == 0 && !self.stability.is_gone(id) {
                break id;
            }
        }
    }

    /// Before the first local edit of a run whose id an earlier run used:
    /// edits from now on are made under a fresh id, and the old one is
    /// declared gone with the count of its ops we hold (see
    /// `Config::id_used_before`). Nothing else changes: the old id's ops
    /// stay in the document, and peers that hold more of them than we do
    /// (we were restored from a backup) send them as anyone's ops.
    pub(super) fn take_fresh_id(&mut self) {
        let old = self.doc.replica();
        let new = self.unused_replica_id();
        self.retired = Some((old, self.doc.version_ref().get(old)));
        self.doc.set_replica(new);
        self.stability.replaced(old, &self.doc);
        self.id_fresh = true;
        self.stats.ids_retired += 1;
    }

    /// A member declared our id gone with `count` of its ops. If this run
    /// has not edited under it and the group accepts every op we hold of
    /// it, there is nothing to re-make: we only stop using it (a replica
    /// booted from a restored disk can meet the declaration its own later
    /// run made). Otherwise we must rejoin (see "Gone members").
    pub(super) fn declared_gone(&mut self, count: u64) {
        let me = self.doc.replica();
        if !self.id_fresh && self.joined && self.doc.version_ref().get(me) <= count {
            self.take_fresh_id();
            self.stability.raise_gone(me, count);
            self.stability.declared_me = false;
        }
    }

    pub(super) fn on_snapshot_chunk(
        &mut self,
        from: SocketAddr,
        chunk: wire::SnapshotChunk,
        patches: &mut Vec<Patch>,
    ) {
        // All partial snapshots together stay under the bound, whoever
        // sends them.
        let held: u64 = self.snapshots_in.values().map(|i| i.received()).sum();
        if held + chunk.bytes.len() as u64 > snapshot::MAX_SNAPSHOT_BYTES as u64 {
            self.stats.drops.bad_snapshot += 1;
            return;
        }
        let incoming = self.snapshots_in.entry(from).or_default();
        let (bytes, inflated) = match incoming.take(chunk) {
            snapshot::ChunkResult::Partial => return,
            snapshot::ChunkResult::Refused => {
                self.snapshots_in.remove(&from);
                self.stats.drops.bad_snapshot += 1;
                return;
            }
            snapshot::ChunkResult::Complete { bytes, inflated } => (bytes, inflated),
        };
        // A newcomer's own ops were made without the group's history: they
        // are re-made as a new replica (and were never sent).
        let newcomer_with_ops = !self.joined && self.doc.version_ref().get(self.doc.replica()) > 0;
        let absorbed = (!self.stability.declared_me && !newcomer_with_ops && !self.own_ops_lost)
            .then(|| inflated.and_then(|inflated| self.doc.absorb_inflated(&inflated)));
        let result = match absorbed {
            Some(Ok((patch, version))) => Ok((Some(patch), version)),
            // Declared gone, or our ops cannot join this history as they
            // are: re-make them as a new replica.
            None | Some(Err(doc::Error::Collected(_))) => self
                .rejoin(&bytes, patches)
                .map(|base| (None, base))
                .ok_or(()),
            Some(Err(_)) => Err(()),
        };
        match result {
            Ok((patch, version)) => {
                // A newcomer is a member once it has the group's document
                // (not before: a snapshot that does not load changes nothing).
                self.joined = true;
                self.adopt_document();
                self.stats.snapshots_received += 1;
                patches.extend(patch);
                // The snapshot's ops are history, not news to push down
                // the gossip trees (as for the doc a node starts with).
                self.gossip.pushed.merge(&version);
                if self.doc.version_ref() == &version {
                    // The bytes are our document now: the next newcomer
                    // gets them as they are.
                    self.snapshot_cache = Some(snapshot::Cached {
                        version: version.clone(),
                        bytes: bytes.into(),
                    });
                }
                if let Some(peer) = self.peers.get_mut(&from) {
                    // It has what it sent us: do not echo it back.
                    peer.known.merge(&version);
                    if let Some(pull) = peer.pull.as_mut() {
                        pull.merge(&version);
                    }
                }
            }
            Err(_) => self.stats.drops.bad_snapshot += 1,
        }
    }
}
