//! Hostile datagrams fed straight into `Node::handle_datagram`, sealed and
//! in the clear, arbitrary and mutated from real ones: no panic, nothing
//! from a non-member reaches the document or the peer table or gets a
//! reply, a member cannot park unbounded early ops, and the heap does not
//! grow with junk. (The cargo-fuzz target in `fuzz/` runs the same checks
//! for longer.) Its own test binary with one test, because it counts heap
//! bytes with a global allocator.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, Id, Op, OpKind, ReplicaId, VersionVector};
use rumor::node::{Config, Edit, Node, Time};
use rumor::wire::{self, DigestFrame, Frame, GroupKey, Header, SealId};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

fn addr(i: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 30_000 + i))
}

fn group_key() -> GroupKey {
    GroupKey::from_secret(&[42; 32])
}

fn node(key: Option<GroupKey>) -> Node {
    let config = Config {
        key,
        epoch: 1,
        max_held_per_peer: 64,
        max_peers: 8,
        ..Config::default()
    };
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, "seed text").unwrap();
    Node::new(doc, config, ChaCha8Rng::seed_from_u64(1), Time(0))
}

/// An op of `replica` at `counter`, inserted after `left`.
fn insert_op(replica: u64, counter: u64, left: Option<Id>, text: &str) -> Op {
    Op {
        id: Id::new(ReplicaId(replica), counter),
        kind: OpKind::Insert {
            left,
            right: None,
            text: text.into(),
        },
    }
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    prop_oneof![
        Just(Frame::Ping),
        (any::<u64>(), "[a-z]{0,8}").prop_map(|(session, name)| Frame::Hello { session, name }),
        (1u64..5, 0u64..50, "[a-z]{1,6}").prop_map(|(r, c, t)| Frame::Op(insert_op(
            r + 1,
            c,
            None,
            &t
        ))),
        (1u64..5, 1u64..50).prop_map(|(r, n)| {
            let mut v = VersionVector::new();
            v.set(ReplicaId(r + 1), n);
            Frame::Digest(DigestFrame {
                members: Vec::new(),
                scope: None,
                version: v,
                reply: true,
            })
        }),
        proptest::collection::vec(0u16..100, 0..4)
            .prop_map(|ports| Frame::Peers(ports.into_iter().map(addr).collect())),
    ]
}

/// How a datagram is made: from scratch, or a real one then damaged.
#[derive(Clone, Debug)]
enum Make {
    Junk(Vec<u8>),
    Clear(Vec<Frame>),
    /// Sealed with the group key (a member), or with another key.
    Sealed {
        member: bool,
        seq: u64,
        frames: Vec<Frame>,
    },
}

#[derive(Clone, Debug)]
struct Datagram {
    from: u16,
    sender: u64,
    make: Make,
    /// Bit flips, then a cut.
    flips: Vec<usize>,
    cut: Option<usize>,
}

fn datagram_strategy() -> impl Strategy<Value = Datagram> {
    let make = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Make::Junk),
        proptest::collection::vec(frame_strategy(), 0..4).prop_map(Make::Clear),
        (
            any::<bool>(),
            0u64..20,
            proptest::collection::vec(frame_strategy(), 0..4)
        )
            .prop_map(|(member, seq, frames)| Make::Sealed {
                member,
                seq,
                frames
            }),
    ];
    (
        0u16..20,
        1u64..6,
        make,
        proptest::collection::vec(any::<usize>(), 0..2),
        proptest::option::of(any::<usize>()),
    )
        .prop_map(|(from, sender, make, flips, cut)| Datagram {
            from,
            sender: sender + 1,
            make,
            flips,
            cut,
        })
}

impl Datagram {
    fn bytes(&self) -> Vec<u8> {
        let header = Header {
            document: 0,
            sender: ReplicaId(self.sender),
            packet: 0,
        };
        let mut b = match &self.make {
            Make::Junk(b) => b.clone(),
            Make::Clear(frames) => wire::encode(&header, frames),
            Make::Sealed {
                member,
                seq,
                frames,
            } => {
                let key = if *member {
                    group_key()
                } else {
                    GroupKey::from_secret(&[7; 32])
                };
                wire::encode_sealed(
                    &key,
                    &header,
                    SealId {
                        epoch: 1,
                        seq: *seq,
                    },
                    frames,
                )
            }
        };
        if !b.is_empty() {
            for &f in &self.flips {
                let bit = f % (b.len() * 8);
                b[bit / 8] ^= 1 << (bit % 8);
            }
        }
        if let Some(c) = self.cut {
            b.truncate(c % (b.len() + 1));
        }
        b
    }

