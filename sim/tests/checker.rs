//! The checker can fail: planted bugs are caught.

use rumor::node::Node;
use rumor_sim::toy::ToyNode;
use rumor_sim::{Sabotage, SimConfig, Simulation};

fn base(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 4,
        ops: 150,
        loss: 0.2,
        deadline_ms: 20_000.0,
        ..SimConfig::default()
    }
}

#[test]
fn a_node_without_anti_entropy_is_caught() {
    // The broken toy node sends each edit once; with 20% loss some never arrive.
    for seed in 0..5 {
        let report = Simulation::<ToyNode>::new(SimConfig {
            sabotage: Some(Sabotage::BrokenNode),
            ..base(seed)
        })
        .run();
        assert!(!report.converged, "seed {seed}");
        let why = report.failure.unwrap();
        assert!(why.starts_with("not converged"), "{why}");
    }
    // The same runs with the working toy converge: the loss alone is not the cause.
    for seed in 0..5 {
        let report = Simulation::<ToyNode>::new(base(seed)).run();
        assert!(report.converged, "seed {seed}: {:?}", report.failure);
    }
}

#[test]
fn a_network_that_never_heals_is_caught() {
    let report = Simulation::<ToyNode>::new(SimConfig {
        sabotage: Some(Sabotage::NeverHeal),
        ..base(1)
    })
    .run();
    assert!(!report.converged);
    assert!(report.failure.unwrap().contains("n0 has"));
    assert!(report.convergence_ms.is_none());
}

#[test]
fn a_store_that_never_syncs_is_caught_at_restart() {
    let report = Simulation::<ToyNode>::new(SimConfig {
        sabotage: Some(Sabotage::NoSync),
        crashes: 20.0,
        fault_ms: 10_000.0,
        ..base(2)
    })
    .run();
    assert!(!report.converged);
    let why = report.failure.unwrap();
    assert!(why.contains("local edits were lost"), "{why}");
}

/// The real node with every recovery timer (retransmission, anti-entropy,
/// pings, peer exchange) pushed past the deadline: lost datagrams stay lost.
#[test]
fn a_real_node_that_never_recovers_is_caught() {
    for seed in 0..3 {
        let broken = Simulation::<Node>::new(SimConfig {
            sabotage: Some(Sabotage::BrokenNode),
            ..base(seed)
        })
        .run();
        assert!(!broken.converged, "seed {seed}: a broken node converged");
        let why = broken.failure.unwrap();
        assert!(why.starts_with("not converged"), "{why}");
        let working = Simulation::<Node>::new(base(seed)).run();
        assert!(working.converged, "seed {seed}: {:?}", working.failure);
    }
}
