//! The same seed and flags give the same run, bit for bit; different seeds differ.

use rumor::node::Node;
use rumor_sim::protocol::SimNode;
use rumor_sim::toy::ToyNode;
use rumor_sim::{Partitions, SimConfig, Simulation};

fn faulty(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 4,
        ops: 80,
        loss: 0.2,
        dup: 0.1,
        reorder: 0.2,
        partitions: Partitions::Rate(4.0),
        crashes: 4.0,
        offline: 4.0,
        fault_ms: 10_000.0,
        ..SimConfig::default()
    }
}

fn check<N: SimNode>() {
    let a = Simulation::<N>::new(faulty(1)).run();
    let b = Simulation::<N>::new(faulty(1)).run();
    assert!(a.converged, "{:?}", a.failure);
    // The whole report, not just the hash, is a function of the config.
    assert_eq!(a, b);
    assert_eq!(a.trace_hash, b.trace_hash);

    let hashes: std::collections::BTreeSet<String> = (1..=6)
        .map(|seed| Simulation::<N>::new(faulty(seed)).run().trace_hash)
        .collect();
    assert_eq!(hashes.len(), 6, "different seeds gave equal trace hashes");

    // One changed knob changes the run too.
    let c = Simulation::<N>::new(SimConfig {
        loss: 0.21,
        ..faulty(1)
    })
    .run();
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn same_seed_same_trace_hash_real_node() {
    check::<Node>();
}

#[test]
fn same_seed_same_trace_hash_toy_protocol() {
    check::<ToyNode>();
}

#[test]
fn swarm_replays_from_seed_alone() {
    let cfg = |seed| {
        SimConfig {
            seed,
            ops: 50,
            fault_ms: 5_000.0,
            ..SimConfig::default()
        }
        .swarm()
    };
    let a = Simulation::<ToyNode>::new(cfg(77)).run();
    let b = Simulation::<ToyNode>::new(cfg(77)).run();
    assert_eq!(a, b);
    assert_ne!(a.faults, Simulation::<ToyNode>::new(cfg(78)).run().faults);
}
