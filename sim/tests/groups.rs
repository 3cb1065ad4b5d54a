//! Large groups: 10, 100 and 300 real nodes converge, and fan-out gossip
//! keeps each node's traffic per op about flat as the group grows.
//!
//! The 300-node run (the README's table: 5 ops per node) takes about 100 s
//! of CPU in a release build and far more in debug, so it is ignored by
//! default; run it with
//! `cargo test --release -p rumor-sim --test groups -- --include-ignored`.

use rumor::node::Node;
use rumor_sim::{Report, SimConfig, Simulation, Topology};

fn group(nodes: usize, ops: u64, topology: Topology) -> Report {
    let cfg = SimConfig {
        seed: 1,
        nodes,
        ops,
        topology,
        // One safety check at the end is enough here: the sweeps check throughout.
        check_ms: 0.0,
        ..SimConfig::default()
    };
    let report = Simulation::<Node>::new(cfg.clone()).run();
    assert!(
        report.converged,
        "{:?}\n  replay: {}",
        report.failure,
        cfg.command_line()
    );
    assert_eq!(
        report.min_peers_known,
        nodes - 1,
        "peer exchange: everyone knows everyone"
    );
    assert_eq!(
        report.last_delivery_ms.count, report.ops,
        "every op reached every node"
    );
    report
}

#[test]
fn ten_nodes_converge_and_each_op_travels_about_once_per_node() {
    let r = group(10, 200, Topology::Mesh);
    // Full push sent each op from every node to every other (about 9
    // copies per node); down the tree each node sends about one, plus
    // acks, pings and announcements.
    assert!(
        r.datagrams_per_node_per_op < 4.0,
        "{} datagrams per node per op",
        r.datagrams_per_node_per_op
    );
}

#[test]
fn a_hundred_nodes_converge_from_a_star() {
    // Everyone starts knowing node 0 only: peer exchange must spread the
    // membership, and the trees must work while views still differ.
    let r = group(100, 100, Topology::Star);
    assert!(r.last_delivery_ms.max < 5_000.0, "{:?}", r.last_delivery_ms);
}

#[test]
fn a_large_group_keeps_partial_views() {
    // Past 384 known addresses a node contacts only random ones
    // of them (`node::view`): it still knows every address (the mesh gives
    // them all, `group` checks), but keeps full state for a bounded
    // number of peers: the `view_max` it chose and those that chose it.
    let view_max = rumor::node::Config::default().view_max;
    let r = group(400, 40, Topology::Mesh);
    assert!(
        r.max_peers_held <= 6 * view_max,
        "a node holds {} peers (view_max {view_max})",
        r.max_peers_held
    );
}

#[test]
#[ignore = "about 100 s of CPU in release; see the module doc"]
fn three_hundred_nodes_converge() {
    let small = group(10, 50, Topology::Mesh);
    let large = group(300, 1_500, Topology::Mesh);
    // Per-node cost per op stays within 2x from 10 to 300 nodes.
    assert!(
        large.bytes_per_node_per_op < 2.0 * small.bytes_per_node_per_op,
        "{} vs {} bytes per node per op",
        large.bytes_per_node_per_op,
        small.bytes_per_node_per_op
    );
    // An op reaches the last node in about log(N) hops: the median time
    // grows no faster than log(N) (30x the nodes, ln 300 / ln 10 = 2.5x).
    let growth = (300f64).ln() / (10f64).ln();
    assert!(
        large.last_delivery_ms.p50 < growth * small.last_delivery_ms.p50,
        "{:?} vs {:?}",
        large.last_delivery_ms,
        small.last_delivery_ms
    );
}
