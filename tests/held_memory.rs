//! Ops that arrive before their causes are held, and the memory they take
//! is given back: a flood of early ops whose causes never come is dropped
//! after a while (the senders' digests bring any honest one again), and
//! the heap returns to about where it was. Its own test binary with one
//! test, because it counts heap bytes with a global allocator.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, Id, Op, OpKind, ReplicaId};
use rumor::node::{Config, Node, Time};
use rumor::wire::{self, Frame, Header};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

fn addr(i: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 31_000 + i))
}

/// Chars `counter ..` of replica 50's typing: 1,000 chars after the char before.
fn typed(counter: u64) -> Op {
    Op {
        id: Id::new(ReplicaId(50), counter),
        kind: OpKind::Insert {
            left: counter.checked_sub(1).map(|c| Id::new(ReplicaId(50), c)),
            right: None,
            text: "x".repeat(1000),
        },
    }
}

fn drain(n: &mut Node) {
    while n.poll_transmit().is_some() {}
    while n.poll_event().is_some() {}
}

#[test]
fn a_flood_of_early_ops_is_released_and_its_memory_given_back() {
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, "seed").unwrap();
    let mut n = Node::new(
        doc,
        Config::default(),
        ChaCha8Rng::seed_from_u64(1),
        Time(0),
    );
    let mut now = Time::from_millis(1);
    // A first datagram, so the peer's own state is in the baseline.
    let ping = wire::encode(
        &Header {
            document: 0,
            sender: ReplicaId(50),
            packet: 0,
        },
        &[Frame::Ping],
    );
    n.handle_datagram(now, addr(1), &ping);
    drain(&mut n);
    let base = live();

    // 4,000 runs of typing whose first char (counter 0) never comes.
    let flood = 4_000u64;
    for k in 0..flood {
        let header = Header {
            document: 0,
            sender: ReplicaId(50),
            packet: k + 1,
        };
        let op = typed(1 + k * 1000);
        n.handle_datagram(now, addr(1), &wire::encode(&header, &[Frame::Op(op)]));
        drain(&mut n);
    }
    assert_eq!(n.doc().pending_len(), flood as usize);
    let grown = live() - base;
    assert!(grown > 4_000_000, "the flood is held: {grown} bytes");

    // Three minutes pass; the causes never come.
    for _ in 0..180 {
        now = Time(now.0 + Duration::from_secs(1).as_micros() as u64);
        n.handle_timeout(now);
        drain(&mut n);
    }
    assert_eq!(n.doc().pending_len(), 0, "the early ops were dropped");
    let left = live() - base;
    eprintln!("held: {grown} bytes; after expiry: {left} bytes");
    assert!(
        left < 200_000,
        "{left} bytes still taken by a flood of {grown} (held ops dropped)"
    );

    // The sender, honest after all, sends it all again in order: it applies.
    for k in 0..4u64 {
        let header = Header {
            document: 0,
            sender: ReplicaId(50),
            packet: 10_000 + k,
        };
        let op = typed(k * 1000);
        n.handle_datagram(now, addr(1), &wire::encode(&header, &[Frame::Op(op)]));
        drain(&mut n);
    }
    assert_eq!(n.doc().len(), 4 + 4_000);
    assert_eq!(n.doc().pending_len(), 0);
}
