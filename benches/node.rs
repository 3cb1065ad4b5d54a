//! Node benchmarks: bytes on the wire per typed char, ops per second
//! through a pair of nodes, and the cost of a reconnect against the size of
//! the difference, on the automerge-paper history.
//!
//! The byte and round-trip counts are deterministic (virtual time, seeded);
//! they are printed once, before criterion times the CPU cost.
//! Run: `cargo bench --bench node` (add `-- --quick` while developing).

#[path = "../tests/protocol_harness/mod.rs"]
mod harness;
#[path = "../tests/common/traces.rs"]
mod traces;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use harness::{Faults, Net};
use rumor::doc::{Doc, ReplicaId, VersionVector};
use rumor::node::{Config, Edit};
use rumor::wire::GroupKey;
use traces::Patch as TracePatch;

const ONE_WAY: Duration = Duration::from_millis(10);

fn edits_of(p: &TracePatch) -> Vec<Edit> {
    let mut out = Vec::new();
    if p.del > 0 {
        out.push(Edit::Delete {
            pos: p.pos,
            len: p.del,
        });
    }
    if !p.ins.is_empty() {
        out.push(Edit::Insert {
            pos: p.pos,
            text: p.ins.clone(),
        });
    }
    out
}

fn typed_chars(p: &TracePatch) -> u64 {
    (p.del + p.ins.chars().count()) as u64
}

fn clean_pair(seed: u64) -> Net {
    clean_pair_with(seed, Config::default())
}

/// Two nodes sealing every datagram with a group key.
fn sealed_config() -> Config {
    Config {
        key: Some(GroupKey::from_seed(1)),
        epoch: 1,
        ..Config::default()
    }
}

fn clean_pair_with(seed: u64, config: Config) -> Net {
    let mut net = Net::new(2, seed, config);
    net.faults = Faults {
        delay_min: ONE_WAY,
        delay_max: ONE_WAY,
        ..Faults::default()
    };
    net.add_peer(0, 1);
    net.run_for(Duration::from_millis(100));
    net
}

fn total_bytes(net: &Net) -> u64 {
    net.nodes.iter().map(|n| n.stats().bytes_sent).sum()
}

fn total_datagrams(net: &Net) -> u64 {
    net.nodes.iter().map(|n| n.stats().datagrams_sent).sum()
}

/// Node 0 types the first `n` patches of the trace, one every `every`;
/// returns (bytes both ways per typed char, datagrams per typed char).
fn typing_cost(patches: &[TracePatch], n: usize, every: Duration) -> (f64, f64) {
    let mut net = clean_pair(1);
    let (b0, d0) = (total_bytes(&net), total_datagrams(&net));
    let mut chars = 0;
    for p in &patches[..n] {
        for e in edits_of(p) {
            net.edit(0, e);
        }
        chars += typed_chars(p);
        net.run_for(every);
    }
    net.run_until_converged(Duration::from_secs(60))
        .expect("typing converges");
    let bytes = (total_bytes(&net) - b0) as f64;
    let datagrams = (total_datagrams(&net) - d0) as f64;
    (bytes / chars as f64, datagrams / chars as f64)
}

/// The whole trace typed on one doc (no network).
fn trace_doc(patches: &[TracePatch], replica: u64) -> Doc {
    let mut doc = Doc::new(ReplicaId(replica));
    for p in patches {
        if p.del > 0 {
            doc.delete(p.pos, p.del).expect("trace delete");
        }
        if !p.ins.is_empty() {
            doc.insert(p.pos, &p.ins).expect("trace insert");
        }
    }
    doc
}

struct Reconnect {
    diff_ops: usize,
    round_trips: f64,
    datagrams: u64,
    bytes: u64,
}