    /// Could a member have sent it (sealed with the group key, unaltered)?
    fn authentic(&self) -> bool {
        matches!(self.make, Make::Sealed { member: true, .. })
            && self.flips.is_empty()
            && self
                .cut
                .is_none_or(|c| c % (self.bytes_len_unaltered() + 1) == self.bytes_len_unaltered())
    }

    fn bytes_len_unaltered(&self) -> usize {
        Datagram {
            flips: Vec::new(),
            cut: None,
            ..self.clone()
        }
        .bytes()
        .len()
    }
}

/// Feeds `datagrams` to a node, draining what it sends; returns bytes
/// sent to each address and bytes received from each.
fn feed(
    node: &mut Node,
    datagrams: &[Datagram],
) -> (BTreeMap<SocketAddr, usize>, BTreeMap<SocketAddr, usize>) {
    let mut sent = BTreeMap::new();
    let mut received = BTreeMap::new();
    let mut now = Time(1_000);
    for d in datagrams {
        let bytes = d.bytes();
        *received.entry(addr(d.from)).or_default() += bytes.len();
        node.handle_datagram(now, addr(d.from), &bytes);
        now = Time(now.0 + 1_000);
        node.handle_timeout(now);
        while let Some(t) = node.poll_transmit() {
            *sent.entry(t.to).or_default() += t.bytes.len();
        }
        while node.poll_event().is_some() {}
    }
    (sent, received)
}

/// A member (`sender`, sealing in `epoch`) at `from` answers `n`'s
/// challenge, with seal sequences 0 and 1: `n` takes it for a peer.
fn prove(n: &mut Node, from: SocketAddr, sender: u64, epoch: u64, now: Time) {
    let key = group_key();
    let sealed = |seq: u64, frames: &[Frame]| {
        let header = Header {
            document: 0,
            sender: ReplicaId(sender),
            packet: seq,
        };
        wire::encode_sealed(&key, &header, SealId { epoch, seq }, frames)
    };
    let hello = Frame::Hello {
        session: u64::MAX / 3,
        name: "a member".into(),
    };
    n.handle_datagram(now, from, &sealed(0, &[hello, Frame::Ping]));
    let mut challenge = None;
    while let Some(t) = n.poll_transmit() {
        if t.to != from {
            continue; // (sealed for its peers: they alone can open it)
        }
        for f in wire::decode_with(&t.bytes, Some(&key)).unwrap().2 {
            if let Frame::Challenge(nonce) = f {
                challenge = Some(nonce);
            }
        }
    }
    let nonce = challenge.expect("a challenge to a new address");
    n.handle_datagram(now, from, &sealed(1, &[Frame::Response(nonce)]));
    assert!(n.peers().iter().any(|p| p.addr == from), "not proven");
}

