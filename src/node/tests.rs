//! Node unit tests: digests and their difference, driven by hand (the
//! multi-node scenarios are in `tests/protocol.rs`).

use std::net::{Ipv4Addr, SocketAddr};

use rand::SeedableRng;

use crate::doc::Op;
use crate::wire::{DigestFrame, Header};

use super::anti_entropy::digest_frames;
use super::received::ReceivedPackets;
use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn node(replica: u64) -> Node {
    node_with(replica, replica, Config::default())
}

/// A node of replica `replica` with its RNG seeded by `seed`.
fn node_with(replica: u64, seed: u64, config: Config) -> Node {
    Node::new(
        Doc::new(ReplicaId(replica)),
        config,
        ChaCha8Rng::seed_from_u64(seed),
        Time::ZERO,
    )
}

/// The bytes of a datagram from replica `sender` with packet number `packet`.
fn datagram(sender: ReplicaId, packet: u64, frames: &[Frame]) -> Vec<u8> {
    wire::encode(
        &Header {
            document: 0,
            sender,
            packet,
        },
        frames,
    )
}

/// Every frame `node` sends to anyone, drained.
fn sent_frames(node: &mut Node) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(t) = node.poll_transmit() {
        assert!(t.bytes.len() <= node.config().mtu);
        out.extend(wire::decode(&t.bytes).expect("own datagrams decode").1);
    }
    out
}

/// The packet numbers of the datagrams `node` sends to `to`, every
/// datagram drained (in the clear a peer's numbers start at random).
fn sent_packets_to(node: &mut Node, to: SocketAddr) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some(t) = node.poll_transmit() {
        if t.to == to {
            out.push(
                wire::decode(&t.bytes)
                    .expect("own datagrams decode")
                    .0
                    .packet,
            );
        }
    }
    out
}

/// Counters carried by the op frames, per replica.
fn op_counters(frames: &[Frame]) -> BTreeMap<ReplicaId, u64> {
    let mut out = BTreeMap::new();
    for f in frames {
        if let Frame::Op(op) = f {
            *out.entry(op.id.replica).or_default() += op.len();
        }
    }
    out
}

fn digest_of(v: &VersionVector, scope: Option<(ReplicaId, ReplicaId)>, reply: bool) -> Vec<u8> {
    datagram(
        ReplicaId(1),
        0,
        &[Frame::Digest(DigestFrame {
            members: Vec::new(),
            scope,
            version: v.clone(),
            reply,
        })],
    )
}

#[test]
fn digest_difference_is_exactly_what_the_peer_lacks() {
    // Peer 1 has replica 7's first 10 chars; we (2) have 7's 30 and 40 of our own.
    let mut a = Doc::new(ReplicaId(7));
    a.insert(0, &"a".repeat(30)).unwrap();
    let mut b = node(2);
    for op in a.ops_since(&VersionVector::new()) {
        b.doc.apply(op).unwrap();
    }
    b.doc.insert(0, &"b".repeat(40)).unwrap();
    b.add_peer(Time::ZERO, addr(1));
    let theirs: VersionVector = [(ReplicaId(7), 10)].into_iter().collect();
    b.handle_datagram(Time::ZERO, addr(1), &digest_of(&theirs, None, false));
    let frames = sent_frames(&mut b);
    let sent = op_counters(&frames);
    assert_eq!(
        sent.get(&ReplicaId(7)),
        Some(&20),
        "only 7's counters 10..30"
    );
    assert_eq!(sent.get(&ReplicaId(2)), Some(&40));
    // It had nothing we lack: no digest comes back, only ours from add_peer.
    let replies = frames
        .iter()
        .filter(|f| matches!(f, Frame::Digest(d) if !d.reply))
        .count();
    assert_eq!(replies, 0);
}

#[test]
fn a_digest_with_more_gets_our_digest_back() {
    let mut b = node(2);
    b.add_peer(Time::ZERO, addr(1));
    sent_frames(&mut b);
    let theirs: VersionVector = [(ReplicaId(9), 5)].into_iter().collect();
    b.handle_datagram(Time::ZERO, addr(1), &digest_of(&theirs, None, true));
    let frames = sent_frames(&mut b);
    assert!(frames
        .iter()
        .any(|f| matches!(f, Frame::Digest(d) if !d.reply && d.version.is_empty())));
    // Asked without `reply`: no answer digest (no ping-pong).
    b.handle_datagram(Time::ZERO, addr(1), &digest_of(&theirs, None, false));
    assert!(!sent_frames(&mut b)
        .iter()
        .any(|f| matches!(f, Frame::Digest(_))));
}