/// Two replicas share the trace's history; one goes offline while the
/// other makes `diff` more edits (the trace's patches again, from the
/// start); both are left long enough for the pushes to be lost and the
/// peer to be marked down. Returns the network and the edit count.
fn before_reconnect(history: &Doc, patches: &[TracePatch], diff: usize) -> (Net, usize) {
    let mut b = Doc::new(ReplicaId(0x9e37_79b9_7f4a_7c15));
    for op in history.ops_since(&VersionVector::new()) {
        b.apply(op).expect("history applies");
    }
    let mut net = Net::with_docs(vec![history.clone(), b], 7, Config::default());
    net.faults = Faults {
        delay_min: ONE_WAY,
        delay_max: ONE_WAY,
        ..Faults::default()
    };
    net.add_peer(1, 0);
    net.run_for(Duration::from_secs(1));
    assert!(net.converged());
    net.set_online(1, false);
    let mut edits = 0;
    for p in patches.iter().cycle().take(diff) {
        for e in edits_of(p) {
            net.edit(0, e);
            edits += 1;
        }
    }
    net.run_for(Duration::from_secs(60));
    (net, edits)
}

/// Brings the offline replica back and counts what the catch-up costs.
fn reconnect(mut net: Net, diff_ops: usize) -> Reconnect {
    let (b0, d0) = (total_bytes(&net), total_datagrams(&net));
    net.set_online(1, true);
    let took = net
        .run_until_converged(Duration::from_secs(600))
        .expect("reconnect converges");
    Reconnect {
        diff_ops,
        round_trips: took.as_secs_f64() / (2.0 * ONE_WAY.as_secs_f64()),
        datagrams: total_datagrams(&net) - d0,
        bytes: total_bytes(&net) - b0,
    }
}

fn reconnect_cost(history: &Doc, patches: &[TracePatch], diff: usize) -> Reconnect {
    let (net, edits) = before_reconnect(history, patches, diff);
    reconnect(net, edits)
}

/// Types `n` patches into node 0 of a pair and waits for node 1 to have them.
fn pair_run(patches: &[TracePatch], n: usize, config: &Config) -> Net {
    pair_typing(clean_pair_with(5, config.clone()), patches, n)
}

fn pair_typing(mut net: Net, patches: &[TracePatch], n: usize) -> Net {
    for (k, p) in patches.iter().take(n).enumerate() {
        for e in edits_of(p) {
            net.edit(0, e);
        }
        if k % 4 == 0 {
            net.run_for(Duration::from_millis(1));
        }
    }
    net.run_until_converged(Duration::from_secs(10)).unwrap();
    net
}

/// Types `n` patches one at a time, each sent alone (human speed: the
/// worst case for sealing, one small datagram and its ack per keystroke).
fn pair_run_slow(patches: &[TracePatch], n: usize, config: &Config) -> Net {
    let mut net = clean_pair_with(5, config.clone());
    for p in patches.iter().take(n) {
        for e in edits_of(p) {
            net.edit(0, e);
        }
        net.run_for(Duration::from_millis(50));
    }
    net.run_until_converged(Duration::from_secs(10)).unwrap();
    net
}

/// What sealing costs a pair's throughput: sealed and clear runs taken in
/// turn (so a busy machine slows both alike), the median of their ratios.
fn auth_cost(what: &str, run: impl Fn(&Config) -> Net) {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        21
    } else {
        1
    };
    let (clear, sealed) = (Config::default(), sealed_config());
    let datagrams = total_datagrams(&run(&sealed));
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        std::hint::black_box(run(&clear));
        let clear_time = t.elapsed();
        let t = std::time::Instant::now();
        std::hint::black_box(run(&sealed));
        ratios.push(t.elapsed().as_secs_f64() / clear_time.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "sealing every datagram: {what} ({datagrams} datagrams) takes {:.3}x the time in the \
         clear (median of {rounds} alternating runs; quartiles {:.3}x..{:.3}x)",
        ratios[rounds / 2],
        ratios[rounds / 4],
        ratios[3 * rounds / 4]
    );
}

