//! proptest suites that draw the simulator's configuration: whatever the
//! world, replicas converge to the reference, and the run is a pure function
//! of its config.

use proptest::prelude::*;
use rumor::node::Node;
use rumor_sim::config::ScheduledPartition;
use rumor_sim::net::Partition;
use rumor_sim::protocol::SimNode;
use rumor_sim::queue::EventQueue;
use rumor_sim::toy::ToyNode;
use rumor_sim::{Partitions, SimConfig, Simulation, Topology};

fn partition(nodes: usize) -> impl Strategy<Value = Partition> {
    (
        proptest::collection::vec(any::<bool>(), nodes),
        any::<bool>(),
    )
        .prop_map(move |(sides, one_way)| {
            let a: Vec<usize> = (0..nodes).filter(|&i| sides[i]).collect();
            let b: Vec<usize> = (0..nodes).filter(|&i| !sides[i]).collect();
            if one_way {
                Partition::OneWay { from: a, to: b }
            } else {
                Partition::Split(vec![a, b])
            }
        })
}

fn partitions(nodes: usize) -> impl Strategy<Value = Partitions> {
    prop_oneof![
        (0.0..8.0f64).prop_map(Partitions::Rate),
        proptest::collection::vec(
            (0u64..20_000, 1u64..10_000, partition(nodes)).prop_map(|(start, len, partition)| {
                ScheduledPartition {
                    start: start * 1000,
                    end: (start + len) * 1000,
                    partition,
                }
            }),
            0..4
        )
        .prop_map(Partitions::Schedule),
    ]
}

fn config() -> impl Strategy<Value = SimConfig> {
    (1usize..=6).prop_flat_map(|nodes| {
        (
            (
                any::<u64>(),
                0u64..60,
                0.0..0.5f64,
                0.0..0.3f64,
                0.0..0.3f64,
            ),
            (
                0.0..200.0f64,
                0.0..50.0f64,
                512usize..=1500,
                partitions(nodes),
            ),
            (
                0.0..8.0f64,
                0.0..8.0f64,
                0usize..4,
                any::<bool>(),
                0.0..200.0f64,
            ),
        )
            .prop_map(
                move |(
                    (seed, ops, loss, dup, reorder),
                    (delay_ms, jitter_ms, mtu, partitions),
                    (crashes, offline, topology, hot_spots, sync_ms),
                )| SimConfig {
                    seed,
                    nodes,
                    ops,
                    loss,
                    dup,
                    reorder,
                    delay_ms,
                    jitter_ms,
                    mtu,
                    partitions,
                    crashes,
                    offline,
                    topology: Topology::ALL[topology],
                    hot_spots,
                    sync_ms,
                    fault_ms: 10_000.0,
                    deadline_ms: 120_000.0,
                    check_ms: 2_000.0,
                    ..SimConfig::default()
                },
            )
    })
}

fn converges<N: SimNode>(cfg: SimConfig) -> Result<(), TestCaseError> {
    prop_assert!(cfg.validate().is_ok());
    let report = Simulation::<N>::new(cfg.clone()).run();
    prop_assert!(
        report.converged,
        "{:?}\nreplay: {}",
        report.failure,
        cfg.command_line()
    );
    prop_assert_eq!(report.ops, cfg.ops);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn real_node_converges_in_any_world(cfg in config()) {
        converges::<Node>(cfg)?;
    }

    #[test]
    fn toy_protocol_converges_in_any_world(cfg in config()) {
        converges::<ToyNode>(cfg)?;
    }

    #[test]
    fn a_run_is_a_function_of_its_config(cfg in config()) {
        let a = Simulation::<ToyNode>::new(cfg.clone()).run();
        let b = Simulation::<ToyNode>::new(cfg).run();
        prop_assert_eq!(a, b);
    }

    /// The queue pops in (time, insertion order), whatever the pushes.
    #[test]
    fn queue_orders_by_time_then_sequence(times in proptest::collection::vec(0u64..50, 0..200)) {
        let mut q = EventQueue::new();
        for (seq, &t) in times.iter().enumerate() {
            q.push(t, seq);
        }
        let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
        expected.sort();
        let got: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop()).collect();
        prop_assert_eq!(got, expected);
    }
}
