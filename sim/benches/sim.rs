//! Simulator speed: events per second of wall time.
//!
//! `queue` is the floor (push + pop of the event queue alone); the world runs
//! are 5-node sessions with the real node and with the toy protocol, so the
//! cost of the simulator itself and of the protocol can be told apart.
//! Criterion reports throughput in events (elements) per second.
//!
//! `session` is issue 4's speed target: a 5-node, 10-minute editing session
//! (`sim --seed 1 --ops 12000 --fault-ms 600000`), at least 1 M events per
//! second and 1000x real time. In smoke mode (`cargo test --bench sim`, as
//! CI runs it) it is cut to 500 ops and 30 s, to stay quick in debug.
//!
//! `groups` runs the real node in groups of 10, 30 and 100 (fan-out
//! gossip, issue 8), throughput in ops, and prints once per size what each
//! node sends per op and how long an op takes to reach the last node (the
//! numbers are a deterministic function of the seed; the timing is
//! criterion's).
//!
//! `scale` (issue 20) runs one workload, `SCALE_OPS` edits on a healthy
//! network, in groups of 10, 100, 300 and 1,000 nodes, throughput in
//! events: how the cost of one simulated event grows with the group. In
//! smoke mode it runs the 10-node group once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rumor::node::Node;
use rumor_sim::protocol::SimNode;
use rumor_sim::queue::EventQueue;
use rumor_sim::toy::ToyNode;
use rumor_sim::{SimConfig, Simulation};

/// The allocator the `sim` program runs with (see src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn session(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 5,
        ops: 1_000,
        loss: 0.05,
        ..SimConfig::default()
    }
}

/// Criterion's own rule: each bench runs once, as a test, under
/// `cargo bench -- --test` and under `cargo test --bench sim` (no `--bench`).
fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// The 10-minute session of the speed target (the `sim` program's defaults otherwise).
fn ten_minutes() -> SimConfig {
    let (ops, fault_ms) = if smoke_mode() {
        (500, 30_000.0)
    } else {
        (12_000, 600_000.0)
    };
    SimConfig {
        seed: 1,
        ops,
        fault_ms,
        ..SimConfig::default()
    }
}

fn ten_minute_session(c: &mut Criterion) {
    let mut g = c.benchmark_group("session");
    if !smoke_mode() {
        // Throughput in events: a probe run counts them (not worth it for
        // the smoke run's single pass).
        let probe = Simulation::<Node>::new(ten_minutes()).run();
        assert!(probe.converged, "{:?}", probe.failure);
        g.throughput(Throughput::Elements(probe.events));
    }
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("5_nodes_10_min", |b| {
        b.iter(|| {
            let r = Simulation::<Node>::new(ten_minutes()).run();
            assert!(r.converged, "{:?}", r.failure);
            black_box(r)
        })
    });
    g.finish();
}

fn world<N: SimNode>(c: &mut Criterion, name: &str) {
    let probe = Simulation::<N>::new(session(1)).run();
    assert!(probe.converged, "{:?}", probe.failure);
    let mut g = c.benchmark_group("world");
    g.throughput(Throughput::Elements(probe.events));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function(name, |b| {
        b.iter(|| black_box(Simulation::<N>::new(session(1)).run()))
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let n = 100_000u64;
    let mut g = c.benchmark_group("queue");
    g.throughput(Throughput::Elements(n));
    g.bench_function("push_pop_100k", |b| {
        b.iter(|| {
            let mut q = EventQueue::new();
            let mut x = 1u64;
            // Keep about a thousand events pending, like a busy world.
            for i in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                q.push(q.now() + (x >> 44), i);
                if i >= 1000 {
                    black_box(q.pop());
                }
            }
            while let Some(e) = q.pop() {
                black_box(e);
            }
        })
    });
    g.finish();
    world::<ToyNode>(c, "5_nodes_1000_ops_toy");
    world::<Node>(c, "5_nodes_1000_ops_node");
}

/// A group of `nodes` typing `ops` edits in all, on a healthy network.
fn group_session(nodes: usize) -> SimConfig {
    SimConfig {
        seed: 1,
        nodes,
        ops: 3 * nodes as u64,
        check_ms: 0.0,
        ..SimConfig::default()
    }
}

fn groups(c: &mut Criterion) {
    let mut g = c.benchmark_group("groups");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for nodes in [10, 30, 100] {
        // Throughput in ops: known without a probe run (the smoke run in
        // CI runs each size once, in debug).
        g.throughput(Throughput::Elements(group_session(nodes).ops));
        let mut printed = false;
        g.bench_function(format!("{nodes}_nodes"), |b| {
            b.iter(|| {
                let r = Simulation::<Node>::new(group_session(nodes)).run();
                assert!(r.converged, "{:?}", r.failure);
                if !std::mem::replace(&mut printed, true) {
                    eprintln!(
                        "groups/{nodes}: {} ops, {:.2} datagrams and {:.0} bytes per node per op, \
                         last delivery p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
                        r.ops,
                        r.datagrams_per_node_per_op,
                        r.bytes_per_node_per_op,
                        r.last_delivery_ms.p50,
                        r.last_delivery_ms.p99,
                        r.last_delivery_ms.max
                    );
                }
                black_box(r)
            })
        });
    }
    g.finish();
}

/// Edits in each `scale` run, whatever the group size: a per-peer
/// version vector names at most this many authors, which keeps the
/// 1,000-node group's memory within reach (see the README's "Large groups").
const SCALE_OPS: u64 = 20;

fn scale_session(nodes: usize) -> SimConfig {
    SimConfig {
        seed: 1,
        nodes,
        ops: SCALE_OPS,
        check_ms: 0.0,
        ..SimConfig::default()
    }
}

fn scale(c: &mut Criterion) {
    let sizes: &[usize] = if smoke_mode() {
        &[10]
    } else {
        &[10, 100, 300, 1000]
    };
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for &nodes in sizes {
        let probe = Simulation::<Node>::new(scale_session(nodes)).run();
        assert!(probe.converged, "{:?}", probe.failure);
        eprintln!(
            "scale/{nodes}: {} events ({} deliveries, {} timers), {:.0} datagrams per node",
            probe.events,
            probe.events_by_kind.deliveries,
            probe.events_by_kind.timers,
            probe.datagrams_sent as f64 / nodes as f64
        );
        g.throughput(Throughput::Elements(probe.events));
        g.bench_function(format!("{nodes}_nodes"), |b| {
            b.iter(|| black_box(Simulation::<Node>::new(scale_session(nodes)).run()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, ten_minute_session, groups, scale);
criterion_main!(benches);