fn report(patches: &[TracePatch], history: &Doc) {
    println!("== rumor node: bytes on the wire (UDP payload, both directions, acks and pings included) ==");
    println!("typing the first 20000 patches of automerge-paper, 20 ms round trip:");
    for every_ms in [1u64, 10, 50, 200] {
        let (bpc, dpc) = typing_cost(patches, 20_000, Duration::from_millis(every_ms));
        println!(
            "  one patch every {every_ms:>3} ms: {bpc:6.2} bytes/char, {dpc:5.3} datagrams/char"
        );
    }
    let total_chars: u64 = patches.iter().map(typed_chars).sum();
    let mut join = Net::with_docs(
        vec![history.clone(), Doc::new(ReplicaId(0x6a09_e667_f3bc_c908))],
        3,
        Config::default(),
    );
    join.add_peer(1, 0);
    join.run_until_converged(Duration::from_secs(600))
        .expect("joiner converges");
    println!(
        "whole automerge-paper history ({} patches, {total_chars} typed chars) to a new peer: {} bytes = {:.2} bytes/char",
        patches.len(),
        total_bytes(&join),
        total_bytes(&join) as f64 / total_chars as f64
    );
    let mut net = clean_pair(9);
    let (b0, d0) = (total_bytes(&net), total_datagrams(&net));
    let paste: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(1 << 20)
        .collect();
    net.insert(0, 0, &paste);
    let took = net
        .run_until_converged(Duration::from_secs(60))
        .expect("paste converges");
    let (bytes, datagrams) = (total_bytes(&net) - b0, total_datagrams(&net) - d0);
    println!(
        "a 1 MiB paste: {datagrams} datagrams (none over the 1200-byte MTU), {bytes} bytes ({:.3} bytes per byte pasted), {:.1} round trips",
        bytes as f64 / paste.len() as f64,
        took.as_secs_f64() / (2.0 * ONE_WAY.as_secs_f64())
    );
    println!("reconnect after a difference of N edits (doc with the automerge-paper history, 20 ms round trip):");
    for diff in [1usize, 1_000, 100_000] {
        let r = reconnect_cost(history, patches, diff);
        println!(
            "  N = {:>6} ({} edit calls): {:6.1} round trips, {:>6} datagrams, {:>9} bytes",
            diff, r.diff_ops, r.round_trips, r.datagrams, r.bytes
        );
    }
}

fn benches(c: &mut Criterion) {
    let trace = traces::sequential("automerge-paper");
    let patches: Vec<TracePatch> = trace.patches().cloned().collect();
    let end = trace.end_content;
    // Replica ids are random 64-bit numbers in real use (long varints).
    let history = trace_doc(&patches, 0xbb67_ae85_84ca_a73b);
    assert_eq!(history.text(), end, "trace replays to its end content");
    report(&patches, &history);
    auth_cost("a pair typing 2000 patches at 1 ms per 4", |c| {
        pair_run(&patches, 2000, c)
    });
    auth_cost("a pair typing 300 patches, each sent alone", |c| {
        pair_run_slow(&patches, 300, c)
    });

    let mut g = c.benchmark_group("node");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    // Ops per second through a pair of nodes: edit, datagrams out,
    // delivered, applied, acked (virtual network, zero CPU for the wire).
    let n = 2000u64;
    g.throughput(Throughput::Elements(n));
    // The same with every datagram sealed (group key): the cost of
    // authentication is the ratio of the two.
    for (name, config) in [
        ("pair_ops_per_second", Config::default()),
        ("pair_ops_per_second_sealed", sealed_config()),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || clean_pair_with(5, config.clone()),
                |net| pair_typing(net, &patches, n as usize),
                BatchSize::LargeInput,
            )
        });
    }
    // CPU cost of the catch-up alone (setup excluded).
    for diff in [1usize, 1_000, 100_000] {
        g.throughput(Throughput::Elements(diff as u64));
        g.bench_function(format!("reconnect_diff_{diff}"), |b| {
            b.iter_batched(
                || before_reconnect(&history, &patches, diff),
                |(net, edits)| reconnect(net, edits),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(node, benches);
criterion_main!(node);
