//! Real editing traces (`../shared/traces/`) replayed on `Doc`.
//!
//! - Sequential traces: replayed as local edits, the text must end at the
//!   trace's `endContent`; the replica's ops applied one by one to a fresh
//!   replica must give the same text.
//! - Concurrent traces: one replica per agent, ops exchanged along the
//!   trace's parents; every replica must converge to `endContent`.
//! - Both: a snapshot (`encode_snapshot`, read by `decode_history`) loads,
//!   without replay, to the same replica.

mod common;

use common::traces::{self, ConcurrentTrace, Patch, SequentialTrace};
use rumor::{Doc, ReplicaId, VersionVector};

/// Applies one trace patch as local edits (delete, then insert).
fn apply_patch(doc: &mut Doc, patch: &Patch, context: &str) {
    patch
        .apply_to(doc)
        .unwrap_or_else(|e| panic!("{context}: {patch:?} failed: {e}"));
}

/// Checks that the loader reads what the files say, independently of `Doc`:
/// replaying every sequential trace on a plain rope gives its `endContent`.
#[test]
fn loader_reads_sequential_traces() {
    let paths = traces::sequential_paths();
    // 8 originals + 4 ASCII variants today; fewer means files went missing.
    assert!(
        paths.len() >= 12,
        "expected 12 sequential traces, found {paths:?}"
    );
    for path in paths {
        let trace = traces::load_sequential(&path);
        assert!(!trace.txns.is_empty(), "{}: no txns", trace.name);
        let mut rope = jumprope::JumpRope::new();
        for patch in trace.patches() {
            assert!(
                patch.pos + patch.del <= rope.len_chars(),
                "{}: patch out of range",
                trace.name
            );
            rope.replace(patch.pos..patch.pos + patch.del, &patch.ins);
        }
        assert!(
            rope.to_string() == trace.end_content,
            "{}: rope replay differs from endContent",
            trace.name
        );
    }
}

#[test]
fn loader_reads_concurrent_traces() {
    let names: Vec<String> = traces::concurrent_paths()
        .iter()
        .map(|p| traces::trace_name(p))
        .collect();
    assert_eq!(names, ["clownschool", "friendsforever"]);
    let trace = traces::concurrent("clownschool");
    assert_eq!(trace.num_agents, 3);
    assert_eq!(trace.txns.len(), 23_136);
    assert!(trace.txns[0].parents.is_empty());
    assert!(trace.txns.iter().skip(1).all(|t| !t.parents.is_empty()));
}

fn check_sequential(trace: &SequentialTrace) {
    let name = &trace.name;
    let mut doc = Doc::new(ReplicaId(1));
    for (i, txn) in trace.txns.iter().enumerate() {
        for patch in txn {
            apply_patch(&mut doc, patch, &format!("{name} txn {i}"));
        }
    }
    assert_eq!(
        doc.len(),
        trace.end_content.chars().count(),
        "{name}: length"
    );
    assert!(
        doc.text() == trace.end_content,
        "{name}: local replay differs from endContent"
    );

    let ops = doc.ops_since(&VersionVector::new());
    let mut remote = Doc::new(ReplicaId(2));
    for (i, op) in ops.into_iter().enumerate() {
        let applied = remote
            .apply(op)
            .unwrap_or_else(|e| panic!("{name}: op {i} refused: {e}"));
        assert!(
            !applied.held,
            "{name}: op {i} held, though ops_since is in causal order"
        );
    }
    assert_eq!(remote.pending_len(), 0, "{name}: ops left pending");
    assert_eq!(remote.version(), doc.version(), "{name}: remote version");
    assert!(
        remote.text() == trace.end_content,
        "{name}: remote replay differs from endContent"
    );
    check_snapshot(&doc, name);
}

/// A snapshot of `doc` loads, without replay, to the same text and version,
/// and the loaded replica serves the same history.
fn check_snapshot(doc: &Doc, name: &str) {
    let loaded = Doc::decode_history(ReplicaId(9), &doc.encode_snapshot())
        .unwrap_or_else(|e| panic!("{name}: snapshot refused: {e}"));
    assert_eq!(loaded.version(), doc.version(), "{name}: snapshot version");
    assert!(loaded.text() == doc.text(), "{name}: snapshot text");
    assert_eq!(
        loaded.stats().runs,
        doc.stats().runs,
        "{name}: snapshot runs"
    );
    assert!(
        loaded.ops_since(&VersionVector::new()) == doc.ops_since(&VersionVector::new()),
        "{name}: snapshot history"
    );
}

/// One test per trace, so a failure names the trace and they run in parallel.
macro_rules! sequential_tests {
    ($($test:ident => $file:expr,)*) => {$(
        #[test]
        fn $test() {
            check_sequential(&traces::sequential($file));
        }
    )*};
}

