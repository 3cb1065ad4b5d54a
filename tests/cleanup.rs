//! Tombstone cleanup through the protocol (in-memory network, virtual time):
//! nodes clean up the history every member has, the text never changes
//! (it always equals a replica that kept everything), newcomers join with a
//! snapshot of the cleaned-up document, and a member gone past the horizon
//! rejoins as a new replica without losing what it typed.

mod protocol_harness;

use std::time::Duration;

use protocol_harness::Net;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rumor::node::{Config, Event};
use rumor::{Doc, ReplicaId};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Cleanup as soon as anything is stable (the defaults wait for 1024 runs).
fn eager() -> Config {
    Config {
        anti_entropy_interval: secs(1),
        join_grace: secs(2),
        collect_min_runs: 1,
        ..Config::default()
    }
}

fn type_for(net: &mut Net, nodes: &[usize], seed: u64, edits: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for k in 0..edits {
        net.random_edit(nodes[k % nodes.len()], &mut rng);
        net.run_for(Duration::from_millis(50));
    }
}

fn assert_same_as_oracle(net: &Net) {
    for (i, n) in net.nodes.iter().enumerate() {
        assert_eq!(n.doc().text(), net.oracle.text(), "node {i}");
    }
}

#[test]
fn members_clean_up_what_all_have_and_the_text_stays_the_same() {
    let mut net = Net::new(3, 1, eager());
    net.faults.loss = 0.1;
    net.full_mesh();
    type_for(&mut net, &[0, 1, 2], 2, 600);
    assert!(net.run_until_converged(secs(60)).is_some());
    net.run_for(secs(30));
    assert_same_as_oracle(&net);
    let kept = net.oracle.stats();
    assert!(kept.tombstones > 200, "the workload deletes: {kept:?}");
    for n in &net.nodes {
        let s = n.doc().stats();
        assert!(n.stats().collections > 0, "{:?}", n.stats());
        assert_eq!(
            s.tombstones as u64 + s.tombstones_reclaimed,
            kept.tombstones as u64
        );
        // All is stable: only position markers are left, at most one per
        // visible run (plus one at the start), and no history.
        assert!(2 * s.tombstones <= s.runs + 1, "{s:?}");
        assert_eq!(s.log_entries, 0, "{s:?}");
        assert_eq!(n.doc().collected(), n.doc().version_ref());
    }
    // Editing goes on after cleanup, concurrently, with loss.
    type_for(&mut net, &[0, 1, 2], 3, 300);
    assert!(net.run_until_converged(secs(60)).is_some());
    assert_same_as_oracle(&net);
}

#[test]
fn a_newcomer_joins_after_cleanup_with_a_snapshot_and_keeps_what_it_typed() {
    let mut net = Net::new(4, 4, eager());
    // Node 3 is not in the group yet: the others never heard of it.
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                net.add_peer(i, j);
            }
        }
    }
    type_for(&mut net, &[0, 1, 2], 5, 400);
    assert!(net.run_until_converged_among(&[0, 1, 2], secs(60)));
    net.run_for(secs(30));
    assert!(net.nodes[0].doc().stats().tombstones_reclaimed > 0);
    // The newcomer typed before joining.
    net.insert(3, 0, "typed before joining. ");
    net.add_peer(3, 0);
    assert!(net.run_until_converged(secs(120)).is_some());
    assert!(net.text(0).contains("typed before joining. "));
    assert_eq!(net.nodes[3].stats().snapshots_received, 1);
    // Its ops were made without the cleaned-up history: it re-made them as
    // a new replica, and nobody took the old ones.
    assert_eq!(net.nodes[3].stats().rejoins, 1);
    assert!(net.events[3]
        .iter()
        .any(|e| matches!(e, Event::Rejoined { .. })));
    assert_eq!(net.text(0).matches("typed before joining. ").count(), 1);
    // And the group goes on together.
    type_for(&mut net, &[0, 1, 2, 3], 6, 200);
    assert!(net.run_until_converged(secs(60)).is_some());
}

#[test]
fn a_member_back_after_the_horizon_rejoins_and_its_offline_edits_survive() {
    let config = Config {
        member_horizon: secs(20),
        ..eager()
    };
    let mut net = Net::new(3, 7, config);
    net.full_mesh();
    type_for(&mut net, &[0, 1, 2], 8, 200);
    assert!(net.run_until_converged(secs(60)).is_some());
    // Node 2 leaves and types alone; the others go on, declare it gone and
    // clean up without it.
    net.set_online(2, false);
    net.insert(2, 0, "offline edit. ");
    type_for(&mut net, &[0, 1], 9, 400);
    net.run_for(secs(40));
    for i in 0..2 {
        assert_eq!(
            net.nodes[i].stats().members_gone,
            1,
            "{:?}",
            net.nodes[i].stats()
        );
        assert!(net.nodes[i].doc().stats().tombstones_reclaimed > 0);
    }
    let old = net.nodes[2].replica();
    net.set_online(2, true);
    assert!(net.run_until_converged(secs(120)).is_some());
    assert_ne!(
        net.nodes[2].replica(),
        old,
        "node 2 rejoined as a new replica"
    );
    assert_eq!(net.nodes[2].stats().rejoins, 1);
    assert_eq!(net.text(0).matches("offline edit. ").count(), 1);
    // Old ops of the gone replica were refused, not applied.
    assert!(net.nodes[0].doc().version_ref().get(old) <= net.nodes[1].doc().version_ref().get(old));
    type_for(&mut net, &[0, 1, 2], 10, 150);
    assert!(net.run_until_converged(secs(60)).is_some());
}