#[test]
fn a_scoped_digest_only_speaks_for_its_replicas() {
    let mut b = node(50);
    for r in [10u64, 20, 30] {
        let mut d = Doc::new(ReplicaId(r));
        d.insert(0, "xyz").unwrap();
        for op in d.ops_since(&VersionVector::new()) {
            b.doc.apply(op).unwrap();
        }
    }
    b.add_peer(Time::ZERO, addr(1));
    // The peer's digest for replicas 15..=35 says it has nothing of them.
    b.handle_datagram(
        Time::ZERO,
        addr(1),
        &digest_of(
            &VersionVector::new(),
            Some((ReplicaId(15), ReplicaId(35))),
            false,
        ),
    );
    let frames = sent_frames(&mut b);
    let sent: Vec<ReplicaId> = op_counters(&frames).into_keys().collect();
    // Before its digest the node pushes everything once (state says the
    // peer has nothing); the digest must not add duplicates of 20 and 30.
    let per = op_counters(&frames);
    assert_eq!(per.get(&ReplicaId(20)), Some(&3));
    assert_eq!(per.get(&ReplicaId(30)), Some(&3));
    assert!(sent.contains(&ReplicaId(10)));
}

#[test]
fn big_version_vectors_become_several_digests_that_cover_everything() {
    let v: VersionVector = (0..400u64)
        .map(|i| (ReplicaId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)), i + 1))
        .collect();
    let max = 1000;
    let frames = digest_frames(&v, None, true, max, Vec::new());
    assert!(frames.len() > 1);
    let mut next_first = Some(ReplicaId(0));
    let mut seen = VersionVector::new();
    for f in &frames {
        assert!(wire::encoded_len(f, ReplicaId(0)) <= max);
        let Frame::Digest(d) = f else { panic!() };
        let (first, last) = d.scope.unwrap();
        assert_eq!(Some(first), next_first, "scopes are contiguous");
        next_first = last.0.checked_add(1).map(ReplicaId);
        for (r, n) in d.version.iter() {
            assert!(d.covers(r));
            seen.set(r, n);
        }
    }
    assert_eq!(next_first, None, "the last scope ends at the largest id");
    assert_eq!(seen, v);
}

#[test]
fn ops_learned_from_a_peer_are_not_echoed_back() {
    let mut a = Doc::new(ReplicaId(7));
    a.insert(0, "hello").unwrap();
    let op = a.ops_since(&VersionVector::new()).remove(0);
    // Without peer exchange a node relays everything to every peer (its
    // peers need not know each other).
    let mut b = node_with(
        2,
        2,
        Config {
            peer_exchange: false,
            ..Config::default()
        },
    );
    b.add_peer(Time::ZERO, addr(1));
    b.add_peer(Time::ZERO, addr(3));
    // Peer 3 has answered (a peer never heard from is down: nothing is pushed to it).
    let ping = datagram(ReplicaId(8), 0, &[Frame::Ping]);
    b.handle_datagram(Time::ZERO, addr(3), &ping);
    sent_frames(&mut b);
    let bytes = datagram(ReplicaId(7), 0, &[Frame::Op(op)]);
    b.handle_datagram(Time::ZERO, addr(1), &bytes);
    let mut to = BTreeMap::new();
    while let Some(t) = b.poll_transmit() {
        let ops = op_counters(&wire::decode(&t.bytes).unwrap().1);
        *to.entry(t.to).or_insert(0) += ops.values().sum::<u64>();
    }
    assert_eq!(to.get(&addr(3)), Some(&5), "relayed to the other peer");
    assert_eq!(to.get(&addr(1)).copied().unwrap_or(0), 0, "not echoed");
}

/// A node that has heard from `peers` (peer `i` at port `10 + i` is replica `100 + i`).
fn node_with_peers(replica: u64, peers: u16) -> Node {
    let mut b = node(replica);
    for i in 0..peers {
        b.add_peer(Time::ZERO, addr(10 + i));
        let ping = datagram(ReplicaId(100 + u64::from(i)), 0, &[Frame::Ping]);
        b.handle_datagram(Time::ZERO, addr(10 + i), &ping);
    }
    sent_frames(&mut b);
    b
}

