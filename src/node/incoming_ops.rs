//! Ops from peers: applied, held until their causes arrive (within
//! bounds), or shown to reuse our own ids.

use std::net::SocketAddr;

use crate::doc::{self, Op, Patch, ReplicaId};
use crate::wire::Frame;

use super::{Event, Node};

impl Node {
    pub(super) fn on_op(&mut self, from: SocketAddr, op: Op, patches: &mut Vec<Patch>) {
        self.stats.ops_received += 1;
        let span = op.span();
        if self.retired.is_some_and(|(r, _)| r == span.start.replica) {
            // Before the gone check: ops of ours that our storage lost are
            // taken back, not refused.
            self.check_retired_count(from, span.start.replica, span.end_counter());
        }
        let Some(op) = self.stability.accepted(op) else {
            self.stats.drops.gone_author += 1;
            // Tell the sender the author is gone, and with how many ops:
            // if it is the author, it rejoins.
            let author = span.start.replica;
            let count = self.stability.declaration(author).unwrap_or(0);
            let gone = Frame::Gone(vec![(author, count)]);
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
        peer.hold(op.id, self.config.max_held_per_peer, version)
    }

    /// A peer says it holds `peer_has` ops of ours (counters below it).
    /// More than we have means our storage lost ops that had left.
    pub(super) fn check_own_count(&mut self, from: SocketAddr, peer_has: u64) {
        if peer_has > self.doc.version_ref().get(self.doc.replica()) {
            self.own_ids_reused(from, peer_has);
        }
    }

    /// A peer says it holds `peer_has` ops of the id this run stopped
    /// using at its first edit: more than we had at that point means our
    /// storage had lost ops that had left (they come back as anyone's;
    /// nothing was reused). Told to the user once.
    pub(super) fn check_retired_count(
        &mut self,
        from: SocketAddr,
        replica: ReplicaId,
        peer_has: u64,
    ) {
        let Some((retired, we_have)) = self.retired else {
            return;
        };
        if retired != replica || peer_has <= we_have || self.lost_reported {
            return;
        }
        self.lost_reported = true;
        self.stats.own_ops_lost += 1;
        self.stability.raise_gone(retired, peer_has);
        self.events.push_back(Event::OwnOpsLost {
            peer: from,
            peer_has,
            we_have,
        });
    }

    /// Our id can no longer be trusted to name one content (see
    /// `Event::OwnOpsLost`). If this run has not edited under it, it stops
    /// using it (a fresh id, as at a run's first edit) and takes the lost
    /// ops back from peers as anyone's. Otherwise it stops sending ops and
    /// asks `from` for its document, to rejoin under a new id (`rejoin`).
    pub(super) fn own_ids_reused(&mut self, from: SocketAddr, peer_has: u64) {
        if self.own_ops_lost || !self.joined {
            // Already waiting for a snapshot; or a newcomer, whose own ops
            // are re-made under a new id anyway.
            return;
        }
        if !self.id_fresh {
            let old = self.doc.replica();
            let we_have = self.doc.version_ref().get(old);
            self.take_fresh_id();
            // The peer holds them: accept them (`from` shows it has them).
            self.stability.raise_gone(old, peer_has);
            self.stats.own_ops_lost += 1;
            self.events.push_back(Event::OwnOpsLost {
                peer: from,
                peer_has,
                we_have,
            });
            self.lost_reported = true;
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