#[test]
fn hostile_datagrams_into_the_node() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });

    // With a group key: only authentic datagrams have any effect.
    runner
        .run(
            &proptest::collection::vec(datagram_strategy(), 1..60),
            |datagrams| {
                let mut n = node(Some(group_key()));
                let before = n.doc().version();
                let (sent, _) = feed(&mut n, &datagrams);
                // Members' addresses, and those members told about.
                let mut members: Vec<SocketAddr> = Vec::new();
                for d in datagrams.iter().filter(|d| d.authentic()) {
                    members.push(addr(d.from));
                    if let Make::Sealed { frames, .. } = &d.make {
                        for f in frames {
                            if let Frame::Peers(list) = f {
                                members.extend(list);
                            }
                        }
                    }
                }
                for (to, bytes) in &sent {
                    prop_assert!(
                        members.contains(to),
                        "{bytes} bytes sent to non-member {to}"
                    );
                }
                for p in n.peers() {
                    prop_assert!(members.contains(&p.addr), "non-member {} is a peer", p.addr);
                }
                if members.is_empty() {
                    prop_assert_eq!(n.doc().version_ref(), &before);
                    prop_assert!(n.peers().is_empty());
                }
                prop_assert!(n.peers().len() <= 8);
                prop_assert!(n.doc().pending_len() <= 64 * 8);
                Ok(())
            },
        )
        .unwrap();

    // In the clear: no panic, bounds hold, and no address that was not
    // added gets more bytes than it sent (no amplification).
    runner
        .run(
            &proptest::collection::vec(datagram_strategy(), 1..60),
            |datagrams| {
                let mut n = node(None);
                let (sent, received) = feed(&mut n, &datagrams);
                for (to, &bytes) in &sent {
                    let got = received.get(to).copied().unwrap_or(0);
                    prop_assert!(bytes <= got, "sent {bytes} bytes to {to}, which sent {got}");
                }
                prop_assert!(n.peers().len() <= 8);
                prop_assert!(n.doc().pending_len() <= 64 * 8);
                Ok(())
            },
        )
        .unwrap();

    // One member floods early ops (their causes never come): at most
    // `max_held_per_peer` are held, the rest are counted, and an honest
    // peer is still served.
    let mut n = node(Some(group_key()));
    let key = group_key();
    prove(&mut n, addr(1), 9, 1, Time(0));
    for seq in 2..502u64 {
        let op = insert_op(9, 1000 + seq * 2, Some(Id::new(ReplicaId(77), seq)), "x");
        let header = Header {
            document: 0,
            sender: ReplicaId(9),
            packet: seq,
        };
        let id = SealId { epoch: 1, seq };
        let bytes = wire::encode_sealed_to(&key, &header, id, ReplicaId(1), &[Frame::Op(op)]);
        n.handle_datagram(Time(seq), addr(1), &bytes);
    }
    assert!(
        n.doc().pending_len() <= 64,
        "held {}",
        n.doc().pending_len()
    );
    assert!(n.stats().drops.held_limit >= 500 - 64);
    prove(&mut n, addr(2), 5, 3, Time(1_000));
    let honest = insert_op(5, 0, None, "honest ");
    let header = Header {
        document: 0,
        sender: ReplicaId(5),
        packet: 0,
    };
    let bytes = wire::encode_sealed_to(
        &key,
        &header,
        SealId { epoch: 3, seq: 2 },
        ReplicaId(1),
        &[Frame::Op(honest)],
    );
    n.handle_datagram(Time(1_000), addr(2), &bytes);
    assert!(n.doc().text().contains("honest"), "{}", n.doc().text());

    // Junk does not grow the heap: a node fed 5,000 datagrams from
    // non-members holds no more memory than before (counters only).
    let mut n = node(Some(group_key()));
    n.edit(
        Time(0),
        Edit::Insert {
            pos: 0,
            text: "x".into(),
        },
    )
    .unwrap();
    let mut gen = TestRunner::deterministic();
    let strategy = datagram_strategy();
    let junk: Vec<Datagram> = (0..5_000)
        .map(|_| strategy.new_tree(&mut gen).unwrap().current())
        .filter(|d| !d.authentic())
        .collect();
    let all_bytes: Vec<(SocketAddr, Vec<u8>)> =
        junk.iter().map(|d| (addr(d.from), d.bytes())).collect();
    // Warm up once (scratch buffers reach their size), then measure.
    for (from, b) in all_bytes.iter().take(100) {
        n.handle_datagram(Time(1), *from, b);
    }
    let base = live();
    for (from, b) in &all_bytes {
        n.handle_datagram(Time(2), *from, b);
    }
    let grown = live() - base;
    assert!(grown <= 4096, "heap grew by {grown} bytes on junk");
    assert!(n.peers().is_empty());
    assert_eq!(n.doc().text(), "xseed text");
}

#[test]
fn in_the_clear_a_new_address_gets_no_more_bytes_than_it_sent_until_it_acks() {
    let mut n = node(None);
    let stranger = addr(3);
    let mut now = Time(5);
    let (mut sent, mut received) = (0, 0);
    let mut last_packet = None;
    for packet in 0..20u64 {
        let header = Header {
            document: 0,
            sender: ReplicaId(50),
            packet,
        };
        let bytes = wire::encode(&header, &[Frame::Ping]);
        received += bytes.len();
        n.handle_datagram(now, stranger, &bytes);
        now = Time(now.0 + 20_000);
        n.handle_timeout(now);
        while let Some(t) = n.poll_transmit() {
            assert_eq!(t.to, stranger);
            sent += t.bytes.len();
            last_packet = Some(wire::decode(&t.bytes).unwrap().0.packet);
        }
        assert!(
            sent <= received,
            "sent {sent} bytes to a stranger that sent {received}"
        );
    }
    // The node did answer within its budget, and once the address shows
    // it receives (it acks), the budget is lifted: the digest goes out.
    let answered = last_packet.expect("some answer within the budget");
    let ack = Frame::Ack(wire::AckFrame {
        largest: answered,
        delay_us: 0,
        first: answered,
        ranges: Vec::new(),
    });
    let header = Header {
        document: 0,
        sender: ReplicaId(50),
        packet: 100,
    };
    n.handle_datagram(now, stranger, &wire::encode(&header, &[ack, Frame::Ping]));
    n.sync_now(now);
    let mut after = Vec::new();
    while let Some(t) = n.poll_transmit() {
        after.extend(wire::decode(&t.bytes).unwrap().1);
    }
    // (Only the digest: what the peer lacks is asked, not pushed.)
    assert!(
        after.iter().any(|f| matches!(f, Frame::Digest(_))),
        "verified peer gets the digest: {after:?}"
    );
}