/// Ops sent by `b` to each address, in chars, drained.
fn ops_sent_to(b: &mut Node) -> BTreeMap<SocketAddr, u64> {
    let mut to = BTreeMap::new();
    while let Some(t) = b.poll_transmit() {
        let ops = op_counters(&wire::decode(&t.bytes).unwrap().1);
        *to.entry(t.to).or_insert(0) += ops.values().sum::<u64>();
    }
    to.retain(|_, n| *n > 0);
    to
}

#[test]
fn small_groups_push_from_the_author_to_everyone_and_nobody_relays() {
    let mut b = node_with_peers(2, 4);
    b.edit(
        Time::ZERO,
        Edit::Insert {
            pos: 0,
            text: "hi".into(),
        },
    )
    .unwrap();
    let to = ops_sent_to(&mut b);
    assert_eq!(to.len(), 4, "own op to every peer: {to:?}");
    assert!(to.values().all(|&n| n == 2));
    // An op from peer 10 (replica 100): its author pushed it to everyone.
    let mut a = Doc::new(ReplicaId(100));
    a.insert(0, "hello").unwrap();
    let op = a.ops_since(&VersionVector::new()).remove(0);
    let bytes = datagram(ReplicaId(100), 1, &[Frame::Op(op)]);
    b.handle_datagram(Time::ZERO, addr(10), &bytes);
    assert_eq!(ops_sent_to(&mut b), BTreeMap::new(), "no relay");
}

#[test]
fn large_groups_push_to_the_fanout_and_relay_down_the_tree() {
    let fanout = Config::default().fanout;
    let mut b = node_with_peers(2, 40);
    b.edit(
        Time::ZERO,
        Edit::Insert {
            pos: 0,
            text: "hi".into(),
        },
    )
    .unwrap();
    let to = ops_sent_to(&mut b);
    assert_eq!(to.len(), fanout, "own op to `fanout` peers: {to:?}");
    // Ops of every other member: b relays each to at most `fanout` peers,
    // never back to the author, and over all authors to many peers.
    let mut relayed_to = BTreeSet::new();
    let mut relaying = 0;
    for i in 0..40u16 {
        let author = ReplicaId(100 + u64::from(i));
        let mut a = Doc::new(author);
        a.insert(0, "x").unwrap();
        let op = a.ops_since(&VersionVector::new()).remove(0);
        let bytes = datagram(author, 1, &[Frame::Op(op)]);
        b.handle_datagram(Time::ZERO, addr(10 + i), &bytes);
        let to = ops_sent_to(&mut b);
        assert!(to.len() <= fanout, "{to:?}");
        assert!(!to.contains_key(&addr(10 + i)), "not echoed to the author");
        relaying += usize::from(!to.is_empty());
        relayed_to.extend(to.into_keys());
    }
    // In a 41-member 4-ary tree, 10 ranks of 41 have children: b relays
    // for about a quarter of the authors.
    assert!((5..=20).contains(&relaying), "{relaying}");
    assert!(relayed_to.len() >= 15, "{}", relayed_to.len());
}

