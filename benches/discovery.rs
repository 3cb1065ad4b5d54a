//! What a flood of LAN announcements (`node::discovery`) costs a node,
//! per datagram: of another document (dropped on its clear header,
//! unopened), and of our document under another group key (one failed
//! open); beside them the baseline, a datagram sealed under another key
//! sent to the peers' socket (what any flood of a sealed node costs).
//! Run: `cargo bench --bench discovery`.

use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, ReplicaId};
use rumor::node::{Config, Discovery, Node, Time, ANNOUNCE_INTERVAL};
use rumor::wire::{self, Announcement, Frame, GroupKey, Header, SealId, SealKeys};

const DOC: u32 = 0xd0c0_0001;
/// Distinct datagrams per kind, cycled through.
const N: u64 = 1024;

fn node() -> Node {
    let config = Config {
        key: Some(GroupKey::from_seed(1)),
        epoch: 1,
        document: DOC,
        discovery: Some(Discovery {
            group: "239.255.82.77:47389".parse().unwrap(),
            port: 7001,
            interval: ANNOUNCE_INTERVAL,
        }),
        ..Config::default()
    };
    Node::new(
        Doc::new(ReplicaId(1)),
        config,
        ChaCha8Rng::seed_from_u64(1),
        Time::ZERO,
    )
}

fn announcements(document: u32, key_seed: u64) -> Vec<Vec<u8>> {
    let mut keys = SealKeys::new(GroupKey::from_seed(key_seed));
    (0..N)
        .map(|seq| {
            let a = Announcement {
                sender: ReplicaId(0xbb67_ae85_84ca_a73b),
                document,
                port: 7002,
                founding: false,
            };
            wire::seal_announcement(&mut keys, &a, SealId { epoch: 9, seq })
        })
        .collect()
}

fn foreign_datagrams() -> Vec<Vec<u8>> {
    let key = GroupKey::from_seed(2);
    let header = Header {
        document: DOC,
        sender: ReplicaId(0xbb67_ae85_84ca_a73b),
        packet: 1,
    };
    (0..N)
        .map(|seq| wire::encode_sealed(&key, &header, SealId { epoch: 9, seq }, &[Frame::Ping]))
        .collect()
}

fn benches(c: &mut Criterion) {
    let from: SocketAddr = "10.0.0.2:47389".parse().unwrap();
    let mut g = c.benchmark_group("discovery");
    g.throughput(Throughput::Elements(1));
    for (name, inputs) in [
        ("announcement_other_document", announcements(0xbad, 1)),
        ("announcement_other_key", announcements(DOC, 2)),
        ("datagram_other_key", foreign_datagrams()),
    ] {
        let mut n = node();
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                n.handle_datagram(Time::ZERO, from, &inputs[i % inputs.len()]);
                i += 1;
            })
        });
        // Whatever came in, nothing was let in.
        assert!(n.peers().is_empty(), "{name}");
        assert_eq!(n.stats().discovery.heard, 0, "{name}");
    }
    g.finish();
}

criterion_group!(discovery, benches);
criterion_main!(discovery);