/// In the clear an address is verified by its ack of one of our packet
/// numbers. A forger who spoofs a victim's address never sees the node's
/// answers, so it can only guess them: the numbers start at random, per
/// peer, below `FIRST_PACKET_SPAN` (8192), so 64 guesses win about once
/// in 100 tries (with numbers from zero, every time); and while the
/// address is not verified, asking for the whole document in its name gets
/// the victim no more bytes than the forger sent.
#[test]
fn in_the_clear_a_forged_ack_does_not_verify_a_spoofed_address() {
    let victim = addr(3);
    let from_victim = |packet, frames: &[Frame]| {
        let header = Header {
            document: 0,
            sender: ReplicaId(50),
            packet,
        };
        wire::encode(&header, frames)
    };
    let mut firsts = BTreeSet::new();
    let mut forged = Vec::new();
    for seed in 0..32u64 {
        let mut n = plain_node(10 + seed, None, 0);
        let text = "a document worth reflecting ".repeat(1000);
        n.edit(Time(0), Edit::Insert { pos: 0, text }).unwrap();
        let (mut sent, mut received) = (0, 0);
        let mut now = Time(5);
        let mut deliver = |n: &mut Node, now: Time, bytes: Vec<u8>| {
            received += bytes.len();
            n.handle_datagram(now, victim, &bytes);
        };
        let mut answers: Vec<u64> = Vec::new();
        // The forger's pings pay for a small answer (which it never sees).
        for packet in 0..20 {
            deliver(&mut n, now, from_victim(packet, &[Frame::Ping]));
            now = Time(now.0 + 20_000);
            n.handle_timeout(now);
            for (_, bytes) in drain(&mut n) {
                sent += bytes.len();
                answers.push(wire::decode(&bytes).unwrap().0.packet);
            }
        }
        firsts.insert(*answers.first().expect("the pings are answered"));
        // The forger, blind, acks each small number (and the whole range
        // below it): with numbers from zero, the first one verified. Then
        // it asks for the document in the victim's name.
        for guess in 0..64u64 {
            let ack = Frame::Ack(wire::AckFrame {
                largest: guess,
                delay_us: 0,
                first: guess,
                ranges: Vec::new(),
            });
            deliver(&mut n, now, from_victim(20 + guess, &[ack]));
        }
        deliver(&mut n, now, from_victim(100, &[Frame::Join]));
        for _ in 0..50 {
            n.sync_now(now);
            sent += drain(&mut n).iter().map(|(_, b)| b.len()).sum::<usize>();
            now = Time(now.0 + 100_000);
            n.handle_timeout(now);
        }
        if sent > received {
            forged.push((seed, firsts.last().copied(), sent, received));
        }
    }
    // 32 x 77 / 8192: about 0.3 wins expected.
    assert!(
        forged.len() <= 2,
        "forged acks verified the victim (seed, first number, bytes sent, received): {forged:?}"
    );
    // Numbers start at random: a forger cannot count on any one of them.
    assert!(firsts.len() >= 30, "first packet numbers {firsts:?}");
}

// ---- the peer table, gossip and replays (found with real processes) ----

/// Addresses of strangers that write once and never answer.
fn stranger(i: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 10_000 + i))
}

fn plain_node(replica: u64, key: Option<GroupKey>, epoch: u64) -> Node {
    let config = Config {
        key,
        epoch,
        ..Config::default()
    };
    Node::new(
        Doc::new(ReplicaId(replica)),
        config,
        ChaCha8Rng::seed_from_u64(replica ^ epoch << 8),
        Time(0),
    )
}

