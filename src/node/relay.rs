//! What goes to whom: queues refilled from the doc along the gossip
//! trees, announcements of what we have, and pulls of what we lack.

use std::net::SocketAddr;

use rand::RngExt;

use crate::doc::{IdSpan, Op, ReplicaId};
use crate::wire::{self, Frame};

use super::anti_entropy::digest_frames;
use super::gossip::fanout_for;
use super::gossip::View;
use super::peer::{subtract_spans, trim_known};
use super::timers::node_timer;
use super::{Node, PeerState, Time, Watcher};

impl Node {
    /// Queues ops for peers: first for each peer with a pull (a digest
    /// showed a gap, or it is back) everything beyond its pull
    /// point; then each op the doc gained since the last refill for the
    /// peers its author's gossip tree names (`gossip.rs`): local edits
    /// (push) and ops learned from other peers (relay) alike.
    ///
    /// poll_transmit calls this each time, so it skips what cannot have
    /// changed: no pull pending, while the doc's version (which only grows,
    /// so its total tells) stayed the same.
    pub(super) fn refill_queues(&mut self) {
        if !self.joined {
            return; // a newcomer sends no ops (see `Config::joining`)
        }
        let max_frame = self.max_frame();
        let me = self.doc.replica();
        let version = self.doc.version_ref();
        let total = version.total();
        let doc_grew = total != self.refilled_total;
        self.refilled_total = total;
        // Peers that got everything up to `version` from their pull: the
        // tree has nothing to add for them this time. (Only a peer that
        // changed since the last refill can have gained a pull.)
        let mut pulled = std::mem::take(&mut self.pull_scratch);
        self.peers.take_changed_if(Watcher::Pull, &mut pulled, |p| {
            p.has_pull() && p.state() != PeerState::Down
        });
        pulled.sort_unstable();
        for addr in &pulled {
            let peer = self.peers.get_mut(addr).expect("listed as present");
            let from = peer.take_pull().unwrap_or_default();
            if from.dominates(version) {
                continue;
            }
            let in_flight: Vec<IdSpan> = peer
                .in_flight
                .iter()
                .flat_map(|p| p.ops.iter().map(Op::span))
                .collect();
            for op in self.doc.ops_since(&from) {
                let Some(op) = trim_known(op, peer.known()) else {
                    continue;
                };
                for part in subtract_spans(op, &in_flight) {
                    peer.queue.push(part, max_frame, me);
                }
            }
        }
        let new_ops = if doc_grew {
            let ops = self.doc.ops_since(&self.gossip.pushed);
            if self.doc.collected().is_empty() {
                // `version` merged in: with no history cleaned up the ops
                // raise each replica behind it to the doc's count, with no
                // walk over every replica's entry.
                for op in &ops {
                    let end = op.span().end_counter();
                    if end > self.gossip.pushed.get(op.id.replica) {
                        self.gossip.pushed.set(op.id.replica, end);
                    }
                }
                debug_assert!(self.gossip.pushed.dominates(version));
            } else {
                self.gossip.pushed.merge(version);
            }
            ops
        } else {
            Vec::new()
        };
        if new_ops.is_empty() {
            self.pull_scratch = pulled;
            return;
        }
        // Without peer exchange this node's peers are not the group (a
        // chain knows its neighbours only), nor with a partial view
        // (`view.rs`): relay everything to every live peer.
        let everyone = !self.config.peer_exchange || self.partial_view();
        let mut view = std::mem::take(&mut self.view);
        // Rebuilt only when the members changed (sorting hundreds of them
        // for every op that arrives would cost more than the op).
        let members_changed = self.peers.members_changed();
        if members_changed || self.view_of != Some(me) {
            view.rebuild(
                me,
                self.peers
                    .values()
                    .filter(|p| p.state() != PeerState::Down)
                    .filter_map(|p| Some((p.replica()?, p.addr()))),
            );
            self.view_of = Some(me);
        }
        let k = fanout_for(view.len(), self.config.fanout, self.config.direct_push_max);
        let mut targets = std::mem::take(&mut self.targets_scratch);
        for op in new_ops {
            targets.clear();
            if everyone {
                targets.extend(
                    self.peers
                        .values()
                        .filter(|p| p.state() != PeerState::Down)
                        .map(|p| p.addr()),
                );
            } else {
                view.children(me, op.id.replica, k, &mut targets);
                if k >= view.len() {
                    self.relay_gaps(&view, me, op.id.replica, &mut targets);
                }
            }
            for addr in &targets {
                if pulled.binary_search(addr).is_ok() {
                    continue;
                }
                let Some(peer) = self.peers.get_mut(addr) else {
                    continue;
                };
                if peer.known().contains_span(&op.span()) {
                    continue;
                }
                if let Some(op) = trim_known(op.clone(), peer.known()) {
                    peer.queue.push(op, max_frame, me);
                }
            }
        }
        self.targets_scratch = targets;
        self.view = view;
        self.pull_scratch = pulled;
    }

