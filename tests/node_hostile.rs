//! Hostile datagrams fed straight into `Node::handle_datagram`, sealed and
//! in the clear, arbitrary and mutated from real ones: no panic, nothing
//! from a non-member reaches the document or the peer table or gets a
//! reply, a member cannot park unbounded early ops, and the heap does not
//! grow with junk. (The cargo-fuzz target in `fuzz/` runs the same checks
//! for longer.) Its own test binary with one test, because it counts heap
//! bytes with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, Id, Op, OpKind, ReplicaId, VersionVector};
use rumor::node::{Config, Edit, Node, Time};
use rumor::wire::{self, DigestFrame, Frame, GroupKey, Header, SealId};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    for seq in 0..500u64 {
        let op = insert_op(9, 1000 + seq * 2, Some(Id::new(ReplicaId(77), seq)), "x");
        let header = Header {
            sender: ReplicaId(9),
            packet: seq,
        };
        let bytes = wire::encode_sealed(&key, &header, SealId { epoch: 1, seq }, &[Frame::Op(op)]);
        n.handle_datagram(Time(seq), addr(1), &bytes);
    }
    assert!(
        n.doc().pending_len() <= 64,
        "held {}",
        n.doc().pending_len()
    );
    assert!(n.stats().drops.held_limit >= 500 - 64);
    let honest = insert_op(5, 0, None, "honest ");
    let header = Header {
        sender: ReplicaId(5),
        packet: 0,
    };
    let bytes = wire::encode_sealed(
        &key,
        &header,
        SealId { epoch: 3, seq: 0 },
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
    let base = LIVE.load(Relaxed);
    for (from, b) in &all_bytes {
        n.handle_datagram(Time(2), *from, b);
    }
    let grown = LIVE.load(Relaxed) - base;
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