#[test]
fn an_announcement_of_missing_ops_leads_to_a_pull_after_the_delay() {
    let mut b = node_with_peers(2, 3);
    let mut v = VersionVector::new();
    v.set(ReplicaId(100), 5);
    v.set(ReplicaId(2), 0);
    let have = datagram(ReplicaId(101), 1, &[Frame::Have(v.iter().collect())]);
    b.handle_datagram(Time::ZERO, addr(11), &have);
    let digests = |frames: Vec<Frame>| {
        frames
            .into_iter()
            .filter_map(|f| match f {
                Frame::Digest(d) => Some(d),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(digests(sent_frames(&mut b)).is_empty(), "waits first");
    let due = b.poll_timeout().unwrap();
    assert!(due <= Time::ZERO + Config::default().pull_delay);
    let later = Time::ZERO + Config::default().pull_delay;
    b.handle_timeout(later);
    let mut pulled = Vec::new();
    while let Some(t) = b.poll_transmit() {
        for f in wire::decode(&t.bytes).unwrap().1 {
            if let Frame::Digest(d) = f {
                pulled.push((t.to, d));
            }
        }
    }
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    let (to, d) = &pulled[0];
    assert_eq!(*to, addr(11), "asks the announcer");
    assert_eq!(d.scope, Some((ReplicaId(100), ReplicaId(100))));
    assert_eq!(d.version.get(ReplicaId(100)), 0);
    assert!(!d.reply);
}

#[test]
fn handle_datagram_survives_any_bytes() {
    use rand::RngExt;
    let mut b = node(2);
    b.add_peer(Time::ZERO, addr(1));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let valid = digest_of(&[(ReplicaId(4), 3)].into_iter().collect(), None, true);
    for i in 0..5000u64 {
        let mut bytes = valid.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        b.handle_datagram(Time(i), addr(1 + (i % 3) as u16), &bytes);
        b.handle_timeout(Time(i * 1000));
        while b.poll_transmit().is_some() {}
    }
}

/// A node whose peer at `addr(1)` (replica 1) has answered once.
fn with_live_peer() -> Node {
    let mut a = node(2);
    a.add_peer(Time::ZERO, addr(1));
    let ping = datagram(ReplicaId(1), 0, &[Frame::Ping]);
    a.handle_datagram(Time::ZERO, addr(1), &ping);
    sent_frames(&mut a);
    a
}

#[test]
fn a_big_paste_never_bursts_more_than_the_window() {
    let mut a = with_live_peer();
    a.edit(
        Time::ZERO,
        Edit::Insert {
            pos: 0,
            text: "p".repeat(500_000),
        },
    )
    .unwrap();
    let mut burst = 0;
    while let Some(t) = a.poll_transmit() {
        burst += t.bytes.len();
    }
    let window = a.config().window_bytes;
    assert!(burst <= window + a.config().mtu, "burst of {burst} bytes");
    assert!(burst >= window / 2, "the window is used: {burst} bytes");
}

#[test]
fn retransmissions_back_off_while_nothing_answers() {
    let mut a = with_live_peer();
    a.edit(
        Time::ZERO,
        Edit::Insert {
            pos: 0,
            text: "lost".into(),
        },
    )
    .unwrap();
    let mut sends = Vec::new();
    let mut now = Time::ZERO;
    while now < Time::from_millis(9_000) {
        while let Some(t) = a.poll_transmit() {
            let frames = wire::decode(&t.bytes).unwrap().1;
            if frames.iter().any(|f| matches!(f, Frame::Op(_))) {
                sends.push(now.as_millis());
            }
        }
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
    }
    // No RTT sample yet: RTO 1 s, then 2, 4 (RFC 6298 backoff): sent at 0, 1, 3, 7 s.
    assert_eq!(sends, vec![0, 1000, 3000, 7000]);
    assert_eq!(a.stats().retransmits, 3);
}

#[test]
fn gossiped_addresses_that_never_answer_are_forgotten() {
    let mut a = node(2);
    a.add_peer(Time::ZERO, addr(1));
    let first = sent_packets_to(&mut a, addr(1))[0];
    a.handle_datagram(Time::ZERO, addr(1), &ack_from_peer(&[first], 1));
    let list = datagram(ReplicaId(1), 2, &[Frame::Peers(vec![addr(9)])]);
    a.handle_datagram(Time::ZERO, addr(1), &list);
    assert!(a.peers().iter().any(|p| p.addr == addr(9)));
    let mut now = Time::ZERO;
    while now < Time::from_millis(12_000) {
        while a.poll_transmit().is_some() {}
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
    }
    let left: Vec<SocketAddr> = a.peers().iter().map(|p| p.addr).collect();
    assert_eq!(
        left,
        vec![addr(1)],
        "the peer it was given stays, silent or not"
    );
}

#[test]
fn a_full_table_makes_room_by_forgetting_unanswered_gossip() {
    let mut a = node_with(
        2,
        1,
        Config {
            max_peers: 3,
            ..Config::default()
        },
    );
    a.add_peer(Time::ZERO, addr(1));
    let first = sent_packets_to(&mut a, addr(1))[0];
    a.handle_datagram(Time::ZERO, addr(1), &ack_from_peer(&[first], 0));
    let list = datagram(
        ReplicaId(1),
        1,
        &[Frame::Peers(vec![addr(7), addr(8), addr(9)])],
    );
    a.handle_datagram(Time::ZERO, addr(1), &list);
    assert_eq!(a.peers().len(), 3);
    // A real peer contacts it: a never-answered gossiped address makes way.
    let hello = datagram(ReplicaId(5), 0, &[Frame::Ping]);
    a.handle_datagram(Time::ZERO, addr(5), &hello);
    let known: Vec<SocketAddr> = a.peers().iter().map(|p| p.addr).collect();
    assert!(
        known.contains(&addr(5)) && known.contains(&addr(1)),
        "{known:?}"
    );
    assert_eq!(a.stats().drops.peer_table_full, 0);
}

#[test]
fn zero_intervals_cannot_spin_the_driver() {
    let config = Config {
        ping_interval: Duration::ZERO,
        anti_entropy_interval: Duration::ZERO,
        peer_exchange_interval: Duration::ZERO,
        min_rto: Duration::ZERO,
        ..Config::default()
    };
    let mut a = node_with(2, 1, config);
    a.add_peer(Time::ZERO, addr(1));
    let mut now = Time::ZERO;
    for _ in 0..100 {
        while a.poll_transmit().is_some() {}
        let next = a.poll_timeout().unwrap();
        assert!(
            next > now,
            "a timer due at {next:?} survived handle_timeout({now:?})"
        );
        now = next;
        a.handle_timeout(now);
    }
    assert!(now >= Time::from_millis(10), "time moved: {now:?}");
}

/// An ack from replica 1 for the given packet numbers (one range each).
fn ack_from_peer(packets: &[u64], packet: u64) -> Vec<u8> {
    let mut received = ReceivedPackets::default();
    for &p in packets {
        received.insert(p, Time::ZERO);
    }
    wire::encode(
        &Header {
            document: 0,
            sender: ReplicaId(1),
            packet,
        },
        &[Frame::Ack(received.ack_frame(Time::ZERO).unwrap())],
    )
}

/// Drains `a`, returning (packet number, text of the inserts) per datagram.
fn sent_inserts(a: &mut Node) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some(t) = a.poll_transmit() {
        let (h, frames) = wire::decode(&t.bytes).unwrap();
        let text: String = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Op(Op {
                    kind: doc::OpKind::Insert { text, .. },
                    ..
                }) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        out.push((h.packet, text));
    }
    out
}

fn type_at(a: &mut Node, ms: u64, text: &str) {
    let pos = a.doc().len();
    a.edit(
        Time::from_millis(ms),
        Edit::Insert {
            pos,
            text: text.into(),
        },
    )
    .unwrap();
}

fn run_timers_until(a: &mut Node, until: Time) {
    while let Some(t) = a.poll_timeout() {
        if t > until {
            break;
        }
        a.handle_timeout(t);
    }
    a.handle_timeout(until);
}

#[test]
fn a_loss_is_found_by_a_later_ack_well_before_the_rto() {
    let mut a = with_live_peer();
    type_at(&mut a, 0, "x");
    let first = sent_inserts(&mut a);
    let (p0, _) = first.iter().find(|(_, t)| t == "x").unwrap().clone();
    a.handle_datagram(Time::from_millis(40), addr(1), &ack_from_peer(&[p0], 1));
    assert_eq!(a.peers()[0].rtt, Some(Duration::from_millis(40)));

    type_at(&mut a, 100, "y");
    let lost = sent_inserts(&mut a);
    assert_eq!(lost.len(), 1, "{lost:?}");
    let p1 = lost[0].0;
    // Typed while "y" is unacknowledged: held back (coalescing)...
    type_at(&mut a, 110, "z");
    assert!(sent_inserts(&mut a).iter().all(|(_, t)| t.is_empty()));
    // ...but for about one RTT at most (50 ms here), ack or not.
    run_timers_until(&mut a, Time::from_millis(161));
    let later = sent_inserts(&mut a);
    assert_eq!(
        later.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        "z"
    );
    let p2 = later[0].0;
    // The ack of the later datagram reveals the loss at once (9/8 RTT
    // passed), long before the RTO (200 ms at least) would have.
    a.handle_datagram(
        Time::from_millis(200),
        addr(1),
        &ack_from_peer(&[p0, p2], 2),
    );
    assert_eq!(a.stats().retransmits, 1);
    let resent = sent_inserts(&mut a);
    assert_eq!(
        resent.iter().map(|(_, t)| t.as_str()).collect::<String>(),
        "y"
    );
    assert!(resent[0].0 > p1, "a new packet number");
}

#[test]
fn a_peer_name_cannot_carry_control_characters_or_run_long() {
    let mut a = node(1);
    a.add_peer(Time::ZERO, addr(2));
    let name = format!("evil\nok 0 peers\n\x1b[2J{}", "x".repeat(500));
    let hello = datagram(ReplicaId(2), 0, &[Frame::Hello { session: 7, name }]);
    a.handle_datagram(Time::ZERO, addr(2), &hello);
    let shown = a.peers()[0].name.clone().expect("named");
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.len() <= MAX_NAME);
    assert!(shown.starts_with("evilok 0 peers[2J"), "{shown:?}");
}

#[test]
fn add_peer_says_when_the_table_is_full() {
    let mut a = node_with(
        1,
        1,
        Config {
            max_peers: 1,
            ..Config::default()
        },
    );
    assert!(a.add_peer(Time::ZERO, addr(2)));
    assert!(
        a.add_peer(Time::ZERO, addr(2)),
        "a known peer is still a peer"
    );
    assert!(!a.add_peer(Time::ZERO, addr(3)));
    assert_eq!(a.peers().len(), 1);
}

#[test]
fn a_peer_list_is_cut_to_fit_a_small_mtu() {
    let mut a = node_with(
        1,
        1,
        Config {
            mtu: 200,
            // Peers that never answer stay up through the test.
            suspect_after: 900,
            down_after: 1000,
            ..Config::default()
        },
    );
    for port in 2..40 {
        assert!(a.add_peer(Time::ZERO, addr(port)));
        // Every peer answers, so it is up and worth listing.
        let ping = datagram(ReplicaId(port as u64), 0, &[Frame::Ping]);
        a.handle_datagram(Time::ZERO, addr(port), &ping);
    }
    let _ = sent_frames(&mut a);
    let later = Time::ZERO + a.config().peer_exchange_interval * 2;
    a.handle_timeout(later);
    assert!(a.peers().iter().all(|p| p.state != PeerState::Down));
    let lists: Vec<usize> = sent_frames(&mut a)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Peers(list) => Some(list.len()),
            _ => None,
        })
        .collect();
    assert!(!lists.is_empty(), "no peer list went out");
    assert!(lists.iter().all(|&n| n > 0 && n < 38), "{lists:?}");
}

