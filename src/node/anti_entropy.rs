//! Anti-entropy: digests of what each replica has, and what a
//! digest shows a peer lacks.

use std::net::SocketAddr;

use rand::RngExt;

use crate::doc::{ReplicaId, VersionVector};
use crate::wire::{self, DigestFrame, Frame};

use super::{snapshot, Node, PeerState, Time};

impl Node {
    pub(super) fn anti_entropy_round(&mut self) {
        let live: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.state() != PeerState::Down)
            .map(|p| p.addr())
            .collect();
        if live.is_empty() {
            return;
        }
        let pick = live[self.rng.random_range(0..live.len())];
        self.queue_our_digest(pick);
        let gone = self.gone_frames();
        if let Some(peer) = self.peers.get_mut(&pick) {
            peer.control.extend(gone);
            if self.stability.declared_me || !self.joined {
                // We must (re)join: ask for a member's document.
                peer.control.push_back(Frame::Join);
            }
        }
        self.tags_round(pick);
    }

    /// Our gone declarations as `Gone` frames that each fit a datagram
    /// (none if there are none). Each replica retires an id per run that
    /// edits, so the list can outgrow one datagram.
    pub(super) fn gone_frames(&self) -> Vec<Frame> {
        // An entry is two varints of at most 10 bytes each.
        let per_frame = (self.max_frame().saturating_sub(8) / 20).max(1);
        self.stability
            .declarations()
            .chunks(per_frame)
            .map(|chunk| Frame::Gone(chunk.to_vec()))
            .collect()
    }

    /// Our version vector as digest frames that each fit a datagram.
    pub(super) fn digest_frames(&self, reply: bool) -> Vec<Frame> {
        let members = self.report_members();
        digest_frames(
            self.doc.version_ref(),
            None,
            reply,
            self.max_frame(),
            members,
        )
    }

    /// The members a report of ours names beside its version: those we
    /// count for cleanup that have no op in our document (sorted).
    /// Every digest names them: kept until the members remembered or the
    /// peers' replicas change (and thinned as the version grows).
    pub(super) fn report_members(&self) -> Vec<ReplicaId> {
        let key = MembersKey {
            joined: self.joined,
            me: self.doc.replica(),
            remembered: self.stability.changes,
            peers: self.peers.replicas_changed(),
        };
        if let Some((k, members)) = &mut *self.report_members.borrow_mut() {
            if *k == key {
                // The version only grew meanwhile: those that made ops
                // since are no longer named.
                let version = self.doc.version_ref();
                members.retain(|&r| version.get(r) == 0);
                debug_assert_eq!(*members, self.find_report_members());
                return members.clone();
            }
        }
        let members = self.find_report_members();
        *self.report_members.borrow_mut() = Some((key, members.clone()));
        members
    }

    fn find_report_members(&self) -> Vec<ReplicaId> {
        if !self.joined {
            return Vec::new();
        }
        let me = self.doc.replica();
        let version = self.doc.version_ref();
        // The peers' replicas and the members remembered, both sorted,
        // merged in one pass beside the version (sorted too): no peer is
        // read and nothing sorted (this ran for each peer that came up,
        // in groups of hundreds).
        let mut peers = self.peers.replicas().iter().copied().peekable();
        let mut remembered = self.stability.remembered().peekable();
        let mut theirs = version.iter().peekable();
        let mut members: Vec<ReplicaId> = Vec::new();
        loop {
            let r = match (peers.peek(), remembered.peek()) {
                (None, None) => break,
                (Some(&p), Some(&m)) => p.min(m),
                (Some(&p), None) => p,
                (None, Some(&m)) => m,
            };
            while peers.next_if_eq(&r).is_some() {}
            while remembered.next_if_eq(&r).is_some() {}
            while theirs.next_if(|&(q, _)| q < r).is_some() {}
            let made_ops = matches!(theirs.peek(), Some(&(q, n)) if q == r && n > 0);
            if r != me && !made_ops {
                members.push(r);
            }
        }
        debug_assert_eq!(members, {
            let mut all: Vec<ReplicaId> = (self.peers.values().filter_map(|p| p.replica()))
                .chain(self.stability.membership().0)
                .filter(|&r| r != me && version.get(r) == 0)
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        });
        // All of them or no report: a whole digest too big for a frame is
        // sent scoped, and a scoped digest is no report.
        members
    }

    /// A peer told us what it has (for the replicas in the digest's scope).
    pub(super) fn on_digest(&mut self, now: Time, from: SocketAddr, d: &DigestFrame) {
        let me = self.doc.replica();
        if d.covers(me) {
            self.check_own_count(from, d.version.get(me));
        }
        if let Some((retired, _)) = self.retired.filter(|&(r, _)| d.covers(r)) {
            self.check_retired_count(from, retired, d.version.get(retired));
        }
        let ours = self.doc.version();
        if !self.joined && !self.own_ops_lost && d.scope.is_none() {
            self.joined_by_digest(&ours, &d.version);
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        // The sender lacks ops of its own that we hold: its storage lost
        // them. Answer with our digest so it learns so at once.
        let sender_lost_own = peer
            .replica()
            .is_some_and(|r| d.covers(r) && ours.get(r) > d.version.get(r));
        if let (None, Some(replica)) = (d.scope, peer.replica()) {
            // The members it counts that we did not know count here too,
            // before its report can be used.
            self.stability.learn(me, &d.members, now);
            self.stability
                .report(replica, &d.version, now, self.config.join_grace);
        }
        peer.digest_heard(d, &ours, &self.gossip.pushed, me);
        let wants_snapshot = d.scope.is_none()
            && self.joined
            && (snapshot::worth_sending(&ours, &d.version, self.config.snapshot_min_ops)
                || !self.doc.can_serve(&d.version));
        if wants_snapshot {
            self.start_snapshot(from, now);
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        peer.leave_to_snapshot(me);
        let we_lack = d.version.iter().any(|(r, n)| n > ours.get(r));
        if d.reply && (we_lack || sender_lost_own) {
            let max = self.max_frame();
            let members = self.report_members();
            let replies = digest_frames(&ours, d.scope, false, max, members);
            self.stats.digests_sent += replies.len() as u64;
            if let Some(peer) = self.peers.get_mut(&from) {
                for f in replies {
                    peer.control.push_back(f);
                }
            }
        }
    }

    /// A newcomer whose own ops a member has, and that has exactly the
    /// member's document (`theirs`, a whole digest), is a member that
    /// restarted: nothing is missing on either side and none of its ops
    /// was made without the group's history, so it needs no snapshot and
    /// keeps its replica id.
    pub(super) fn joined_by_digest(&mut self, ours: &VersionVector, theirs: &VersionVector) {
        let mine = ours.get(self.doc.replica());
        if mine > 0
            && !self.stability.declared_me
            && ours.dominates(theirs)
            && theirs.dominates(ours)
        {
            self.joined = true;
            self.adopt_document();
            for peer in self.peers.values_mut() {
                peer.control.retain(|f| *f != Frame::Join);
            }
        }
    }
}

/// `version` (the replicas of `scope`) as digest frames of at most
/// `max_frame` bytes each: one if it fits, else consecutive scopes.
pub(super) fn digest_frames(
    version: &VersionVector,
    scope: Option<(ReplicaId, ReplicaId)>,
    reply: bool,
    max_frame: usize,
    members: Vec<ReplicaId>,
) -> Vec<Frame> {
    let in_scope = |r: ReplicaId| scope.is_none_or(|(a, b)| a <= r && r <= b);
    let entries: Vec<(ReplicaId, u64)> = version.iter().filter(|&(r, _)| in_scope(r)).collect();
    let whole = Frame::Digest(DigestFrame {
        scope,
        version: entries.iter().copied().collect(),
        reply,
        members: if scope.is_none() { members } else { Vec::new() },
    });
    if wire::encoded_len(&whole, ReplicaId(0)) <= max_frame {
        return vec![whole];
    }
    // An entry is at most 20 bytes; a scope and tags at most 32.
    let per_frame = ((max_frame - 32) / 20).max(1);
    let (lo, hi) = scope.unwrap_or((ReplicaId(0), ReplicaId(u64::MAX)));
    let chunks: Vec<&[(ReplicaId, u64)]> = entries.chunks(per_frame).collect();
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let first = if i == 0 { lo } else { chunk[0].0 };
        let last = match chunks.get(i + 1) {
            Some(next) => ReplicaId(next[0].0 .0 - 1),
            None => hi,
        };
        out.push(Frame::Digest(DigestFrame {
            scope: Some((first, last)),
            version: chunk.iter().copied().collect(),
            reply,
            members: Vec::new(),
        }));
    }
    out
}

/// What [`Node::report_members`] is made of but the version (which only
/// grows while the replica stays), as counters that move when it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MembersKey {
    joined: bool,
    me: ReplicaId,
    remembered: u64,
    peers: u64,
}

impl Node {
    /// Queues our whole digest for `addr`, asking for its own in reply
    /// (counted as sent).
    pub(super) fn queue_our_digest(&mut self, addr: SocketAddr) {
        let digests = self.digest_frames(true);
        self.stats.digests_sent += digests.len() as u64;
        if let Some(peer) = self.peers.get_mut(&addr) {
            peer.queue_digests(digests);
        }
    }
}