    /// In a group where every author pushes its ops to every member
    /// directly, nobody relays: a member the author does not reach (they
    /// were each told only of us, or have not met yet) would wait for lazy
    /// gossip. So an op of `author`, a peer of ours, also goes from here to
    /// each live peer it has not named in a peer list to us (appended to
    /// `out`): until it names them, it may not reach them. Once the two
    /// know each other (`introduce` tells both at once), relaying stops.
    fn relay_gaps(&self, view: &View, me: ReplicaId, author: ReplicaId, out: &mut Vec<SocketAddr>) {
        if author == me {
            return;
        }
        let Some(from) = view.addr_of(author) else {
            return;
        };
        let Some(author_peer) = self.peers.get(&from) else {
            return;
        };
        for addr in view.peer_addrs() {
            // (Only the author's word counts: that the other hears it
            // does not mean it hears the other, and pushes to it.)
            if addr != from && !author_peer.named(&addr) && !out.contains(&addr) {
                out.push(addr);
            }
        }
    }

    /// Tells a few random live peers what grew since the last round.
    pub(super) fn announce(&mut self) {
        let entries = self.gossip.take_announcement(self.doc.version_ref());
        if entries.is_empty() || self.config.lazy_fanout == 0 {
            return;
        }
        let mut live: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.state() != PeerState::Down && p.replica().is_some())
            .map(|p| p.addr())
            .collect();
        let frames = have_frames(entries, self.max_frame(), self.doc.replica());
        for _ in 0..self.config.lazy_fanout.min(live.len()) {
            let to = live.swap_remove(self.rng.random_range(0..live.len()));
            if let Some(peer) = self.peers.get_mut(&to) {
                peer.control.retain(|f| !matches!(f, Frame::Have(_)));
                peer.control.extend(frames.iter().cloned());
            }
        }
    }

    /// A peer announced what it has: it has it, and we may pull it later.
    pub(super) fn on_have(&mut self, now: Time, from: SocketAddr, entries: &[(ReplicaId, u64)]) {
        let me = self.doc.replica();
        let retired = self.retired.map(|(r, _)| r);
        for &(r, n) in entries {
            if r == me {
                self.check_own_count(from, n);
            } else if Some(r) == retired {
                self.check_retired_count(from, r, n);
            }
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        for &(r, n) in entries {
            peer.announced(r, n);
        }
        let ours = self.doc.version_ref();
        if let Some(due) = self
            .gossip
            .on_have(now, from, entries, ours, self.config.pull_delay)
        {
            self.timers.set_earliest(node_timer::PULL, due);
        }
    }

    /// Pulls that waited long enough: asks each announcer, with a digest
    /// scoped to what we still lack, to send it.
    pub(super) fn pull_due(&mut self, now: Time) {
        let ours = self.doc.version();
        for (addr, scope) in self.gossip.due_pulls(now, &ours) {
            let digests = digest_frames(&ours, Some(scope), false, self.max_frame(), Vec::new());
            self.stats.digests_sent += digests.len() as u64;
            if let Some(peer) = self.peers.get_mut(&addr) {
                peer.control.extend(digests);
            }
        }
        match self.gossip.next_pull() {
            Some(at) => self.timers.set(node_timer::PULL, at),
            None => self.timers.clear(node_timer::PULL),
        }
    }
}

/// An announcement as `Have` frames of at most `max_frame` bytes each.
fn have_frames(entries: Vec<(ReplicaId, u64)>, max_frame: usize, me: ReplicaId) -> Vec<Frame> {
    let whole = Frame::Have(entries.clone());
    if wire::encoded_len(&whole, me) <= max_frame {
        return vec![whole];
    }
    // An entry is at most 20 bytes; tags and length at most 12.
    let per_frame = ((max_frame - 12) / 20).max(1);
    entries
        .chunks(per_frame)
        .map(|c| Frame::Have(c.to_vec()))
        .collect()
}