/// Everything `n` wants to send now.
fn drain(n: &mut Node) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = n.poll_transmit() {
        out.push((t.to, t.bytes));
    }
    while n.poll_event().is_some() {}
    out
}

fn has_peer(n: &Node, a: SocketAddr) -> bool {
    n.peers().iter().any(|p| p.addr == a)
}

#[test]
fn in_the_clear_strangers_that_never_answer_cannot_hold_the_peer_table() {
    let mut n = plain_node(1, None, 1);
    let max = n.config().max_peers;
    let flood = |n: &mut Node, now: Time, first: u16| {
        for i in 0..(max as u16 + 76) {
            let sender = ReplicaId(1_000 + (first + i) as u64);
            let hello = Frame::Hello {
                session: 1,
                name: String::new(),
            };
            let bytes = wire::encode(
                &Header {
                    document: 0,
                    sender,
                    packet: 0,
                },
                &[hello],
            );
            n.handle_datagram(now, stranger(first + i), &bytes);
        }
        drain(n);
        assert!(n.peers().len() <= max, "{} peers", n.peers().len());
    };
    flood(&mut n, Time(1_000), 0);

    // An honest newcomer is still answered; once it acknowledges the
    // answer it has proven itself, and keeps its place through more floods.
    let honest = addr(1);
    let header = Header {
        document: 0,
        sender: ReplicaId(7),
        packet: 0,
    };
    let hello = Frame::Hello {
        session: u64::MAX / 3,
        name: "an honest newcomer with a longish name".into(),
    };
    n.handle_datagram(
        Time(2_000),
        honest,
        &wire::encode(&header, &[hello, Frame::Ping]),
    );
    let answers: Vec<u64> = drain(&mut n)
        .into_iter()
        .filter(|(to, _)| *to == honest)
        .map(|(_, b)| wire::decode(&b).unwrap().0.packet)
        .collect();
    let last = *answers.last().expect("the honest newcomer is answered");
    let ack = Frame::Ack(wire::AckFrame {
        largest: last,
        delay_us: 0,
        first: last,
        ranges: Vec::new(),
    });
    let header = Header {
        document: 0,
        sender: ReplicaId(7),
        packet: 1,
    };
    n.handle_datagram(Time(3_000), honest, &wire::encode(&header, &[ack]));
    flood(&mut n, Time(4_000), 2_000);
    assert!(has_peer(&n, honest), "an honest peer that answered is kept");

    // The user's `add` always gets a slot, and keeps it.
    assert!(n.add_peer(Time(5_000), addr(2)), "add refused");
    flood(&mut n, Time(6_000), 4_000);
    assert!(has_peer(&n, addr(2)), "an added peer is kept");
    assert!(has_peer(&n, honest));
}

#[test]
fn a_learned_address_gets_one_small_probe_until_it_answers() {
    let mut n = plain_node(1, None, 1);
    let learned: Vec<SocketAddr> = (0..400)
        .map(|i| SocketAddr::from((Ipv4Addr::new(127, 0, 0, 3), 20_000 + i)))
        .collect();
    let header = Header {
        document: 0,
        sender: ReplicaId(66),
        packet: 0,
    };
    let spoofed = wire::encode(&header, &[Frame::Peers(learned.clone())]);
    n.handle_datagram(Time(1_000), addr(9), &spoofed);
    let (mut datagrams, mut bytes) = (BTreeMap::<SocketAddr, usize>::new(), 0);
    let mut now = Time(1_000);
    while now < Time::from_millis(60_000) {
        for (to, b) in drain(&mut n) {
            if learned.contains(&to) {
                *datagrams.entry(to).or_default() += 1;
                bytes += b.len();
            }
        }
        now = n
            .poll_timeout()
            .map_or(Time::from_millis(60_000), |t| t.max(Time(now.0 + 1)));
        n.handle_timeout(now);
    }
    let most = datagrams.values().copied().max().unwrap_or(0);
    assert!(most <= 1, "a learned address got {most} datagrams");
    assert!(
        bytes <= spoofed.len(),
        "{bytes} bytes to learned addresses for a list of {} bytes",
        spoofed.len()
    );
}

/// A few nodes on a lossless network, by address: what each sends is
/// delivered to the node at that address (if any) and logged.
struct Net {
    nodes: Vec<(SocketAddr, Node)>,
    log: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    now: Time,
}