#[test]
fn a_send_queue_that_empties_gives_its_memory_back() {
    // 600 KB the peer lacks, queued as ~550 ops (not a snapshot: it is
    // told to ask for ops), then the peer falls silent and is declared down.
    let config = Config {
        snapshot_min_ops: u64::MAX,
        ..Config::default()
    };
    let mut b = node_with(2, 2, config);
    b.doc.insert(0, &"b".repeat(600_000)).unwrap();
    b.add_peer(Time::ZERO, addr(1));
    let empty = VersionVector::new();
    b.handle_datagram(Time::ZERO, addr(1), &digest_of(&empty, None, false));
    sent_frames(&mut b);
    let queued = b.peers[&addr(1)].queue.capacity();
    assert!(queued > 256, "the queue held {queued} ops");
    let mut now = Time::ZERO;
    for _ in 0..30 {
        now += Duration::from_secs(1);
        b.handle_timeout(now);
        sent_frames(&mut b);
    }
    let peer = &b.peers[&addr(1)];
    assert_eq!(peer.state(), PeerState::Down);
    assert!(peer.queue.is_empty());
    assert!(
        peer.queue.capacity() < 64,
        "an empty queue keeps room for {} ops",
        peer.queue.capacity()
    );
}

#[test]
fn an_added_peer_that_never_answered_holds_cleanup_back() {
    let config = Config {
        collect_min_runs: 1,
        ..Config::default()
    };
    let mut lone = node_with(1, 1, config.clone());
    let mut waiting = node_with(1, 1, config);
    waiting.add_peer(Time::ZERO, addr(2));
    for n in [&mut lone, &mut waiting] {
        let text = "abc".to_string();
        n.edit(Time::ZERO, Edit::Insert { pos: 0, text }).unwrap();
        n.edit(Time::ZERO, Edit::Delete { pos: 0, len: 1 }).unwrap();
        run_timers_until(n, Time::from_millis(60_000));
    }
    assert!(lone.stats().collections > 0, "a lone founder cleans up");
    // The added peer may be a member with ops built on what we would drop.
    assert_eq!(waiting.stats().collections, 0);
}

