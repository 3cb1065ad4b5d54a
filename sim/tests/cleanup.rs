//! Tombstone cleanup under faults, seen from the outside of a run: the
//! texts stay what the reference (which keeps everything) says, every run
//! converges, and once all history is stable the nodes hold only position
//! markers (`--settle` fails the run otherwise).

use rumor::node::Node;
use rumor_sim::{Partitions, SimConfig, Simulation};

fn cleaning(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 4,
        cleanup_min_runs: 1,
        settle: true,
        ..SimConfig::default()
    }
}

#[test]
fn a_long_run_with_many_deletes_holds_only_markers_once_settled() {
    let cfg = SimConfig {
        ops: 4000,
        loss: 0.1,
        fault_ms: 120_000.0,
        ..cleaning(3)
    };
    let r = Simulation::<Node>::new(cfg).run();
    assert!(r.converged, "{:?}", r.failure);
    let c = &r.cleanup;
    assert!(c.settled_after_ms.is_some());
    assert!(c.tombstones_made > 1000, "{c:?}");
    // What is held is bounded by the text's runs, not by what was deleted.
    assert!(c.tombstones_held_max * 10 < c.tombstones_made, "{c:?}");
    assert_eq!(
        c.tombstones_reclaimed_max as usize + c.tombstones_held_max,
        c.tombstones_made
    );
}

#[test]
fn cleanup_under_crashes_and_long_partitions_keeps_every_text() {
    for seed in 0..12 {
        let cfg = SimConfig {
            ops: 600,
            crashes: 4.0,
            downtime_ms: 4_000.0,
            partitions: Partitions::Rate(3.0),
            partition_ms: 15_000.0,
            loss: 0.05,
            dup: 0.05,
            fault_ms: 90_000.0,
            check_ms: 2_000.0,
            ..cleaning(seed)
        };
        let r = Simulation::<Node>::new(cfg).run();
        assert!(r.converged, "seed {seed}: {:?}", r.failure);
        assert!(
            r.crashes > 0 && r.partitions > 0,
            "seed {seed}: faults happened"
        );
        assert!(
            r.cleanup.tombstones_reclaimed_max > 0,
            "seed {seed}: {:?}",
            r.cleanup
        );
        assert!(r.cleanup.settled_after_ms.is_some(), "seed {seed}");
    }
}

#[test]
fn without_cleanup_every_tombstone_stays() {
    let cfg = SimConfig {
        ops: 600,
        cleanup_min_runs: 0,
        ..cleaning(5)
    };
    let r = Simulation::<Node>::new(cfg).run();
    assert!(r.converged, "{:?}", r.failure);
    assert_eq!(r.cleanup.tombstones_reclaimed_max, 0);
    assert_eq!(r.cleanup.tombstones_held_max, r.cleanup.tombstones_made);
}
