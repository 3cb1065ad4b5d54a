//! The driver's commands (add a peer, go offline, sync now, snapshots,
//! membership) and getters, beside the calling contract in `mod.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::doc::VersionVector;

use super::peer::Peer;
use super::stability::Membership;
use super::{snapshot, Node, PeerInfo, Stats, Time};

impl Node {
    /// Adds a peer by address (or wakes it up if known) and starts a digest exchange.
    ///
    /// Returns false when `addr` is not a peer now: it is this node's own
    /// address, or the peer table is full. In a large group (see
    /// `Config::view_max`) it may be kept as an address only, to be
    /// contacted when the node's view needs it: true as well.
    pub fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        self.tick(now);
        if self.own_addrs.contains(&addr) {
            return false;
        }
        if self.defer_to_passive(addr, true) {
            // A large group: known, and contacted if the view needs it.
            return true;
        }
        if !self.ensure_peer(now, addr, true) {
            self.stats.drops.peer_table_full += 1;
            return false;
        }
        if let Some(peer) = self.peers.get_mut(&addr) {
            peer.admission.configure();
        }
        self.start_exchange(now, addr);
        true
    }

    /// Offline: sends nothing and ignores input; edits go on. Online again:
    /// what was in flight is forgotten and a digest exchange with every
    /// peer catches both sides up.
    pub fn set_online(&mut self, now: Time, online: bool) {
        self.tick(now);
        if online == self.online {
            return;
        }
        self.online = online;
        // Whatever waited while offline may go now.
        self.peers.mark_all();
        if online {
            self.arm_node_timers(now);
            let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
            for addr in addrs {
                let peer = self.peers.get_mut(&addr).expect("listed");
                peer.reset_sending();
                peer.rtt.on_ack();
                self.start_exchange(now, addr);
            }
        }
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Starts a digest exchange with every peer now.
    pub fn sync_now(&mut self, now: Time) {
        self.tick(now);
        let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.start_exchange(now, addr);
        }
    }

    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers.values().map(Peer::info).collect()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Encodes now the snapshot a newcomer would get, unless the document
    /// is too small to be sent as one or the last snapshot is still
    /// current: so the first newcomer does not wait for the encoding. A
    /// driver calls it when it has time to spare (at start, say).
    pub fn prepare_snapshot(&mut self) {
        if self.doc.version_ref().total() >= self.config.snapshot_min_ops.max(1) {
            self.snapshot_now();
        }
    }

    /// The snapshot of the document as it is now (`Doc::encode_snapshot`'s
    /// bytes): the last one made, loaded or offered if still current, else
    /// a new one, kept for newcomers. What a driver compacts its log into.
    pub fn snapshot_now(&mut self) -> Arc<[u8]> {
        snapshot::current(&mut self.snapshot_cache, &self.doc, &mut self.stats)
    }

    /// The snapshot the node has of its document as it is now, if any
    /// (made for a newcomer, offered, or just loaded from a peer).
    pub fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        self.snapshot_cache
            .as_ref()
            .filter(|c| &c.version == self.doc.version_ref())
            .map(|c| &c.bytes)
    }

    /// Hands the node a snapshot of its document, `Doc::encode_snapshot`'s
    /// bytes made at `version` (say, the one a driver's log was compacted
    /// into), to send to newcomers instead of encoding its own. Ignored
    /// unless `version` is the document's version now.
    pub fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        if self.doc.version_ref() == &version {
            self.snapshot_cache = Some(snapshot::Cached { version, bytes });
        }
    }

    /// Whether this node is a member (not a newcomer waiting for a snapshot).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The document this replica edits, 0 while it has none (a newcomer).
    pub fn document(&self) -> u32 {
        self.document
    }

    /// The document of the last datagram refused as another document's.
    pub fn foreign_document(&self) -> u32 {
        self.foreign_document
    }

    /// What this replica must remember about its group across restarts
    /// (see `stability`, "Restarts"). Keep it durably before sending what
    /// `poll_transmit` gives, and hand it back with
    /// [`Node::restore_membership`] at the next boot.
    pub fn membership(&self) -> Membership {
        let (mut members, gone) = self.stability.membership();
        members.retain(|&m| m != self.doc.replica());
        Membership {
            joined: self.joined,
            document: self.document,
            members,
            gone,
        }
    }

    /// Differs from its last value whenever [`Node::membership`] may have
    /// changed: the host writes the membership only then.
    pub fn membership_changes(&self) -> (u64, bool, u32) {
        (self.stability.changes, self.joined, self.document)
    }

    /// At boot, before any input: the membership this replica kept. A
    /// replica that was a member is one again (whatever
    /// `Config::joining` says); the members it knew hold its cleanup back
    /// until they report or are declared gone.
    pub fn restore_membership(&mut self, now: Time, membership: &Membership) {
        if membership.joined && !self.own_ops_lost {
            self.joined = true;
        }
        if self.document == 0 {
            self.document = membership.document;
        }
        self.stability
            .restore(&membership.members, &membership.gone, now);
    }
}
