//! The checker: safety invariants during the run, convergence at the end.

use std::collections::BTreeMap;

use rumor::{Doc, ReplicaId, VersionVector};

use super::{Micros, Phase, Replica, SimNode, Simulation};

/// The reference: a fresh replica that applies every op ever made, as it is made.
pub(super) struct Oracle {
    pub(super) doc: Doc,
    /// Per author: (end counter, creation time) of each op, in counter order.
    pub(super) made: BTreeMap<ReplicaId, Vec<(u64, Micros)>>,
}

/// Whether a safety check replays the replicas' new ops into their shadows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Replay {
    None,
    All,
}

impl<N: SimNode> Simulation<N> {
    /// Invariants checked throughout the run (on top of the cheap ones in
    /// `drain`: no replica has an op nobody made, a restarted replica has all
    /// of its own ops):
    /// - no op is lost: every op made is held by some live replica or some store;
    /// - a replica's text is exactly what its own ops give a fresh replica, and
    ///   its ops have the content their authors gave them. Each replica has a
    ///   shadow replica that replays only the ops that came since the last
    ///   check, so the periodic checks and the one at healing check every
    ///   replica. (At the end every text is compared with the reference
    ///   too.)
    pub(super) fn check_safety(&mut self, replay: Replay) {
        self.counters.checks += 1;
        let mut union = VersionVector::new();
        for r in &self.replicas {
            union.merge(r.store.synced_version());
            if let Some(node) = r.node.as_ref() {
                union.merge(node.doc().version_ref());
            }
        }
        let lost = self.oracle.doc.version_ref().missing_from(&union);
        if !lost.is_empty() {
            return self.fail(format!("ops lost: no replica or store has {lost:?}"));
        }
        if replay == Replay::None {
            return;
        }
        for i in 0..self.cfg.nodes {
            let replica = &mut self.replicas[i];
            let Some(node) = replica.node.as_ref() else {
                continue;
            };
            let doc = node.doc();
            // A shadow holds this node's ops up to its last check, so a check
            // replays only what came since: each op is replayed once per
            // node life (a restart drops the shadow, as the log is rebuilt).
            // That is as strong as a rebuild from nothing, because a node's
            // ops never change once applied (the reference vouches for each
            // op's content as it enters the shadow), and the end compares
            // every text with the reference anyway.
            let fresh = replica
                .shadow
                .get_or_insert_with(|| Doc::new(ReplicaId(u64::MAX - 1)));
            for op in doc.ops_since(fresh.version_ref()) {
                if !self.oracle.doc.version_ref().contains_span(&op.span()) {
                    let why = format!("node {i} holds op {:?} that nobody made", op.id);
                    return self.fail(why);
                }
                // The reference knows the op: applying it again only checks the content.
                if let Err(e) = self.oracle.doc.apply(op.clone()) {
                    let why = format!("node {i} holds op {:?} with other content: {e}", op.id);
                    return self.fail(why);
                }
                if let Err(e) = fresh.apply(op) {
                    let why = format!("node {i}'s own ops do not replay: {e}");
                    return self.fail(why);
                }
            }
            if fresh.version_ref() != doc.version_ref() || fresh.text() != doc.text() {
                let why = format!("node {i}'s text is not what its ops say");
                return self.fail(why);
            }
        }
    }

    /// In the healed phase: once every replica has every op, the final checks.
    pub(super) fn check_converged(&mut self, i: usize) {
        let target = self.oracle.doc.version_ref();
        let has_all = |r: &Replica<N>| {
            r.node
                .as_ref()
                .is_some_and(|n| n.doc().version_ref() == target && n.doc().pending_len() == 0)
        };
        if !has_all(&self.replicas[i]) || !self.replicas.iter().all(has_all) {
            return;
        }
        self.converged_at = Some(self.now());
        self.check_safety(Replay::None);
        if self.phase == Phase::Done {
            return;
        }
        // The oracle is a fresh replica that applied every op ever made, as it was made.
        let expected = self.oracle.doc.text();
        for (i, r) in self.replicas.iter().enumerate() {
            let text = r.node.as_ref().map(|n| n.doc().text()).unwrap_or_default();
            if text != expected {
                let why = format!(
                    "node {i} has every op but its text differs from the reference ({} vs {} chars)",
                    text.chars().count(),
                    expected.chars().count()
                );
                return self.fail(why);
            }
        }
        self.trace_line(|| "converged".into());
        self.phase = Phase::Done;
    }

    pub(super) fn why_not_converged(&self) -> String {
        let target = self.oracle.doc.version_ref().total();
        self.replicas
            .iter()
            .enumerate()
            .map(|(i, r)| match &r.node {
                None => format!("n{i} down"),
                Some(n) => format!(
                    "n{i} has {}/{target} op ids ({} held)",
                    n.doc().version_ref().total(),
                    n.doc().pending_len()
                ),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
