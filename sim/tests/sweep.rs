//! Swarm sweeps: many seeds, each with its own fault mix, must all converge.

use rumor::node::Node;
use rumor_sim::protocol::SimNode;
use rumor_sim::toy::ToyNode;
use rumor_sim::{SimConfig, Simulation, Topology};

/// A small world: few ops so a debug build sweeps hundreds of seeds quickly,
/// but a fault phase long enough for partitions, crashes and offline periods.
fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 2 + (seed % 4) as usize,
        ops: 40,
        fault_ms: 15_000.0,
        deadline_ms: 60_000.0,
        check_ms: 3_000.0,
        ..SimConfig::default()
    }
    .swarm()
}

/// A small world drawn as `small`, but a star (leaves told only of the
/// hub, so they start as newcomers) that cleans up at every run.
fn small_star_cleaning(seed: u64) -> SimConfig {
    SimConfig {
        topology: Topology::Star,
        cleanup_min_runs: 1,
        ..small(seed)
    }
}

/// A small world drawn as `small` whose typists undo and redo their own
/// edits now and then, and that cleans up at every run: undo's edits
/// meet every fault and tombstones already cleaned up.
fn small_undoing(seed: u64) -> SimConfig {
    SimConfig {
        undo: 0.3,
        cleanup_min_runs: 1,
        ..small(seed)
    }
}

/// A small world drawn as `small`, with crashes every few seconds, a
/// share of restarts booting from a restored backup of the disk, and
/// cleanup at every run: no id is reused, nothing diverges. (Not settled:
/// an id used only by a run whose disk was then restored, and heard by
/// nobody from its address, holds cleanup back until the member horizon,
/// an hour, longer than a settled run waits.)
fn small_restoring(seed: u64) -> SimConfig {
    SimConfig {
        crashes: 12.0,
        downtime_ms: 1_000.0,
        restores: 0.6,
        cleanup_min_runs: 1,
        settle: false,
        ..small(seed)
    }
}

fn sweep<N: SimNode>(seeds: std::ops::Range<u64>, world: fn(u64) -> SimConfig) {
    let mut failures = Vec::new();
    let mut faults_seen = [0u64; 4];
    for seed in seeds.clone() {
        let cfg = world(seed);
        let report = Simulation::<N>::new(cfg.clone()).run();
        faults_seen[0] += report.drops.loss;
        faults_seen[1] += report.partitions;
        faults_seen[2] += report.crashes;
        faults_seen[3] += report.offline_periods;
        if !report.converged {
            failures.push(format!(
                "seed {seed}: {:?}\n  replay: {}",
                report.failure,
                cfg.command_line()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        seeds.end - seeds.start,
        failures.join("\n")
    );
    // The sweep really exercised every kind of fault.
    assert!(faults_seen.iter().all(|&n| n > 0), "{faults_seen:?}");
}

#[test]
fn three_hundred_swarm_seeds_converge_with_the_real_node() {
    sweep::<Node>(0..300, small);
}

#[test]
fn a_hundred_and_fifty_star_seeds_converge_cleaning_up_at_every_run() {
    sweep::<Node>(2000..2150, small_star_cleaning);
}

#[test]
fn a_hundred_and_fifty_swarm_seeds_converge_undoing_and_cleaning_up() {
    let undos: u64 = (3000..3010)
        .map(|seed| Simulation::<Node>::new(small_undoing(seed)).run().undos)
        .sum();
    assert!(undos > 10, "the typists undid something: {undos}");
    sweep::<Node>(3000..3150, small_undoing);
}

#[test]
fn a_hundred_swarm_seeds_converge_restarting_from_restored_backups() {
    let restores: u64 = (4000..4020)
        .map(|seed| {
            Simulation::<Node>::new(small_restoring(seed))
                .run()
                .restores
        })
        .sum();
    assert!(restores > 0, "the worlds restore disks");
    sweep::<Node>(4000..4100, small_restoring);
}

#[test]
fn two_hundred_swarm_seeds_converge_with_the_toy_protocol() {
    sweep::<ToyNode>(1000..1200, small);
}
