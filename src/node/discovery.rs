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
/// Most time between the announcements of a newcomer about to found
/// (jittered like the others).
const FOUNDING_INTERVAL: Duration = Duration::from_millis(500);

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
        // A newcomer about to found announces often (at least three times
        // within its delay), so that another one puts its own founding off
        // in time even when some announcements are lost (see `join.rs`,
        // "Founding alone"). It does so for a few seconds at start only.
        let interval = match self.config.found_after {
            Some(wait) if self.is_founding() => interval.min(wait / 3).min(FOUNDING_INTERVAL),
            _ => interval,
        };
        let next = self.jittered(interval.max(Duration::from_millis(1)));
        self.timers.set(node_timer::DISCOVER, now + next);
    }

    fn announce_on_lan(&mut self) {
        let founding = self.is_founding();
        let (Some(discovery), Some(keys)) = (&self.config.discovery, self.seal_keys.as_mut())
        else {
            return;
        };
        let announcement = Announcement {
            sender: self.doc.replica(),
            document: self.document,
            port: discovery.port,
            founding,
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
        if sealed.document != 0 {
            self.document_exists(sealed.document);
        }
        if announcement.founding {
            self.heard_founding(now, announcement.sender);
        }
        if announcement.port == 0
            || self.own_addrs.contains(&addr)
            || self.peers.contains_key(&addr)
            || self.peers.len() >= self.config.max_peers
        {
            return;
        }
        if self.defer_to_passive(addr, false) {
            return;
        }
        if self.ensure_peer(now, addr, false) {
            self.stats.discovery.found += 1;
            if let Some(peer) = self.peers.get_mut(&addr) {
                // (Discovery needs a key: no budget to limit it by.)
                peer.admission.learn(false);
            }
            self.start_exchange(now, addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::doc::{Doc, ReplicaId};
    use crate::node::Config;
    use crate::wire::{DecodeError, GroupKey, SealKeys};

    const DOC: u32 = 0xd0c0_0001;

    fn group() -> SocketAddr {
        SocketAddr::from(([239, 255, 82, 77], 47_389))
    }

    fn lan_config(key: Option<GroupKey>) -> Config {
        Config {
            key,
            document: DOC,
            epoch: 1,
            discovery: Some(Discovery {
                group: group(),
                port: 7001,
                interval: ANNOUNCE_INTERVAL,
            }),
            ..Config::default()
        }
    }

    fn member(replica: u64, config: Config) -> Node {
        Node::new(
            Doc::new(ReplicaId(replica)),
            config,
            ChaCha8Rng::seed_from_u64(replica),
            Time::ZERO,
        )
    }

    /// An announcement by replica `sender` of `document` (port 7002),
    /// sealed under the key of `seed`, as sequence `seq`.
    fn announcement(sender: u64, document: u32, seed: u64, seq: u64) -> Vec<u8> {
        let a = Announcement {
            sender: ReplicaId(sender),
            document,
            port: 7002,
            founding: false,
        };
        let mut keys = SealKeys::new(GroupKey::from_seed(seed));
        wire::seal_announcement(&mut keys, &a, SealId { epoch: 5, seq })
    }

    /// Where another member's announcement comes from (its LAN socket).
    fn lan_source() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 47_389))
    }

    fn drain(node: &mut Node) -> Vec<Transmit> {
        std::iter::from_fn(|| node.poll_transmit()).collect()
    }

    #[test]
    fn a_member_announces_at_start_then_about_every_interval() {
        let mut a = member(1, lan_config(Some(GroupKey::from_seed(1))));
        assert_eq!(a.poll_timeout(), Some(Time::ZERO), "at start");
        a.handle_timeout(Time::ZERO);
        let sent = drain(&mut a);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].to, group());
        let read = wire::read_announcement(&sent[0].bytes).unwrap();
        let mut keys = SealKeys::new(GroupKey::from_seed(1));
        let opened = read.open(&mut keys).unwrap();
        assert_eq!(
            (opened.sender, opened.document, opened.port),
            (ReplicaId(1), DOC, 7001)
        );
        // The next one comes within the jittered interval, not before half of it.
        let mut now = Time::ZERO;
        while a.stats().discovery.announced < 2 {
            now = a.poll_timeout().expect("timers armed");
            assert!(now <= Time::ZERO + ANNOUNCE_INTERVAL * 3 / 2, "{now:?}");
            a.handle_timeout(now);
            drain(&mut a);
        }
        assert!(now >= Time::ZERO + ANNOUNCE_INTERVAL / 2, "{now:?}");
    }

    #[test]
    fn changed_addresses_are_announced_at_once() {
        let mut a = member(1, lan_config(Some(GroupKey::from_seed(1))));
        a.handle_timeout(Time::ZERO);
        drain(&mut a);
        let later = Time::ZERO + std::time::Duration::from_secs(2);
        while let Some(t) = a.poll_timeout().filter(|&t| t <= later) {
            a.handle_timeout(t);
            drain(&mut a);
        }
        assert_eq!(a.stats().discovery.announced, 1, "none due yet");
        a.addresses_changed(later);
        assert_eq!(a.poll_timeout(), Some(later));
        a.handle_timeout(later);
        let sent = drain(&mut a);
        assert!(sent.iter().any(|t| t.to == group()), "{sent:?}");
        assert_eq!(a.stats().discovery.announced, 2);
    }

    #[test]
    fn a_member_heard_gets_one_small_probe_and_a_replay_nothing() {
        let mut a = member(1, lan_config(Some(GroupKey::from_seed(1))));
        a.handle_timeout(Time::ZERO);
        drain(&mut a);
        let bytes = announcement(2, DOC, 1, 0);
        a.handle_datagram(Time::ZERO, lan_source(), &bytes);
        let probed = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 2), 7002));
        assert_eq!(a.peers().len(), 1);
        assert_eq!(a.peers()[0].addr, probed);
        let sent = drain(&mut a);
        assert_eq!(sent.len(), 1, "one probe: {sent:?}");
        assert_eq!(sent[0].to, probed);
        // A sealed challenge (see `handshake`): not a datagram with data.
        assert!(sent[0].bytes.len() < 100, "{} bytes", sent[0].bytes.len());
        let d = &a.stats().discovery;
        assert_eq!((d.heard, d.found), (1, 1));
        // The same announcement again: a replay, no second probe.
        a.handle_datagram(Time::ZERO, lan_source(), &bytes);
        assert!(drain(&mut a).is_empty());
        assert_eq!(a.stats().discovery.replayed, 1);
        // A newer one from the same member: it is known, nothing more.
        a.handle_datagram(Time::ZERO, lan_source(), &announcement(2, DOC, 1, 1));
        assert!(drain(&mut a).is_empty());
        assert_eq!(a.peers().len(), 1);
        // A newcomer (document 0) announcing is probed too.
        let newcomer = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 3), 47_389));
        a.handle_datagram(Time::ZERO, newcomer, &announcement(3, 0, 1, 0));
        assert_eq!(a.stats().discovery.found, 2);
    }

    #[test]
    fn other_documents_keys_and_garbage_never_add_a_peer() {
        let mut a = member(1, lan_config(Some(GroupKey::from_seed(1))));
        a.handle_timeout(Time::ZERO);
        drain(&mut a);
        let other_document = announcement(2, 0xbad, 1, 0);
        let other_key = announcement(3, DOC, 2, 0);
        let good = announcement(4, DOC, 1, 0);
        for bytes in [&other_document, &other_key] {
            for _ in 0..100 {
                a.handle_datagram(Time::ZERO, lan_source(), bytes);
            }
        }
        for n in 0..good.len() {
            a.handle_datagram(Time::ZERO, lan_source(), &good[..n]);
        }
        let d = a.stats().discovery.clone();
        assert_eq!(d.other_document, 100);
        assert_eq!(d.other_key, 100);
        // Each cut of a good announcement is refused (the ones too short
        // for the magic are no announcement at all, and count as garbage).
        assert_eq!(d.malformed, good.len() as u64 - 2);
        assert_eq!((d.heard, d.found), (0, 0));
        assert!(a.peers().is_empty());
        assert!(drain(&mut a).is_empty(), "nothing answered");
        assert!(matches!(
            wire::read_announcement(&good[..good.len() - 1]),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn without_a_key_nothing_is_announced_nor_heard() {
        let mut a = member(1, lan_config(None));
        assert!(!a.discovers());
        a.handle_timeout(Time::ZERO);
        a.addresses_changed(Time::ZERO);
        a.handle_timeout(Time::ZERO);
        assert!(drain(&mut a).is_empty());
        a.handle_datagram(Time::ZERO, lan_source(), &announcement(2, DOC, 1, 0));
        assert_eq!(a.stats().discovery.ignored, 1);
        assert!(a.peers().is_empty());
    }

    #[test]
    fn our_own_announcement_looped_back_is_no_peer() {
        let mut a = member(1, lan_config(Some(GroupKey::from_seed(1))));
        a.handle_timeout(Time::ZERO);
        let sent = drain(&mut a);
        let me = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 47_389));
        a.handle_datagram(Time::ZERO, me, &sent[0].bytes);
        assert!(a.peers().is_empty());
        // Nor may anyone make it one: its address is ours.
        let own = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 7001));
        assert!(!a.add_peer(Time::ZERO, own));
    }
}
