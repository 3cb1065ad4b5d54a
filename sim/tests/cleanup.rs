//! Tombstone cleanup under faults, seen from the outside of a run: the
//! texts stay what the reference (which keeps everything) says, every run
//! converges, and once all history is stable the nodes hold only position
//! markers (`--settle` fails the run otherwise).

use rumor::node::Node;
use rumor_sim::{Partitions, Report, SimConfig, Simulation, Topology};

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

/// Swarm seeds (`sim --seed N --swarm`) where, before the fix, a node that
/// had heard from none of its peers (or had none) took itself for the
/// whole group and cleaned up its history alone, while the others typed
/// without it: their ops were then refused, and a node lost its own ops
/// while absorbing a snapshot (seed 5698 made ids twice).
#[test]
fn swarm_seeds_where_a_node_alone_cleaned_up_converge() {
    for seed in [1506, 4557, 4727, 5417, 5698] {
        let r = swarm_with_cleanup(seed);
        assert!(r.converged, "seed {seed}: {:?}", r.failure);
    }
}

/// Runs swarm seed `seed` (`sim --seed N --swarm`), one that draws
/// cleanup on.
fn swarm_with_cleanup(seed: u64) -> Report {
    let cfg = SimConfig {
        seed,
        ..SimConfig::default()
    }
    .swarm();
    assert!(cfg.cleanup_min_runs > 0, "seed {seed}: cleanup drawn on");
    Simulation::<Node>::new(cfg).run()
}

/// Swarm seed 81897 (found on 2026-12-06 by sweeping past the seeds swept
/// before): after a crash, a node that had cleaned up its history took in a
/// late copy of the empty snapshot it had joined by; its own ops past it
/// could not be given back (cleaned up), and it rejoined as a new replica,
/// which the checker counts as the group refusing a member's ops. A
/// snapshot older than a replica's cleanup is now refused.
#[test]
fn a_stale_snapshot_after_a_restart_does_not_make_a_member_rejoin() {
    let r = swarm_with_cleanup(81897);
    assert!(r.converged, "{:?}", r.failure);
    assert_eq!(r.crashes, 1);
}

/// A star whose leaves (told only of the hub) start as newcomers, as the
/// program starts them, under every kind of fault.
fn star(seed: u64, cleanup_min_runs: usize) -> SimConfig {
    SimConfig {
        seed,
        cleanup_min_runs,
        loss: 0.24,
        delay_ms: 64.0,
        jitter_ms: 46.0,
        topology: Topology::Star,
        partitions: Partitions::Rate(3.9),
        partition_ms: 9_000.0,
        crashes: 1.4,
        downtime_ms: 5_000.0,
        offline: 4.5,
        offline_ms: 9_900.0,
        ops: 382,
        ..SimConfig::default()
    }
}

/// The seeds of 0..=400 that failed in a star with cleanup at every run
/// (two of them also at 64 runs). Under these faults cleanup waits until
/// the group is whole again; settling proves it then cleans up everything.
#[test]
fn star_seeds_that_broke_the_cleanup_promise_converge_and_settle() {
    for seed in [15, 80, 105, 106, 201, 267, 284, 308, 324, 345, 354] {
        let cfg = SimConfig {
            settle: true,
            ..star(seed, 1)
        };
        let r = Simulation::<Node>::new(cfg).run();
        assert!(r.converged, "seed {seed}: {:?}", r.failure);
        assert!(r.cleanup.settled_after_ms.is_some(), "seed {seed}");
        assert!(r.cleanup.tombstones_reclaimed_max > 0, "seed {seed}");
    }
}

/// Star seeds where a leaf used the hub's report before it knew a
/// newcomer, and cleaned up history the newcomer's ops still named (it
/// then refused them for good): 452..1243 of 0..2000, a leaf cut off by a
/// partition soon after the newcomer joined (reports now name the members
/// they count); 6134 of 2000..10000, the hub let the newcomer in, crashed
/// before its next tick remembered it, and restarted without it (a member
/// is now remembered, durably, from its first datagram).
#[test]
fn a_report_names_the_members_it_counts_so_a_newcomer_is_never_left_out() {
    for seed in [452, 1057, 1173, 1178, 1243, 6134] {
        let r = Simulation::<Node>::new(star(seed, 1)).run();
        assert!(r.converged, "seed {seed}: {:?}", r.failure);
    }
}

/// The hub crashes and restarts before any leaf's ops reached it: when
/// the peer table was all it knew of its members, it took itself for the
/// whole group and cleaned up alone, and a leaf that was a member had its
/// ops refused. The members it knew are kept on its disk now.
#[test]
fn a_hub_that_restarts_knowing_no_one_does_not_clean_up_alone() {
    let r = Simulation::<Node>::new(star(48, 1)).run();
    assert!(r.converged, "{:?}", r.failure);
}

/// Every life of a replica that edits does so under a fresh id (so a
/// restored disk can never reuse one). The hub took two new ids while a
/// leaf was offline, restarted knowing no leaf, and the leaf's datagrams,
/// sealed for the hub's first id, could never be opened: the leaf was cut
/// off for good. A peer that does not answer now gets datagrams bound to
/// no replica id, which any id of it opens. The scenario (hub n0 crashes
/// at 9.2 s and 20.6 s while leaf n1 is offline from 12.8 s to 22.4 s) was
/// seed 86 until faster first-contact retries ended that run sooner; it
/// is seed 91 now. The restart count below tells when it moves again.
#[test]
fn a_leaf_away_while_the_hub_changed_ids_is_heard_again() {
    let r = Simulation::<Node>::new(star(91, 1)).run();
    assert!(r.converged, "{:?}", r.failure);
    assert!(r.restarts >= 2, "the hub restarted twice: {}", r.restarts);
}

/// At rumor's own threshold, a leaf cut off for minutes while the rest
/// cleaned up: seed 80 never converged (the group split over its ops),
/// seed 324 had it rejoin as a member. Since small groups relay and
/// introduce new peers at once, seed 324's run no longer cleans up at all
/// (nor do some seeds near it on the code before: 326, 327, 329), so it
/// shows nothing here; seed 325 is a run that still does.
#[test]
fn a_leaf_cut_off_for_minutes_at_the_default_threshold() {
    for seed in [80, 325] {
        let cfg = SimConfig {
            loss: 0.3,
            partitions: Partitions::Rate(2.0),
            partition_ms: 40_000.0,
            crashes: 1.0,
            downtime_ms: 40_000.0,
            offline: 2.0,
            offline_ms: 40_000.0,
            ops: 4000,
            fault_ms: 180_000.0,
            ..star(seed, 1024)
        };
        let r = Simulation::<Node>::new(cfg).run();
        assert!(r.converged, "seed {seed}: {:?}", r.failure);
        assert!(r.cleanup.tombstones_reclaimed_max > 0, "seed {seed}");
    }
}