#[test]
fn a_snapshot_of_a_cleaned_up_document_is_smaller_and_loads() {
    let mut net = Net::new(2, 11, eager());
    net.full_mesh();
    type_for(&mut net, &[0, 1], 12, 800);
    assert!(net.run_until_converged(secs(60)).is_some());
    let before = net.nodes[0].doc().clone();
    let full = net.oracle.encode_snapshot().len();
    net.run_for(secs(30));
    let doc = net.nodes[0].doc();
    assert!(doc.stats().tombstones_reclaimed > 0);
    let bytes = doc.encode_snapshot();
    assert!(bytes.len() < full, "{} vs {full}", bytes.len());
    let loaded = Doc::decode_history(ReplicaId(5), &bytes).unwrap();
    assert_eq!(loaded.text(), before.text());
}

#[test]
fn a_newcomer_sends_nothing_until_it_joins_so_members_agree_even_if_only_some_cleaned_up() {
    // Node 0 cleans up eagerly, node 1 never: a newcomer's ops made before
    // it had the group's history would be refused by one and taken by the
    // other. A joining newcomer sends none of them: it asks for a snapshot
    // and re-makes them as a new replica.
    let lazy = Config {
        collect_min_runs: usize::MAX,
        ..eager()
    };
    let newcomer = Config {
        joining: true,
        ..eager()
    };
    let docs = (1..=3).map(|r| Doc::new(ReplicaId(r))).collect();
    let mut net = Net::with_configs(docs, 21, vec![eager(), lazy, newcomer]);
    net.add_peer(0, 1);
    net.add_peer(1, 0);
    type_for(&mut net, &[0, 1], 22, 400);
    assert!(net.run_until_converged_among(&[0, 1], secs(60)));
    net.run_for(secs(30));
    assert!(net.nodes[0].doc().stats().tombstones_reclaimed > 0);
    assert_eq!(net.nodes[1].doc().stats().tombstones_reclaimed, 0);
    net.insert(2, 0, "typed before joining. ");
    assert!(!net.nodes[2].is_joined());
    // It joins through the member that did not clean up.
    net.add_peer(2, 1);
    assert!(net.run_until_converged(secs(120)).is_some());
    assert!(net.nodes[2].is_joined());
    assert_eq!(net.nodes[2].stats().rejoins, 1);
    for i in 0..3 {
        assert_eq!(
            net.text(i).matches("typed before joining. ").count(),
            1,
            "node {i}"
        );
        assert_eq!(
            net.nodes[i].stats().drops.bad_op,
            0,
            "node {i} refused nothing"
        );
    }
    type_for(&mut net, &[0, 1, 2], 23, 200);
    assert!(net.run_until_converged(secs(60)).is_some());
}

#[test]
fn two_newcomers_that_meet_wait_for_a_member_and_then_join_once() {
    // A newcomer never founds a group when asked: another founder may
    // exist that neither has met, and two founders cannot clean up soundly.
    let newcomer = Config {
        joining: true,
        ..eager()
    };
    let docs = (0..3).map(|i| Doc::new(ReplicaId(i + 1))).collect();
    let mut net = Net::with_configs(docs, 31, vec![newcomer.clone(), newcomer, eager()]);
    net.insert(0, 0, "from zero. ");
    net.insert(1, 0, "from one. ");
    net.insert(2, 0, "from the founder. ");
    net.add_peer(0, 1);
    net.add_peer(1, 0);
    net.run_for(secs(30));
    assert!(!net.nodes[0].is_joined() && !net.nodes[1].is_joined());
    assert!(!net.text(0).contains("from one. "), "{}", net.text(0));
    // A member of the group arrives: both join it, and each text survives
    // exactly once, re-made by its author as a new replica.
    net.full_mesh();
    assert!(net.run_until_converged(secs(120)).is_some());
    assert!(net.nodes.iter().all(|n| n.is_joined()));
    let text = net.text(0);
    for part in ["from zero. ", "from one. ", "from the founder. "] {
        assert_eq!(text.matches(part).count(), 1, "{text}");
    }
    assert_eq!(net.nodes[0].stats().rejoins, 1);
    assert_eq!(net.nodes[1].stats().rejoins, 1);
    assert_eq!(net.nodes[2].stats().rejoins, 0);
}
