//! A real link cut between two `rumor` processes, each in a network
//! namespace of its own joined by a veth pair that this test creates, cuts
//! and restores. Needs root (`ip netns`); elsewhere it says it is skipped,
//! and with `RUMOR_REQUIRE_NETNS=1` (set in CI) a skip is a failure.

mod program_support;

use std::time::{Duration, Instant};

use program_support::netns::{ip, skip, Namespaces};
use program_support::*;

const WHAT: &str = "netns link-cut test";

#[test]
fn peers_converge_after_a_real_link_cut() {
    if !is_root() {
        return skip(WHAT, "not root");
    }
    let tag = format!("rmr{}", std::process::id() % 100_000);
    let (ns_a, ns_b) = (format!("{tag}a"), format!("{tag}b"));
    let (veth_a, veth_b) = (format!("{tag}va"), format!("{tag}vb"));
    let guard = Namespaces {
        names: vec![ns_a.clone(), ns_b.clone()],
        links: vec![veth_a.clone()],
    };
    if let Err(e) = ip(&["netns", "add", &ns_a]) {
        return skip(WHAT, &e);
    }
    let setup = [
        vec!["netns", "add", &ns_b],
        vec![
            "link", "add", &veth_a, "type", "veth", "peer", "name", &veth_b,
        ],
        vec!["link", "set", &veth_a, "netns", &ns_a],
        vec!["link", "set", &veth_b, "netns", &ns_b],
        vec!["-n", &ns_a, "addr", "add", "10.231.7.1/24", "dev", &veth_a],
        vec!["-n", &ns_b, "addr", "add", "10.231.7.2/24", "dev", &veth_b],
        vec!["-n", &ns_a, "link", "set", "lo", "up"],
        vec!["-n", &ns_b, "link", "set", "lo", "up"],
        vec!["-n", &ns_a, "link", "set", &veth_a, "up"],
        vec!["-n", &ns_b, "link", "set", &veth_b, "up"],
    ];
    for args in &setup {
        ip(args).unwrap_or_else(|e| panic!("namespace setup failed: {e}"));
    }

    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let addr_a = "10.231.7.1:7001".parse().unwrap();
    let addr_b = "10.231.7.2:7001".parse().unwrap();
    let mut a = Peer::start(
        Spec::new("a")
            .listen(addr_a)
            .prefix(&["ip", "netns", "exec", &ns_a]),
        logs,
    );
    let mut b = Peer::start(
        Spec::new("b")
            .listen(addr_b)
            .peer(addr_a)
            .prefix(&["ip", "netns", "exec", &ns_b]),
        logs,
    );
    a.insert(0, "linked. ");
    converge(&mut [&mut a, &mut b], Duration::from_secs(30), logs, |t| {
        t == "linked. "
    });

    ip(&["-n", &ns_a, "link", "set", &veth_a, "down"]).unwrap();
    a.insert(0, "a-during-cut ");
    b.insert(0, "b-during-cut ");
    // The cut is real: a stops hearing b.
    let start = Instant::now();
    loop {
        let peers = a.ok("peers");
        let row = peers.iter().find(|l| l.starts_with("10.231.7.2:7001"));
        if row.is_some_and(|r| r.contains("suspect") || r.contains("down")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "a still thinks b is alive through a cut link: {peers:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!a.text().contains("b-during-cut"));

    ip(&["-n", &ns_a, "link", "set", &veth_a, "up"]).unwrap();
    // No `reconnect`: retransmission and anti-entropy must heal it alone.
    converge(&mut [&mut a, &mut b], Duration::from_secs(60), logs, |t| {
        t.contains("a-during-cut") && t.contains("b-during-cut") && t.contains("linked.")
    });
    drop(a);
    drop(b);
    drop(guard);
}