impl Net {
    fn run_until(&mut self, until: Time) {
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                for i in 0..self.nodes.len() {
                    let from = self.nodes[i].0;
                    for (to, bytes) in drain(&mut self.nodes[i].1) {
                        moved = true;
                        self.log.push((from, to, bytes.clone()));
                        if let Some((_, n)) = self.nodes.iter_mut().find(|(a, _)| *a == to) {
                            n.handle_datagram(self.now, from, &bytes);
                        }
                    }
                }
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|(_, n)| n.poll_timeout())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    for (_, n) in &mut self.nodes {
                        n.handle_timeout(self.now);
                    }
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
    }

    fn node(&mut self, a: SocketAddr) -> &mut Node {
        &mut self.nodes.iter_mut().find(|(x, _)| *x == a).unwrap().1
    }

    /// Datagrams logged from `from` to `to`.
    fn captured(&self, from: SocketAddr, to: SocketAddr) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter(|(f, t, _)| *f == from && *t == to)
            .map(|(_, _, b)| b.clone())
            .collect()
    }
}

/// Replays `captured` to `c` from `x` (a few times over a few seconds)
/// and checks that `x` gets nowhere: not a peer, no data, no edit, and
/// never more bytes than it sent.
fn replay_gets_nowhere(c: &mut Node, x: SocketAddr, captured: &[Vec<u8>], mut now: Time) {
    assert!(!captured.is_empty(), "nothing captured");
    let key = group_key();
    let text = c.doc().text();
    let (mut sent, mut received) = (0, 0);
    for round in 0..3 {
        for b in captured {
            received += b.len();
            c.handle_datagram(now, x, b);
            for (to, bytes) in drain(c) {
                if to != x {
                    continue;
                }
                sent += bytes.len();
                let (_, _, frames) = wire::decode_with(&bytes, Some(&key)).unwrap();
                for f in frames {
                    assert!(
                        !matches!(
                            f,
                            Frame::Op(_)
                                | Frame::Digest(_)
                                | Frame::Peers(_)
                                | Frame::Snapshot(_)
                                | Frame::Have(_)
                                | Frame::Gone(_)
                                | Frame::Presence(_)
                                | Frame::Join
                        ),
                        "round {round}: {f:?} sent to {x}"
                    );
                }
            }
            assert!(
                sent <= received,
                "sent {sent} bytes to {x}, which sent {received}"
            );
            assert!(!has_peer(c, x), "round {round}: {x} entered the peer table");
        }
        now = Time(now.0 + 1_500_000);
        c.handle_timeout(now);
    }
    assert_eq!(c.doc().text(), text, "a replay changed the document");
}

const A: u16 = 1;
const B: u16 = 2;
const C: u16 = 3;
/// The outsider's address.
const X: u16 = 66;

fn member(replica: u64, epoch: u64) -> Node {
    plain_node(replica, Some(group_key()), epoch)
}

#[test]
fn a_captured_datagram_never_delivered_gets_its_replayer_nowhere() {
    // A sends B an edit; the datagrams are captured and never delivered.
    let mut a = member(1, 10);
    a.add_peer(Time(0), addr(B));
    a.edit(
        Time(0),
        Edit::Insert {
            pos: 0,
            text: "from a".into(),
        },
    )
    .unwrap();
    let captured: Vec<Vec<u8>> = drain(&mut a).into_iter().map(|(_, b)| b).collect();
    let mut c = member(3, 10);
    replay_gets_nowhere(&mut c, addr(X), &captured, Time(1_000));
}

#[test]
fn datagrams_replayed_after_the_receiver_restarts_get_nowhere() {
    let mut net = Net {
        nodes: vec![(addr(A), member(1, 10)), (addr(C), member(3, 10))],
        log: Vec::new(),
        now: Time(0),
    };
    net.node(addr(A)).add_peer(Time(0), addr(C));
    net.node(addr(A))
        .edit(
            Time(0),
            Edit::Insert {
                pos: 0,
                text: "from a".into(),
            },
        )
        .unwrap();
    net.run_until(Time::from_millis(3_000));
    assert_eq!(net.node(addr(C)).doc().text(), "from a", "the members talk");
    let captured = net.captured(addr(A), addr(C));
    // C restarts (a new epoch, its replay window empty).
    let mut c = member(3, 11);
    replay_gets_nowhere(&mut c, addr(X), &captured, Time::from_millis(4_000));
    let mut c = member(3, 12);
    replay_gets_nowhere(&mut c, addr(A), &captured, Time::from_millis(4_000));
}

