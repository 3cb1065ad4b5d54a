//! `Node::handle_datagram` on fuzzed datagrams, with and without a group
//! key; with a key, part of the input is sealed with it (a hostile member)
//! so the fuzzer reaches past authentication. Never panics, and the
//! resource bounds hold.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, ReplicaId};
use rumor::node::{Config, Node, Time};
use rumor::wire::{self, GroupKey, Header, SealId};

const MAX_PEERS: usize = 8;
const MAX_HELD: usize = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let key = GroupKey::from_seed(1);
    let sealed = mode & 1 == 1;
    let config = Config {
        key: sealed.then(|| key.clone()),
        epoch: 1,
        max_peers: MAX_PEERS,
        max_held_per_peer: MAX_HELD,
        ..Config::default()
    };
    let mut node = Node::new(Doc::new(ReplicaId(1)), config, ChaCha8Rng::seed_from_u64(0), Time(0));
    let mut now = 0u64;
    let mut seq = 0u64;
    // Records: [from, len, as_member, bytes...].
    while rest.len() >= 3 {
        let (from, len, as_member) = (rest[0], rest[1] as usize, rest[2] & 1 == 1);
        rest = &rest[3..];
        let (bytes, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 40_000 + u16::from(from % 16)));
        now += 1_000;
        if sealed && as_member {
            let header = Header {
                sender: ReplicaId(2 + u64::from(from % 4)),
                packet: seq,
            };
            let mut out = Vec::new();
            wire::seal_with(&key, &header, SealId { epoch: 1, seq }, bytes, &mut out);
            seq += 1;
            node.handle_datagram(Time(now), addr, &out);
        } else {
            node.handle_datagram(Time(now), addr, bytes);
        }
        node.handle_timeout(Time(now));
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        assert!(node.peers().len() <= MAX_PEERS);
        assert!(node.doc().pending_len() <= MAX_HELD * MAX_PEERS);
    }
});