/// Each run that edits retires an id, so a group's gone declarations can
/// outgrow a datagram: they go out in several `Gone` frames that each fit
/// (one that fits no datagram would be dropped, and cleanup would wait
/// for ever), and a node told them in pieces adopts them all.
#[test]
fn many_gone_declarations_travel_in_frames_that_fit_and_add_up() {
    let gone: Vec<(ReplicaId, u64)> = (1..=600u64)
        .map(|i| {
            (
                ReplicaId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
                u64::MAX - i,
            )
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let membership = Membership {
        joined: true,
        document: 0,
        members: Vec::new(),
        gone: gone.clone(),
    };
    let mut a = node_with(
        1,
        1,
        Config {
            mtu: wire::MIN_MTU,
            ..Config::default()
        },
    );
    a.restore_membership(Time::ZERO, &membership);
    let frames = a.gone_frames();
    assert!(frames.len() > 1, "{} frames", frames.len());
    for f in &frames {
        assert!(wire::encoded_len(f, ReplicaId(1)) <= a.max_frame());
    }

    let mut b = node(2);
    for f in &frames {
        let Frame::Gone(list) = f else {
            panic!("{f:?}")
        };
        b.stability.adopt(ReplicaId(1), ReplicaId(2), list, &b.doc);
    }
    assert_eq!(b.stability.declarations(), gone);
}

/// The version in the first digest among `frames`.
fn digest_version(frames: &[Frame]) -> Option<VersionVector> {
    frames.iter().find_map(|f| match f {
        Frame::Digest(d) => Some(d.version.clone()),
        _ => None,
    })
}

#[test]
fn a_lost_digest_goes_again_with_what_we_have_now() {
    let mut a = with_live_peer();
    a.sync_now(Time::ZERO);
    let asked = digest_version(&sent_frames(&mut a)).expect("sync sends a digest");
    assert_eq!(asked, VersionVector::new());
    // Never acknowledged; meanwhile the document grows.
    type_at(&mut a, 100, "x");
    sent_frames(&mut a);
    // No RTT sample yet: the datagram is lost after the initial 1 s RTO,
    // long before the next anti-entropy round (2.5 s at the earliest).
    run_timers_until(&mut a, Time::from_millis(1_050));
    let again = digest_version(&sent_frames(&mut a)).expect("the lost digest goes again");
    assert_eq!(&again, a.doc().version_ref(), "fresh, not the lost copy");
}

#[test]
fn who_a_peer_reaches_is_kept_only_in_a_group_small_enough_to_push_directly() {
    // (`relay.rs` reads it only there; kept in a large group it would cost
    // every node a set of addresses per peer, O(N^2) in all. Three peers
    // are within twice a `direct_push_max` of 2, past that of 1.)
    for (direct_push_max, kept) in [(8, true), (2, true), (1, false)] {
        let mut a = node_with(
            2,
            1,
            Config {
                direct_push_max,
                ..Config::default()
            },
        );
        for port in [1, 7, 8] {
            a.add_peer(Time::ZERO, addr(port));
        }
        let first = sent_packets_to(&mut a, addr(1))[0];
        a.handle_datagram(Time::ZERO, addr(1), &ack_from_peer(&[first], 0));
        let list = datagram(ReplicaId(1), 1, &[Frame::Peers(vec![addr(7), addr(8)])]);
        a.handle_datagram(Time::ZERO, addr(1), &list);
        let peer = a.peers.get(&addr(1)).expect("a peer");
        assert_eq!(
            peer.named(&addr(7)),
            kept,
            "direct_push_max {direct_push_max}"
        );
        assert_eq!(
            peer.named(&addr(8)),
            kept,
            "direct_push_max {direct_push_max}"
        );
    }
}
