//! Random edit schedules over random faults: once the network heals,
//! every replica converges within a bounded virtual time, nothing lost.

mod protocol_harness;

use std::time::Duration;

use proptest::prelude::*;
use protocol_harness::{Faults, Net};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::node::Config;

/// After healing, RTO backoff is capped at 10 s, a down peer is pinged
/// every second and anti-entropy runs every 2.5 to 7.5 s. A sweep of 1500
/// cases (PROPTEST_CASES=1500 PROTO_DEBUG=1, release) took at most 4.8 s.
const AFTER_HEAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Scenario {
    nodes: usize,
    seed: u64,
    /// (node, wait before the edit in ms, a big paste instead of a small edit)
    schedule: Vec<(usize, u64, bool)>,
    /// Small MTUs and windows stress splitting and pacing.
    mtu: usize,
    window_bytes: usize,
    loss: f64,
    dup: f64,
    delay_max_ms: u64,
    /// Cut node 0 off for part of the schedule.
    partition: bool,
    /// Take the last node offline for part of the schedule.
    offline: bool,
    peer_exchange: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=4)
        .prop_flat_map(|nodes| {
            (
                Just(nodes),
                any::<u64>(),
                proptest::collection::vec(
                    (0..nodes, 0u64..400, proptest::bool::weighted(0.05)),
                    1..60,
                ),
                prop_oneof![Just(200usize), Just(576), Just(1200)],
                prop_oneof![Just(2_000usize), Just(64 * 1024)],
                0.0f64..0.5,
                0.0f64..0.3,
                1u64..300,
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(
            |(
                nodes,
                seed,
                schedule,
                mtu,
                window_bytes,
                loss,
                dup,
                delay_max_ms,
                partition,
                offline,
                peer_exchange,
            )| {
                Scenario {
                    nodes,
                    seed,
                    schedule,
                    mtu,
                    window_bytes,
                    loss,
                    dup,
                    delay_max_ms,
                    partition,
                    offline,
                    peer_exchange,
                }
            },
        )
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let config = Config {
        peer_exchange: s.peer_exchange,
        mtu: s.mtu,
        window_bytes: s.window_bytes,
        ..Config::default()
    };
    let mut net = Net::new(s.nodes, s.seed, config);
    // A chain of introductions: 1 knows 0, 2 knows 1, ... (connected even
    // without peer exchange, through relay).
    for i in 1..s.nodes {
        net.add_peer(i, i - 1);
    }
    net.faults = Faults {
        loss: s.loss,
        dup: s.dup,
        delay_min: Duration::from_millis(1),
        delay_max: Duration::from_millis(s.delay_max_ms),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let third = s.schedule.len() / 3;
    let last = s.nodes - 1;
    for (k, &(node, wait, big)) in s.schedule.iter().enumerate() {
        if k == third {
            if s.partition {
                let rest: Vec<usize> = (1..s.nodes).collect();
                net.partition(&[0], &rest);
            }
            if s.offline {
                net.set_online(last, false);
            }
        }
        if k == 2 * third {
            net.heal();
            if s.offline {
                net.set_online(last, true);
            }
        }
        net.run_for(Duration::from_millis(wait));
        if big {
            let len = net.nodes[node].doc().len();
            let text: String = "paste ünïcödé ".chars().cycle().take(3000).collect();
            net.insert(node, len / 2, &text);
        } else {
            net.random_edit(node, &mut rng);
        }
    }
    net.heal();
    net.set_online(last, true);
    net.faults = Faults::default();
    let took = net.run_until_converged(AFTER_HEAL);
    if std::env::var_os("PROTO_DEBUG").is_some() {
        eprintln!("took {:?}", took);
    }
    prop_assert!(took.is_some(), "no convergence within {AFTER_HEAL:?}");
    net.assert_nothing_lost();
    Ok(())
}

proptest! {
    // 64 cases by default; PROPTEST_CASES=n for a longer sweep.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn converges_after_the_network_heals(s in scenario()) {
        run(&s)?;
    }
}
