//! Property tests of tombstone cleanup (`Doc::collect`, see `src/doc/collect.rs`).
//!
//! A closed group of replicas edits concurrently; ops travel between them in
//! random order and amounts; a full delivery also carries the sender's version
//! (its report), and reports also travel alone (their ops lost). Every replica collects now and then up to the frontier the
//! stability rule allows: the least of the versions every member reported, once
//! it has every op each member made before its report. A twin of every replica
//! gets exactly the same ops and never collects. Checked throughout: cleanup
//! never changes a replica's text, every op is accepted (none needs what was
//! cleaned up), a collected replica serves every member; at the end all
//! converge, tombstones were reclaimed, and a snapshot of each collected
//! replica loads to the same text and keeps accepting ops.

use proptest::prelude::*;
use rumor::{Doc, ReplicaId, VersionVector};

#[derive(Debug, Clone)]
enum Action {
    Insert {
        at: usize,
        pos: u16,
        text: String,
    },
    Delete {
        at: usize,
        pos: u16,
        len: u8,
    },
    /// `to` gets every op `from` has beyond it (or only a prefix: `part`).
    Deliver {
        from: usize,
        to: usize,
        part: u8,
    },
    Collect {
        at: usize,
    },
    /// `to` hears `from`'s version without its ops (a digest whose ops were lost).
    Report {
        from: usize,
        to: usize,
    },
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    let text = proptest::collection::vec(
        prop_oneof![6 => proptest::char::range('a', 'e'), 1 => Just('é'), 1 => Just('\n')],
        1..6,
    )
    .prop_map(|c| c.into_iter().collect::<String>());
    prop_oneof![
        4 => (0..n, any::<u16>(), text).prop_map(|(at, pos, text)| Action::Insert { at, pos, text }),
        3 => (0..n, any::<u16>(), 1..8u8).prop_map(|(at, pos, len)| Action::Delete { at, pos, len }),
        4 => (0..n, 0..n, any::<u8>()).prop_map(|(from, to, part)| Action::Deliver { from, to, part }),
        1 => (0..n).prop_map(|at| Action::Collect { at }),
        1 => (0..n, 0..n).prop_map(|(from, to)| Action::Report { from, to }),
    ]
}

struct Replica {
    doc: Doc,
    twin: Doc,
    /// The latest version each member reported to this replica.
    reports: Vec<VersionVector>,
}

/// The frontier replica `at` may collect up to, if any (see the module doc).
fn stable_frontier(group: &[Replica], at: usize) -> Option<VersionVector> {
    let me = &group[at];
    let mut frontier: Option<VersionVector> = None;
    for (m, report) in me.reports.iter().enumerate() {
        let report = if m == at {
            me.doc.version()
        } else {
            report.clone()
        };
        let author = ReplicaId(m as u64 + 1);
        if me.doc.version_ref().get(author) < report.get(author) {
            return None;
        }
        frontier = Some(match frontier {
            None => report,
            Some(f) => f.iter().map(|(r, n)| (r, n.min(report.get(r)))).collect(),
        });
    }
    frontier
}

