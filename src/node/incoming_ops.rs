//! Ops from peers: applied, held until their causes arrive (within
//! bounds), or shown to reuse our own ids.

use std::net::SocketAddr;

use crate::doc::{self, Op, Patch};
use crate::wire::Frame;

use super::{Event, Node};

impl Node {
    pub(super) fn on_op(&mut self, from: SocketAddr, op: Op, patches: &mut Vec<Patch>) {
        self.stats.ops_received += 1;
        let span = op.span();
        let Some(op) = self.stability.accepted(op) else {
            self.stats.drops.gone_author += 1;
            // Tell the sender who is gone: if it is the author, it rejoins.
            let gone = Frame::Gone(self.stability.declarations());
            if let Some(peer) = self.peers.get_mut(&from) {
                if !peer.control.contains(&gone) {
                    peer.control.push_back(gone);
                }
            }
            return;
        };
        let me = self.doc.replica();
        if op.id.replica == me {
            // Ours, back from a peer: a duplicate, or evidence that our
            // storage lost ops we had sent. Never applied in the latter case:
            // we may have used those ids again for other content.
            let peer_has = span.end_counter();
            self.check_own_count(from, peer_has);
            if self.own_ops_lost {
                return;
            }
        }
        if !self.room_to_hold(from, &op) {
            self.stats.drops.held_limit += 1;
            return;
        }
        match self.doc.apply(op) {
            Ok(applied) => patches.extend(applied.patches),
            Err(e) => {
                self.stats.drops.bad_op += 1;
                if let (true, doc::Error::Conflict(id)) = (span.start.replica == me, e) {
                    // A peer holds other content under an id of ours.
                    self.own_ids_reused(from, id.counter + 1);
                }
                return;
            }
        }
        if let Some(peer) = self.peers.get_mut(&from) {
            // It has what it sent us: do not echo it back.
            peer.learned_has(span);
        }
    }

    /// False when `op` would wait in the document for missing causes and
    /// `from` already has `max_held_per_peer` ops waiting; else true (and an
    /// early op is counted against `from`).
    pub(super) fn room_to_hold(&mut self, from: SocketAddr, op: &Op) -> bool {
        let version = self.doc.version_ref();
        let early =
            op.id.counter > version.get(op.id.replica) || op.missing_dependency(version).is_some();
        let Some(peer) = self.peers.get_mut(&from) else {
            return true;
        };
        if !early {
            return true;
        }
        let limit = self.config.max_held_per_peer;
        if peer.held.len() >= limit {
            peer.held.retain(|id| !version.contains(*id));
        }
        if peer.held.len() >= limit && !peer.held.contains(&op.id) {
            return false;
        }
        peer.held.insert(op.id);
        true
    }

    /// A peer says it holds `peer_has` ops of ours (counters below it).
    /// More than we have means our storage lost ops that had left.
    pub(super) fn check_own_count(&mut self, from: SocketAddr, peer_has: u64) {
        if peer_has > self.doc.version_ref().get(self.doc.replica()) {
            self.own_ids_reused(from, peer_has);
        }
    }

    /// Our id can no longer be trusted to name one content (see
    /// `Event::OwnOpsLost`): stop sending ops and ask `from` for its
    /// document, to rejoin under a new id (`rejoin`).
    pub(super) fn own_ids_reused(&mut self, from: SocketAddr, peer_has: u64) {
        if self.own_ops_lost || !self.joined {
            // Already waiting for a snapshot; or a newcomer, whose own ops
            // are re-made under a new id anyway.
            return;
        }
        self.own_ops_lost = true;
        self.joined = false;
        self.stats.own_ops_lost += 1;
        self.events.push_back(Event::OwnOpsLost {
            peer: from,
            peer_has,
            we_have: self.doc.version_ref().get(self.doc.replica()),
        });
        if let Some(peer) = self.peers.get_mut(&from) {
            if !peer.control.contains(&Frame::Join) {
                peer.control.push_back(Frame::Join);
            }
        }
    }
}
