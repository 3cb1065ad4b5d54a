//! Cleanup: silent members declared gone, history every member has
//! collected, and ops held too long for their causes dropped.

use crate::doc::ReplicaId;

use super::stability::Periods;
use super::{Node, Time};

impl Node {
    /// Declares silent members gone, and cleans up the history every member
    /// has (see `stability` and `doc::collect`) once there is enough of it.
    pub(super) fn cleanup_tick(&mut self, now: Time) {
        if !self.joined {
            // A newcomer's ops are re-made when it joins: they must all
            // stay in its log until then.
            return;
        }
        // A peer we were told of but have not heard from (one the user
        // added, or one that has not answered its challenge) is a member we
        // cannot name yet (`None`; until the horizon: then it must join anew).
        let horizon = self.config.member_horizon;
        let mut peers: Vec<Option<ReplicaId>> = (self.peers.values())
            .filter(|p| p.replica().is_some() || now < p.liveness.added_at() + horizon)
            .map(|p| p.replica())
            .collect();
        for p in self.peers.values() {
            if let (Some(replica), Some(at)) = (p.replica(), p.last_heard()) {
                self.stability.heard(replica, at);
            }
        }
        // A member whose datagrams came from an address not proven yet is
        // a member all the same: cleanup waits for its report.
        for (replica, at) in self.handshakes.heard() {
            peers.push(Some(replica));
            self.stability.heard(replica, at);
        }
        let frontier = self.stability.tick(
            now,
            self.doc.replica(),
            &self.doc,
            &peers,
            Periods {
                horizon: self.config.member_horizon,
                // Quiet for as long as a peer takes to count as down.
                quiet: self.config.ping_interval * self.config.down_after,
                grace: self.config.join_grace,
                peers_only: self.partial_view(),
            },
        );
        self.stats.members_gone = self.stability.gone_count() as u64;
        let Some(frontier) = frontier else {
            return;
        };
        if self.doc.log_entries() >= self.config.collect_min_runs
            && !self.doc.collected().dominates(&frontier)
        {
            self.doc.collect(&frontier);
            self.stats.collections += 1;
            // The cached snapshot holds the history just dropped.
            self.snapshot_cache = None;
        }
    }

    /// Every `held_expiry`, drops the ops held since the previous time
    /// (see `Doc::expire_held`), and forgets them in each peer's count of
    /// early ops.
    pub(super) fn expire_held(&mut self, now: Time) {
        if now < self.held_aged_at + self.config.held_expiry {
            return;
        }
        self.held_aged_at = now;
        if self.doc.expire_held() == 0 {
            return;
        }
        let doc = &self.doc;
        for peer in self.peers.values_mut() {
            peer.forget_held(|id| doc.holds(id));
        }
        self.stats.ops_buffered = self.doc.pending_len() as u64;
    }
}