fn run(n: usize, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut group: Vec<Replica> = (0..n)
        .map(|i| Replica {
            doc: Doc::new(ReplicaId(i as u64 + 1)),
            twin: Doc::new(ReplicaId(i as u64 + 1)),
            reports: vec![VersionVector::new(); n],
        })
        .collect();
    let deliver = |group: &mut Vec<Replica>,
                   from: usize,
                   to: usize,
                   part: Option<u8>|
     -> Result<(), TestCaseError> {
        if from == to {
            return Ok(());
        }
        let have = group[to].doc.version();
        prop_assert!(group[from].doc.can_serve(&have), "a member must be served");
        let mut ops = group[from].doc.ops_since(&have);
        if let Some(p) = part {
            ops.truncate(p as usize % (ops.len() + 1));
        }
        let report = group[from].doc.version();
        let r = &mut group[to];
        for op in ops {
            r.twin.apply(op.clone()).unwrap();
            if let Err(e) = r.doc.apply(op.clone()) {
                return Err(TestCaseError::fail(format!(
                    "op {op:?} refused after cleanup: {e}"
                )));
            }
        }
        if part.is_none() {
            r.reports[from] = report;
        }
        prop_assert_eq!(r.doc.text(), r.twin.text());
        Ok(())
    };
    for a in actions {
        match a {
            Action::Insert { at, pos, text } => {
                let r = &mut group[*at];
                let pos = *pos as usize % (r.doc.len() + 1);
                r.doc.insert(pos, text).unwrap();
                r.twin.insert(pos, text).unwrap();
                // The same ids both sides: the twin mirrors the replica.
                prop_assert_eq!(r.doc.version(), r.twin.version());
            }
            Action::Delete { at, pos, len } => {
                let r = &mut group[*at];
                if r.doc.is_empty() {
                    continue;
                }
                let pos = *pos as usize % r.doc.len();
                let len = (*len as usize).min(r.doc.len() - pos);
                r.doc.delete(pos, len).unwrap();
                r.twin.delete(pos, len).unwrap();
            }
            Action::Deliver { from, to, part } => {
                let part = (part % 4 == 0).then_some(*part / 4);
                deliver(&mut group, *from, *to, part)?;
            }
            Action::Report { from, to } => {
                let report = group[*from].doc.version();
                group[*to].reports[*from] = report;
            }
            Action::Collect { at } => {
                if let Some(f) = stable_frontier(&group, *at) {
                    let r = &mut group[*at];
                    r.doc.collect(&f);
                    prop_assert_eq!(r.doc.text(), r.twin.text());
                }
            }
        }
    }
    // Heal: everyone gets everything (three rounds: the last carries
    // reports of complete versions), collecting in between.
    for _ in 0..3 {
        for from in 0..n {
            for to in 0..n {
                deliver(&mut group, from, to, None)?;
            }
        }
        for at in 0..n {
            if let Some(f) = stable_frontier(&group, at) {
                group[at].doc.collect(&f);
            }
        }
    }
    let text = group[0].twin.text();
    for r in &group {
        prop_assert_eq!(&r.doc.text(), &text);
        prop_assert_eq!(&r.twin.text(), &text);
        // Everyone has everything and said so: nothing is left to hold but
        // the markers.
        let stats = r.doc.stats();
        let twin = r.twin.stats();
        prop_assert_eq!(
            stats.tombstones as u64 + stats.tombstones_reclaimed,
            twin.tombstones as u64
        );
        // All history is stable: the log is empty and only markers remain,
        // one per run of tombstones that follows a visible run (or starts
        // the text).
        prop_assert_eq!(r.doc.collected(), r.doc.version_ref());
        prop_assert_eq!(stats.log_entries, 0);
        prop_assert!(2 * stats.tombstones <= stats.runs + 1, "{:?}", stats);
        // A newcomer's snapshot of a collected replica.
        let mut loaded = Doc::decode_history(ReplicaId(99), &r.doc.encode_snapshot())
            .map_err(|e| TestCaseError::fail(format!("own snapshot refused: {e}")))?;
        prop_assert_eq!(loaded.text(), text.clone());
        prop_assert_eq!(loaded.stats().tombstones, stats.tombstones);
        loaded.insert(loaded.len() / 2, "new").unwrap();
        let op = loaded.ops_since(r.doc.version_ref());
        let mut twin = r.twin.clone();
        let mut doc = r.doc.clone();
        for op in op {
            twin.apply(op.clone()).unwrap();
            doc.apply(op).unwrap();
        }
        prop_assert_eq!(doc.text(), twin.text());
        prop_assert_eq!(doc.text(), loaded.text());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn cleanup_never_changes_text_or_convergence(
        (n, actions) in (2..=4usize).prop_flat_map(|n| (Just(n), proptest::collection::vec(action(n), 1..160)))
    ) {
        run(n, &actions)?;
    }
}
