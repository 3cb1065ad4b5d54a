//! Joining and rejoining: a newcomer's `Join`, which document a peer
//! edits, snapshots sent and loaded, and founding alone.
//!
//! # Founding alone
//!
//! A replica started with the group secret and nothing else (no peer, no
//! document, no history) cannot know whether its group already has a
//! document on the LAN. If it founded one at once, it would never join the
//! group's: two documents never merge. If it waited as a newcomer for
//! ever, the first person to start would wait for ever too. So it starts
//! as a newcomer (`Config::found_after`), announces itself with the
//! `founding` flag, and:
//!
//! - a member that hears it probes it, and it joins that member's document
//!   as any newcomer does (a snapshot; its own edits are re-made). Once
//!   it has heard of a document at all (an announcement or a datagram
//!   naming one), it founds none: it waits for a member of that document,
//!   however long, as a newcomer with a ticket does, and its announcements
//!   name that document, so other founding newcomers that hear only it
//!   wait too (a partition must not split the group into two documents);
//! - if no member has let it join `found_after` after it started, it
//!   founds a document itself ([`new_document`] of its replica id) and
//!   announces it at once;
//! - two such newcomers that hear each other do not both found: the one
//!   with the smaller replica id puts its own founding off while it hears
//!   the other announce as founding, so the one with the greatest id
//!   founds and the others join it (they met it by its announcements,
//!   and ask it to join until it can answer; its first datagram naming its
//!   document ends their own wait). While it waits, a founding
//!   newcomer announces about twice a second (at least three times per
//!   `found_after`), so a live one is heard within the delay even when
//!   some announcements are lost.
//!
//! The order is fixed by replica ids, not by time: every run with the same
//! seed makes the same choice. What it does not cover: two replicas that
//! never hear each other within the delay (a lost link at start, or
//! started minutes apart on two LANs) found two documents, and those stay
//! apart, as two `rumor --new` do.

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;

use crate::doc::{self, Patch, ReplicaId, VersionVector};
use crate::wire::{self, DatagramBuilder};

use super::anti_entropy::digest_frames;
use super::gossip::Gossip;
use super::peer::Peer;
use super::timers::node_timer;
use super::{snapshot, Event, Node, Refusal, Time, ACK_RESERVE};

/// How long a replica started with only the group secret looks for a
/// member on the LAN before it founds a document (`Config::found_after`).
pub const FOUND_AFTER: Duration = Duration::from_secs(3);

