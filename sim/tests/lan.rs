//! `--lan`: every node on one LAN segment, told of no peer at all. They
//! find each other by their sealed announcements (`node::discovery`),
//! which every node of the segment hears, through loss, partitions,
//! crashes, newcomers and cleanup, and converge; runs replay bit for bit.

use rumor::node::Node;
use rumor_sim::{Partitions, SimConfig, Simulation};

fn lan(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 4,
        ops: 120,
        lan: true,
        ..SimConfig::default()
    }
}

#[test]
fn nodes_told_of_no_peer_find_each_other_and_converge() {
    let cfg = SimConfig { joins: 2, ..lan(1) };
    let r = Simulation::<Node>::new(cfg.clone()).run();
    assert!(
        r.converged,
        "{:?}\n  replay: {}",
        r.failure,
        cfg.command_line()
    );
    assert!(r.faults.lan);
    // Nobody was told of anybody: each node came to know every other.
    assert_eq!(r.min_peers_known, 5, "replay: {}", cfg.command_line());
}

#[test]
fn discovery_on_a_faulty_lan_converges() {
    for seed in 0..6 {
        let cfg = SimConfig {
            loss: 0.2,
            dup: 0.05,
            reorder: 0.1,
            partitions: Partitions::Rate(3.0),
            crashes: 3.0,
            offline: 3.0,
            joins: 1,
            // Half the seeds with one founder (node 0) and cleanup.
            cleanup_min_runs: if seed % 2 == 0 { 64 } else { 0 },
            fault_ms: 10_000.0,
            ..lan(seed)
        };
        let r = Simulation::<Node>::new(cfg.clone()).run();
        assert!(
            r.converged,
            "seed {seed}: {:?}\n  replay: {}",
            r.failure,
            cfg.command_line()
        );
    }
}

#[test]
fn a_lan_run_replays_bit_for_bit() {
    let cfg = SimConfig {
        loss: 0.1,
        crashes: 2.0,
        ..lan(7)
    };
    let a = Simulation::<Node>::new(cfg.clone()).run();
    let b = Simulation::<Node>::new(cfg.clone()).run();
    assert!(a.converged, "{:?}", a.failure);
    assert_eq!(a, b);
    let told = Simulation::<Node>::new(SimConfig { lan: false, ..cfg }).run();
    assert_ne!(a.trace_hash, told.trace_hash, "the LAN changes the run");
}

#[test]
fn some_swarm_seeds_are_lans_and_replay_from_their_command_line() {
    let drawn: Vec<SimConfig> = (0..40)
        .map(|seed| {
            SimConfig {
                seed,
                ..SimConfig::default()
            }
            .swarm()
        })
        .collect();
    let lans = drawn.iter().filter(|c| c.lan).count();
    assert!(
        (3..=20).contains(&lans),
        "{lans} of 40 swarm seeds are LANs"
    );
    let one = drawn.iter().find(|c| c.lan).expect("a LAN seed");
    assert!(
        one.command_line().contains("--lan"),
        "{}",
        one.command_line()
    );
}