sequential_tests! {
    sequential_automerge_paper => "automerge-paper",
    sequential_seph_blog1 => "seph-blog1",
    sequential_rustcode => "rustcode",
    sequential_sveltecomponent => "sveltecomponent",
    sequential_friendsforever_flat => "friendsforever_flat",
    sequential_clownschool_flat => "clownschool_flat",
    sequential_json_crdt_patch => "json-crdt-patch",
    sequential_json_crdt_blog_post => "json-crdt-blog-post",
    sequential_ascii_seph_blog1 => "ascii_only/seph-blog1",
    sequential_ascii_rustcode => "ascii_only/rustcode",
    sequential_ascii_json_crdt_patch => "ascii_only/json-crdt-patch",
    sequential_ascii_json_crdt_blog_post => "ascii_only/json-crdt-blog-post",
}

/// Every file in sequential/ must have a test above (so a new trace is not
/// silently left out).
#[test]
fn every_sequential_trace_has_a_test() {
    let listed = [
        "automerge-paper",
        "seph-blog1",
        "rustcode",
        "sveltecomponent",
        "friendsforever_flat",
        "clownschool_flat",
        "json-crdt-patch",
        "json-crdt-blog-post",
        "ascii_only/seph-blog1",
        "ascii_only/rustcode",
        "ascii_only/json-crdt-patch",
        "ascii_only/json-crdt-blog-post",
    ];
    for path in traces::sequential_paths() {
        let name = traces::trace_name(&path);
        assert!(
            listed.contains(&name.as_str()),
            "trace {name} has no test in tests/traces.rs"
        );
    }
}

/// Brings `replica` to exactly `target` with ops from `master`: everything
/// the replica lacks, cut (per replica counter, with `Op::slice`) so that
/// nothing beyond `target` is applied. `target` is a version of the trace,
/// so it is causally closed and the kept ops apply without waiting.
fn sync_to(replica: &mut Doc, master: &Doc, target: &VersionVector, context: &str) {
    for op in master.ops_since(&replica.version()) {
        let span = op.span();
        let wanted = target.get(span.start.replica);
        if span.start.counter >= wanted {
            continue;
        }
        let op = if span.end_counter() > wanted {
            op.slice(0, wanted - span.start.counter)
        } else {
            op
        };
        let applied = replica
            .apply(op)
            .unwrap_or_else(|e| panic!("{context}: sync op refused: {e}"));
        assert!(!applied.held, "{context}: sync op held");
    }
    assert_eq!(
        &replica.version(),
        target,
        "{context}: replica did not reach the txn's parents"
    );
}

fn check_concurrent(trace: &ConcurrentTrace) {
    let name = &trace.name;
    // The master receives every op; replicas fetch from it what they lack.
    let mut master = Doc::new(ReplicaId(0));
    let mut replicas: Vec<Doc> = (0..trace.num_agents)
        .map(|a| Doc::new(ReplicaId(a as u64 + 1)))
        .collect();
    // The version right after each txn.
    let mut versions: Vec<VersionVector> = Vec::with_capacity(trace.txns.len());

    for (i, txn) in trace.txns.iter().enumerate() {
        let context = format!("{name} txn {i} (agent {})", txn.agent);
        let mut target = VersionVector::new();
        for &p in &txn.parents {
            target.merge(&versions[p]);
        }
        let replica = &mut replicas[txn.agent];
        let before = replica.version();
        assert!(
            target.dominates(&before),
            "{context}: the agent's replica is ahead of the txn's parents (trace not per-agent ordered?)"
        );
        if before != target {
            sync_to(replica, &master, &target, &context);
        }
        for patch in &txn.patches {
            apply_patch(replica, patch, &context);
        }
        for op in replica.ops_since(&target) {
            master
                .apply(op)
                .unwrap_or_else(|e| panic!("{context}: master refused an op: {e}"));
        }
        versions.push(replica.version());
    }

    assert_eq!(master.pending_len(), 0, "{name}: master has ops pending");
    assert!(
        master.text() == trace.end_content,
        "{name}: master differs from endContent"
    );
    check_snapshot(&master, name);
    for (agent, replica) in replicas.iter_mut().enumerate() {
        for op in master.ops_since(&replica.version()) {
            replica
                .apply(op)
                .unwrap_or_else(|e| panic!("{name}: agent {agent} refused an op at catch-up: {e}"));
        }
        assert_eq!(
            replica.version(),
            master.version(),
            "{name}: agent {agent} version"
        );
        assert!(
            replica.text() == trace.end_content,
            "{name}: agent {agent} differs from endContent"
        );
    }
}

#[test]
fn concurrent_friendsforever() {
    check_concurrent(&traces::concurrent("friendsforever"));
}

#[test]
fn concurrent_clownschool() {
    check_concurrent(&traces::concurrent("clownschool"));
}