/// A founder's new document id: made from its replica id (itself random),
/// never 0. (Not from the node's random numbers, which the simulator's runs
/// are reproduced from.)
pub fn new_document(founder: ReplicaId) -> u32 {
    let mixed = founder.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((mixed >> 32) as u32) | 1
}

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
            .is_some_and(|p| p.known().dominates(ours) && ours.dominates(p.known()));
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
        if document != 0 {
            self.document_exists(document);
        }
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

    /// Whether this newcomer founds a document unless a member lets it join
    /// first (see "Founding alone"): what its announcements say.
    pub fn is_founding(&self) -> bool {
        !self.joined && self.timers.get(node_timer::FOUND).is_some()
    }

    /// At start and back online: a newcomer told of no peer founds alone
    /// after `Config::found_after`, unless it joins first.
    pub(super) fn arm_founding(&mut self, now: Time) {
        match self.config.found_after {
            Some(wait) if !self.joined && self.document == 0 && self.discovers() => {
                self.timers.set(node_timer::FOUND, now + wait);
            }
            _ => self.timers.clear(node_timer::FOUND),
        }
    }

    /// Puts founding off for another `found_after` from `now`.
    pub(super) fn defer_founding(&mut self, now: Time) {
        if let (Some(wait), Some(at)) =
            (self.config.found_after, self.timers.get(node_timer::FOUND))
        {
            self.timers.set(node_timer::FOUND, at.max(now + wait));
        }
    }

    /// An authentic datagram or announcement named `document`: the group
    /// has one, so a founding newcomer founds none and waits for a member
    /// of that one, as a newcomer given a ticket does: its announcements
    /// name it from now on, so that other founding newcomers that hear
    /// only it learn of the document too (see "Founding alone").
    pub(super) fn document_exists(&mut self, document: u32) {
        if self.is_founding() {
            self.timers.clear(node_timer::FOUND);
            self.document = document;
        }
    }

    /// A founding newcomer `sender` was heard announcing: the greater id
    /// founds, the others wait for it (see "Founding alone").
    pub(super) fn heard_founding(&mut self, now: Time, sender: ReplicaId) {
        if !self.joined && sender > self.doc.replica() {
            self.defer_founding(now);
        }
    }

    /// No member let us join in time: found the document ourselves, and
    /// say so on the LAN at once.
    pub(super) fn found_alone(&mut self, now: Time) {
        if self.joined || self.document != 0 || self.own_ops_lost {
            return;
        }
        self.joined = true;
        self.document = new_document(self.doc.replica());
        self.events.push_back(Event::Founded {
            document: self.document,
        });
        // Our own edits made while waiting are news for those who join.
        self.peers.mark_all();
        self.arm_discovery(now);
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
        let free = |p: &Peer| p.snapshot.is_free(now, p.rtt.rto());
        if !self.peers.get(&addr).is_some_and(free) {
            return;
        }
        let bytes = snapshot::current(&mut self.snapshot_cache, &self.doc, &mut self.stats);
        let chunk = self.config.mtu - DatagramBuilder::overhead() - ACK_RESERVE - 32;
        let id = self.rng.random();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.snapshot
            .start(snapshot::Outgoing::new(id, bytes, ours, chunk));
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
                self.timers.clear(node_timer::FOUND);
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
                    peer.has_version(&version);
                }
            }
            Err(_) => self.stats.drops.bad_snapshot += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::doc::Doc;
    use crate::node::{Config, Discovery, Edit, ANNOUNCE_INTERVAL};
    use crate::wire::GroupKey;

    const PORT: u16 = 7001;
    const LAN_PORT: u16 = 47_389;
    const DOC: u32 = 0xd0c0_0001;

    fn group() -> SocketAddr {
        SocketAddr::from(([239, 255, 82, 77], LAN_PORT))
    }

    fn ip(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, 1 + i as u8)
    }

    /// A replica started with the group secret and nothing else, as the
    /// host boots it (see `host::boot`): a newcomer that founds alone.
    fn with_secret_only(replica: u64) -> Node {
        let config = Config {
            joining: true,
            found_after: Some(FOUND_AFTER),
            ..lan_config()
        };
        Node::new(
            Doc::new(ReplicaId(replica)),
            config,
            ChaCha8Rng::seed_from_u64(replica),
            Time::ZERO,
        )
    }

    /// A member of document `DOC` holding `text`.
    fn member(replica: u64, text: &str) -> Node {
        let mut doc = Doc::new(ReplicaId(replica));
        doc.insert(0, text).unwrap();
        let config = Config {
            document: DOC,
            ..lan_config()
        };
        Node::new(doc, config, ChaCha8Rng::seed_from_u64(replica), Time::ZERO)
    }

    fn lan_config() -> Config {
        Config {
            key: Some(GroupKey::from_seed(7)),
            epoch: 1,
            discovery: Some(Discovery {
                group: group(),
                port: PORT,
                interval: ANNOUNCE_INTERVAL,
            }),
            ..Config::default()
        }
    }

    /// Nodes on one LAN segment: node `i` listens at 10.0.0.(i+1):7001 and
    /// announces from port 47389 of that address; every announcement
    /// reaches every other node, every datagram its address, after 1 ms.
    struct Lan {
        nodes: Vec<Node>,
        now: Time,
        /// Every event each node gave, in order.
        events: Vec<Vec<Event>>,
        /// Links that drop everything (by node index, both ways).
        cut: Vec<(usize, usize)>,
    }

    impl Lan {
        fn new(nodes: Vec<Node>) -> Lan {
            let n = nodes.len();
            Lan {
                nodes,
                now: Time::ZERO,
                events: vec![Vec::new(); n],
                cut: Vec::new(),
            }
        }

        fn index(&self, to: SocketAddr) -> Option<usize> {
            (0..self.nodes.len()).find(|&i| to == SocketAddr::from((ip(i), PORT)))
        }

        fn is_cut(&self, a: usize, b: usize) -> bool {
            self.cut.contains(&(a, b)) || self.cut.contains(&(b, a))
        }

        /// Runs every node until `until`: timers, datagrams, events.
        fn run_until(&mut self, until: Time) {
            let mut in_flight: Vec<(Time, usize, SocketAddr, Vec<u8>)> = Vec::new();
            loop {
                for i in 0..self.nodes.len() {
                    while let Some(t) = self.nodes[i].poll_transmit() {
                        let at = self.now + Duration::from_millis(1);
                        if t.to == group() {
                            let from = SocketAddr::from((ip(i), LAN_PORT));
                            for j in (0..self.nodes.len()).filter(|&j| j != i) {
                                if !self.is_cut(i, j) {
                                    in_flight.push((at, j, from, t.bytes.clone()));
                                }
                            }
                        } else if let Some(j) = self.index(t.to).filter(|&j| !self.is_cut(i, j)) {
                            in_flight.push((at, j, SocketAddr::from((ip(i), PORT)), t.bytes));
                        }
                    }
                    while let Some(e) = self.nodes[i].poll_event() {
                        self.events[i].push(e);
                    }
                }
                let next_timer = self.nodes.iter().filter_map(Node::poll_timeout).min();
                let next_datagram = in_flight.iter().map(|d| d.0).min();
                let Some(next) = next_timer.into_iter().chain(next_datagram).min() else {
                    break;
                };
                if next > until {
                    break;
                }
                self.now = self.now.max(next);
                let now = self.now;
                let (due, later): (Vec<_>, Vec<_>) =
                    in_flight.into_iter().partition(|d| d.0 <= now);
                in_flight = later;
                for (_, j, from, bytes) in due {
                    self.nodes[j].handle_datagram(now, from, &bytes);
                }
                for node in &mut self.nodes {
                    if node.poll_timeout().is_some_and(|t| t <= now) {
                        node.handle_timeout(now);
                    }
                }
            }
            self.now = until;
        }

        fn founded(&self, i: usize) -> usize {
            self.events[i]
                .iter()
                .filter(|e| matches!(e, Event::Founded { .. }))
                .count()
        }
    }

    fn secs(s: u64) -> Time {
        Time::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn alone_it_founds_a_document_after_the_delay() {
        let mut lan = Lan::new(vec![with_secret_only(5)]);
        assert!(lan.nodes[0].is_founding());
        lan.run_until(secs(2));
        let w = &lan.nodes[0];
        assert!(!w.is_joined() && w.document() == 0);
        // It announced as founding, about every second while it waited.
        assert!(
            w.stats().discovery.announced >= 2,
            "{:?}",
            w.stats().discovery
        );
        lan.run_until(secs(4));
        let w = &lan.nodes[0];
        assert!(w.is_joined() && !w.is_founding());
        assert_eq!(w.document(), new_document(ReplicaId(5)));
        assert_eq!(
            lan.events[0],
            vec![Event::Founded {
                document: w.document()
            }]
        );
    }

    #[test]
    fn a_member_on_the_lan_lets_it_join_and_it_never_founds() {
        let mut lan = Lan::new(vec![member(1, "the group's text"), with_secret_only(9)]);
        // Typed while it looks: re-made on the group's document.
        lan.nodes[1]
            .edit(
                Time::ZERO,
                Edit::Insert {
                    pos: 0,
                    text: "mine ".into(),
                },
            )
            .unwrap();
        lan.run_until(secs(2));
        let w = &lan.nodes[1];
        assert!(w.is_joined(), "joined well within the delay");
        assert_eq!(w.document(), DOC);
        lan.run_until(secs(20));
        assert_eq!(lan.founded(1), 0);
        let texts: Vec<String> = lan.nodes.iter().map(|n| n.doc().text()).collect();
        assert_eq!(texts[0], texts[1]);
        assert!(texts[0].contains("mine ") && texts[0].contains("the group's text"));
        assert_eq!(
            lan.nodes[0].document(),
            DOC,
            "the member keeps its document"
        );
    }

    #[test]
    fn several_started_at_once_found_one_document_the_greatest_id_s() {
        let ids = [0x30, 0x10, 0x50, 0x20];
        let nodes = ids.iter().map(|&id| with_secret_only(id)).collect();
        let mut lan = Lan::new(nodes);
        for (i, node) in lan.nodes.iter_mut().enumerate() {
            let text = format!("<{i}>");
            node.edit(Time::ZERO, Edit::Insert { pos: 0, text })
                .unwrap();
        }
        lan.run_until(secs(30));
        let founders: Vec<usize> = (0..ids.len()).filter(|&i| lan.founded(i) > 0).collect();
        assert_eq!(founders, vec![2], "only the greatest id founds");
        let document = new_document(ReplicaId(0x50));
        for (i, node) in lan.nodes.iter().enumerate() {
            assert!(node.is_joined(), "node {i}");
            assert_eq!(node.document(), document, "node {i}");
            assert_eq!(lan.founded(i), usize::from(i == 2), "node {i}");
        }
        let text = lan.nodes[0].doc().text();
        for i in 0..ids.len() {
            assert!(text.contains(&format!("<{i}>")), "{text:?}");
            assert_eq!(lan.nodes[i].doc().text(), text);
        }
    }

    #[test]
    fn the_smaller_id_waits_only_while_it_hears_the_greater() {
        // Node 1 (the smaller id) hears node 0 announce as founding, then
        // the link is cut before node 0 founds: node 1 waits the delay
        // after it last heard node 0, then founds itself.
        let mut lan = Lan::new(vec![with_secret_only(0x90), with_secret_only(0x40)]);
        // Until node 1 has heard node 0 twice (at start, then after half
        // to one and a half seconds).
        let step = Duration::from_millis(100);
        while lan.nodes[1].stats().discovery.heard < 2 {
            lan.run_until(lan.now + step);
        }
        let cut_at = lan.now;
        lan.cut.push((0, 1));
        lan.run_until(secs(3) + step);
        assert_eq!(lan.founded(0), 1, "the greater founds on time");
        // Node 1 last heard node 0 within `step` before the cut.
        lan.run_until(cut_at + FOUND_AFTER - step * 2);
        assert_eq!(lan.founded(1), 0, "the smaller still waits");
        assert!(lan.nodes[1].is_founding());
        lan.run_until(secs(10));
        assert_eq!(
            lan.founded(1),
            1,
            "then founds, as nobody is left to wait for"
        );
        assert_ne!(lan.nodes[0].document(), lan.nodes[1].document());
    }

    #[test]
    fn once_it_heard_of_a_document_it_waits_for_a_member_however_long() {
        // It hears one announcement of a member, and then nothing (a
        // partition): it must not found a second document meanwhile.
        let mut m = member(1, "the group's text");
        m.handle_timeout(Time::ZERO);
        let announcement = m.poll_transmit().expect("announces at start");
        assert_eq!(announcement.to, group());
        let mut lan = Lan::new(vec![with_secret_only(9)]);
        let from = SocketAddr::from((ip(1), LAN_PORT));
        lan.nodes[0].handle_datagram(Time::ZERO, from, &announcement.bytes);
        assert!(!lan.nodes[0].is_founding());
        lan.run_until(secs(120));
        assert_eq!(lan.founded(0), 0);
        assert!(!lan.nodes[0].is_joined());
        // It waits for that document, and says so when it announces.
        assert_eq!(lan.nodes[0].document(), DOC);
        let mut keys = crate::wire::SealKeys::new(GroupKey::from_seed(7));
        let mut w = lan.nodes.remove(0);
        w.addresses_changed(secs(120));
        w.handle_timeout(secs(120));
        let sent = w.poll_transmit().expect("an announcement");
        let read = crate::wire::read_announcement(&sent.bytes).unwrap();
        assert_eq!((read.document, read.founding), (DOC, false));
        assert!(read.open(&mut keys).is_ok());
    }

    #[test]
    fn a_replica_told_of_peers_or_of_a_document_never_founds() {
        // A ticket's newcomer knows its document: it waits for a member
        // of it, however long (the host gives it no `found_after`; the
        // node does not found a document it was told of either).
        let mut by_ticket = Node::new(
            Doc::new(ReplicaId(3)),
            Config {
                joining: true,
                document: DOC,
                found_after: Some(FOUND_AFTER),
                ..lan_config()
            },
            ChaCha8Rng::seed_from_u64(3),
            Time::ZERO,
        );
        assert!(!by_ticket.is_founding());
        by_ticket.handle_timeout(secs(60));
        assert!(!by_ticket.is_joined());
        assert!(std::iter::from_fn(|| by_ticket.poll_event())
            .all(|e| !matches!(e, Event::Founded { .. })));
        // Without LAN discovery (or a key), there is no one to find: no wait.
        let no_lan = Node::new(
            Doc::new(ReplicaId(4)),
            Config {
                joining: true,
                found_after: Some(FOUND_AFTER),
                discovery: None,
                ..lan_config()
            },
            ChaCha8Rng::seed_from_u64(4),
            Time::ZERO,
        );
        assert!(!no_lan.is_founding());
    }
}
