//! Discovery on the LAN: members announce themselves to a multicast
//! group, and a member that hears an announcement of its own document
//! probes the sender as it would an address learned from a peer list.
//!
//! The node stays sans-IO: an announcement is a [`Transmit`] to
//! [`Discovery::group`], which the driver sends to the multicast group
//! (the simulator to every node of the LAN segment); one received comes
//! in through [`Node::handle_datagram`] like any datagram, told apart by
//! its magic (see `wire::announce`). Announcements go out when the node
//! starts and comes online, then every [`Discovery::interval`] with
//! jitter, and at once after [`Node::addresses_changed`].
//!
//! What an announcement may cost (it comes from anyone on the LAN):
//!
//! - Of another document: dropped on its clear header, unopened.
//! - Of our document under another key, or altered: one failed open.
//! - Authentic: accepted once (the replay windows of `replay.rs`), and
//!   then at most one small probe to the address it came from, with the
//!   port it names (the handshake's challenge, see `handshake.rs`): the
//!   address is a peer only once a member there answers. A learned
//!   address takes no one's place in a full peer table.
//!
//! Without a group key there is nothing to seal with: nothing is
//! announced, and announcements heard are ignored (counted).

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::{self, Announcement, DecodeError, SealId};

use super::timers::node_timer;
use super::{Node, Time, Transmit};

/// Where announcements go and what they say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The destination of announcements: the driver's multicast group
    /// (the simulator's LAN segment).
    pub group: SocketAddr,
    /// The port this node listens on, as announced.
    pub port: u16,
    /// About how often to announce (jittered by ±50%).
    pub interval: Duration,
}

/// Default [`Discovery::interval`].
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(30);

/// Counters of discovery, for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Announcements sent.
    pub announced: u64,
    /// Authentic announcements of our document heard (our own excluded).
    pub heard: u64,
    /// Addresses probed because an announcement named them.
    pub found: u64,
    /// Announcements of another document (dropped unopened).
    pub other_document: u64,
    /// Announcements that did not open: another group key, or altered.
    pub other_key: u64,
    /// Bytes with an announcement's magic that are not one.
    pub malformed: u64,
    /// Authentic, but accepted once already (or from an earlier run).
    pub replayed: u64,
    /// Heard with discovery off or without a group key.
    pub ignored: u64,
}

impl Node {
    /// Whether this node announces itself (a discovery config and a key).
    pub fn discovers(&self) -> bool {
        self.config.discovery.is_some() && self.seal_keys.is_some()
    }

    /// The node's addresses changed (an interface came up, or its address
    /// did): announce at once, so members learn the new address.
    pub fn addresses_changed(&mut self, now: Time) {
        self.tick(now);
        if self.discovers() {
            self.timers.set(node_timer::DISCOVER, now);
        }
    }

    /// Arms the first announcement (at start, or back online): now.
    pub(super) fn arm_discovery(&mut self, now: Time) {
        if self.discovers() {
            self.timers.set(node_timer::DISCOVER, now);
        }
    }

    /// The discovery timer fired: announce, and arm the next one.
    pub(super) fn discovery_timeout(&mut self, now: Time) {
        let Some(interval) = self.config.discovery.as_ref().map(|d| d.interval) else {
            return;
        };
        self.announce_on_lan();
        let next = self.jittered(interval.max(Duration::from_millis(1)));
        self.timers.set(node_timer::DISCOVER, now + next);
    }

    fn announce_on_lan(&mut self) {
        let (Some(discovery), Some(keys)) = (&self.config.discovery, self.seal_keys.as_mut())
        else {
            return;
        };
        let announcement = Announcement {
            sender: self.doc.replica(),
            document: self.document,
            port: discovery.port,
        };
        let id = SealId {
            epoch: self.config.epoch,
            seq: self.sealed_count,
        };
        self.sealed_count += 1;
        let bytes = wire::seal_announcement(keys, &announcement, id);
        self.stats.discovery.announced += 1;
        self.direct.push_back(Transmit {
            to: discovery.group,
            bytes,
        });
    }

    /// An announcement from `from` (see the module docs for what it may cost).
    pub(super) fn on_announcement(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        let counts = &mut self.stats.discovery;
        let (true, Some(keys)) = (self.config.discovery.is_some(), self.seal_keys.as_mut()) else {
            counts.ignored += 1;
            return;
        };
        let sealed = match wire::read_announcement(bytes) {
            Ok(sealed) => sealed,
            Err(_) => {
                counts.malformed += 1;
                return;
            }
        };
        // A newcomer (0) may join any document; a member hears its own
        // and newcomers'.
        if sealed.document != 0 && self.document != 0 && sealed.document != self.document {
            counts.other_document += 1;
            return;
        }
        let announcement = match sealed.open(keys) {
            Ok(a) => a,
            Err(DecodeError::BadTag) => {
                counts.other_key += 1;
                return;
            }
            Err(_) => {
                counts.malformed += 1;
                return;
            }
        };
        let mut addr = from;
        addr.set_port(announcement.port);
        if announcement.sender == self.doc.replica() {
            // Our own, looped back: that address is ours.
            self.own_addrs.insert(addr);
            self.peers.remove(&addr);
            return;
        }
        if self
            .replay
            .accept(announcement.sender, sealed.id, now)
            .is_err()
        {
            counts.replayed += 1;
            return;
        }
        counts.heard += 1;
        if announcement.port == 0
            || self.own_addrs.contains(&addr)
            || self.peers.contains_key(&addr)
            || self.peers.len() >= self.config.max_peers
        {
            return;
        }
        if self.ensure_peer(now, addr, false) {
            self.stats.discovery.found += 1;
            if let Some(peer) = self.peers.get_mut(&addr) {
                peer.learned = true;
                peer.probe = true;
            }
            self.start_exchange(now, addr);
        }
    }
}
