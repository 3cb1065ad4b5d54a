//! Sealing and opening one datagram (XChaCha20-Poly1305 under the group
//! key, header as associated data), at a typed char's size and at a full
//! MTU; beside them, the same datagrams in the clear, as the baseline.
//! `seal_open_kept_*` is what a node does: its `SealKeys` keep each
//! sender's epoch key, so only the first datagram of a run derives it.
//! The cost for a node's throughput is `pair_ops_per_second_sealed`
//! against `pair_ops_per_second` in `benches/node.rs`.
//! Run: `cargo bench --bench auth`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rumor::doc::ReplicaId;
use rumor::wire::{self, GroupKey, Header, SealId, SealKeys};

fn benches(c: &mut Criterion) {
    let key = GroupKey::from_seed(7);
    let header = Header {
        document: 0,
        sender: ReplicaId(0xbb67_ae85_84ca_a73b),
        packet: 1234,
    };
    let id = SealId {
        epoch: 1_764_000_000_000,
        seq: 98_765,
    };
    let mut g = c.benchmark_group("auth");
    for size in [64usize, 1200] {
        // A payload that makes a datagram of about `size` bytes.
        let payload: Vec<u8> = (0..size - wire::HEADER_LEN - 2 - wire::SEAL_OVERHEAD + 16)
            .map(|i| i as u8)
            .collect();
        g.throughput(Throughput::Bytes(size as u64));
        let mut out = Vec::with_capacity(2048);
        let mut scratch = Vec::with_capacity(2048);
        g.bench_function(format!("seal_open_{size}"), |b| {
            b.iter(|| {
                out.clear();
                wire::seal_with(&key, &header, id, &payload, &mut out);
                let opened = wire::open_with(&out, Some(&key), &mut scratch).unwrap();
                opened.payload.len()
            })
        });
        let (mut sealer, mut opener) = (SealKeys::new(key.clone()), SealKeys::new(key.clone()));
        g.bench_function(format!("seal_open_kept_{size}"), |b| {
            b.iter(|| {
                out.clear();
                wire::seal_with_keys(&mut sealer, &header, id, &payload, &mut out);
                let opened = wire::open_with_keys(&out, Some(&mut opener), &mut scratch).unwrap();
                opened.payload.len()
            })
        });
        g.bench_function(format!("clear_{size}"), |b| {
            b.iter(|| {
                out.clear();
                wire::seal(&header, &payload, &mut out);
                wire::open(&out).unwrap().1.len()
            })
        });
    }
    g.finish();
}

criterion_group!(auth, benches);
criterion_main!(auth);