#[test]
fn datagrams_to_one_member_replayed_to_another_get_nowhere() {
    let mut net = Net {
        nodes: vec![
            (addr(A), member(1, 10)),
            (addr(B), member(2, 10)),
            (addr(C), member(3, 10)),
        ],
        log: Vec::new(),
        now: Time(0),
    };
    // C knows A (its replay window has A's epoch), then A talks to B.
    net.node(addr(A)).add_peer(Time(0), addr(C));
    net.run_until(Time::from_millis(2_000));
    assert!(has_peer(net.node(addr(C)), addr(A)));
    let now = net.now;
    net.node(addr(A)).add_peer(now, addr(B));
    net.node(addr(A))
        .edit(
            now,
            Edit::Insert {
                pos: 0,
                text: "to b".into(),
            },
        )
        .unwrap();
    net.run_until(Time::from_millis(4_000));
    let captured = net.captured(addr(A), addr(B));
    let now = net.now;

    // From A's own address (spoofed): A sealed them for B, so C reads none
    // of them (the handshake's, unbound, only as a handshake).
    let c = net.node(addr(C));
    let (bad_tag, unproven) = (c.stats().drops.bad_tag, c.stats().drops.unproven);
    for b in &captured {
        c.handle_datagram(now, addr(A), b);
    }
    let d = &c.stats().drops;
    assert_eq!(
        (d.bad_tag - bad_tag) + (d.unproven - unproven),
        captured.len() as u64,
        "C read datagrams A sealed for B"
    );
    // And from another address.
    let mut c = member(3, 10);
    replay_gets_nowhere(&mut c, addr(X), &captured, now);
}

#[test]
fn with_a_secret_a_learned_address_gets_one_challenge_until_it_answers() {
    let mut n = plain_node(1, Some(group_key()), 1);
    prove(&mut n, addr(1), 9, 1, Time(0));
    let learned: Vec<SocketAddr> = (0..400)
        .map(|i| SocketAddr::from((Ipv4Addr::new(127, 0, 0, 3), 20_000 + i)))
        .collect();
    let header = Header {
        document: 0,
        sender: ReplicaId(9),
        packet: 2,
    };
    let list = wire::encode_sealed_to(
        &group_key(),
        &header,
        SealId { epoch: 1, seq: 2 },
        ReplicaId(1),
        &[Frame::Peers(learned.clone())],
    );
    n.handle_datagram(Time(1_000), addr(1), &list);
    let mut datagrams = BTreeMap::<SocketAddr, usize>::new();
    let mut now = Time(1_000);
    while now < Time::from_millis(60_000) {
        for (to, b) in drain(&mut n) {
            if learned.contains(&to) {
                *datagrams.entry(to).or_default() += 1;
                let (_, _, frames) = wire::decode_with(&b, Some(&group_key())).unwrap();
                assert!(
                    frames
                        .iter()
                        .all(|f| matches!(f, Frame::Challenge(_) | Frame::Hello { .. })),
                    "{frames:?}"
                );
            }
        }
        now = n
            .poll_timeout()
            .map_or(Time::from_millis(60_000), |t| t.max(Time(now.0 + 1)));
        n.handle_timeout(now);
    }
    assert!(!datagrams.is_empty(), "the learned addresses are probed");
    let most = datagrams.values().copied().max().unwrap_or(0);
    assert!(most <= 1, "a learned address got {most} datagrams");
}

#[test]
fn another_replica_at_a_proven_address_must_answer_a_challenge_first() {
    let mut n = plain_node(1, Some(group_key()), 1);
    prove(&mut n, addr(1), 9, 1, Time(0));
    let header = Header {
        document: 0,
        sender: ReplicaId(10),
        packet: 0,
    };
    let op = insert_op(10, 0, None, "other");
    let bytes = wire::encode_sealed_to(
        &group_key(),
        &header,
        SealId { epoch: 1, seq: 0 },
        ReplicaId(1),
        &[Frame::Op(op)],
    );
    n.handle_datagram(Time(1_000), addr(1), &bytes);
    assert_eq!(n.doc().text(), "", "read before it answered");
    assert_eq!(n.stats().drops.unproven, 2);
}
