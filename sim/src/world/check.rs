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

/// The fresh replicas the safety checks compare the nodes with.
///
/// Replaying every node's ops into a shadow of its own would apply each op
/// once per node. Instead `base` holds the ops that every replica has and
/// keeps through any crash (those in every store's synced version), and a
/// check brings a copy of it up to each node's version in turn: a copy
/// goes from node to node while their versions grow, so each check applies
/// little beyond the ops made since the last one.
pub(super) struct Shadows {
    base: Doc,
}

impl Shadows {
    pub(super) fn new() -> Shadows {
        Shadows {
            base: Doc::new(SHADOW_REPLICA),
        }
    }
}

/// The replica id the shadows write as (they never edit).
const SHADOW_REPLICA: ReplicaId = ReplicaId(u64::MAX - 1);

impl<N: SimNode> Simulation<N> {
    /// Invariants checked throughout the run (on top of the cheap ones in
    /// `drain`: no replica has an op nobody made, a restarted replica has all
    /// of its own ops):
    /// - no op is lost: every op made is held by some live replica or some store;
    /// - every op a replica holds has the content its author gave it (each is
    ///   vouched for by the reference once per node life);
    /// - a replica's text is exactly what a fresh replica makes of its ops
    ///   (see [`Shadows`]), checked for every live replica at every periodic
    ///   check and at healing. (At the end every text is compared with the
    ///   reference too.)
    pub(super) fn check_safety(&mut self, replay: Replay) {
        self.counters.checks += 1;
        let mut union = VersionVector::new();
        for r in &self.replicas {
            if let Some(disk) = r.disk() {
                union.merge(disk.synced_version());
            }
            if let Some(node) = r.node() {
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
        if let Err(why) = self.vouch_for_ops() {
            return self.fail(why);
        }
        if let Err(why) = self.advance_base() {
            return self.fail(why);
        }
        if let Err(why) = self.compare_texts() {
            self.fail(why);
        }
    }

    /// Checks each op the live nodes gained since their last check against
    /// the reference: it was made, with this content.
    fn vouch_for_ops(&mut self) -> Result<(), String> {
        let oracle = &mut self.oracle.doc;
        for (i, r) in self.replicas.iter_mut().enumerate() {
            let Some(node) = r.durable_node() else {
                continue;
            };
            // (Ops a node has cleaned up are no longer in its log: those it
            // has are vouched for; that it made none up is checked by version.)
            if !oracle.version_ref().dominates(node.doc().version_ref()) {
                return Err(format!("node {i} holds ops that nobody made"));
            }
            for op in node.doc().ops_since(&r.vouched) {
                if !oracle.version_ref().contains_span(&op.span()) {
                    return Err(format!("node {i} holds op {:?} that nobody made", op.id));
                }
                // The reference knows the op: applying it again only checks the content.
                if let Err(e) = oracle.apply(op) {
                    return Err(format!("node {i} holds an op with other content: {e}"));
                }
            }
            r.vouched = node.doc().version();
        }
        Ok(())
    }

    /// Brings the base up to the ops every store has synced (so every
    /// replica has them now and after any restart), taken from the
    /// reference's log in its (causal) order: the nodes may have cleaned
    /// them up, and the reference vouched for their content.
    fn advance_base(&mut self) -> Result<(), String> {
        let mut stores = (self.replicas.iter())
            .filter_map(|r| r.disk())
            .map(|d| d.synced_version());
        let Some(first) = stores.next() else {
            return Ok(());
        };
        let mut common = first.clone();
        for synced in stores {
            let entries: Vec<(ReplicaId, u64)> = common.iter().collect();
            for (replica, n) in entries {
                common.set(replica, n.min(synced.get(replica)));
            }
        }
        let base = &mut self.shadows.base;
        for op in ops_between(&self.oracle.doc, base.version_ref(), &common) {
            if let Err(e) = base.apply(op) {
                return Err(format!("the ops every store has do not replay: {e}"));
            }
        }
        Ok(())
    }

    /// Compares each live node's text with a fresh replica's given its ops:
    /// a copy of the base (or, for a node that lacks some of the base, a
    /// new replica), brought up to the node's version with those ops as the
    /// reference has them (vouched for above), in its log order: a node may
    /// have cleaned up part of its history, never of its text. Nodes go by growing version, so that one copy
    /// serves a run of nodes whose versions include each other's.
    fn compare_texts(&self) -> Result<(), String> {
        let base = &self.shadows.base;
        let mut live: Vec<(u64, usize, &Doc)> = (self.replicas.iter().enumerate())
            .filter_map(|(i, r)| {
                let doc = r.durable_node()?.doc();
                Some((doc.version_ref().total(), i, doc))
            })
            .collect();
        live.sort_by_key(|&(total, i, _)| (total, i));
        let mut copy: Option<Doc> = None;
        for (_, i, doc) in live {
            let version = doc.version_ref();
            let fresh = if version == base.version_ref() {
                base
            } else {
                let fits = |d: &Doc| version.dominates(d.version_ref());
                if !copy.as_ref().is_some_and(fits) {
                    copy = Some(if fits(base) {
                        base.clone()
                    } else {
                        Doc::new(SHADOW_REPLICA)
                    });
                }
                let fresh = copy.as_mut().expect("set above");
                for op in ops_between(&self.oracle.doc, fresh.version_ref(), version) {
                    if let Err(e) = fresh.apply(op) {
                        return Err(format!("node {i}'s own ops do not replay: {e}"));
                    }
                }
                &*fresh
            };
            if fresh.version_ref() != version || fresh.text() != doc.text() {
                return Err(format!("node {i}'s text is not what its ops say"));
            }
        }
        Ok(())
    }

    /// In the healed phase: once every replica has every op, the final checks.
    pub(super) fn check_converged(&mut self, i: usize) {
        let target = self.oracle.doc.version_ref();
        let has_all = |r: &Replica<N>| {
            r.node()
                .is_some_and(|n| n.doc().version_ref() == target && n.doc().pending_len() == 0)
        };
        if !has_all(&self.replicas[i]) {
            return;
        }
        // Replicas before `converged_prefix` had every op at an earlier
        // check: only the first that did not is looked at again (a pass
        // over hundreds of replicas after every event cost more than the
        // event). The whole pass below decides.
        let mut at = self.converged_prefix;
        while at < self.replicas.len() && has_all(&self.replicas[at]) {
            at += 1;
        }
        self.converged_prefix = at;
        if at < self.replicas.len() {
            return;
        }
        if !self.replicas.iter().all(has_all) {
            self.converged_prefix = 0;
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
            let text = r.node().map(|n| n.doc().text()).unwrap_or_default();
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
        if self.cfg.settle && self.cfg.cleanup_min_runs > 0 && N::cleans_up() {
            self.phase = Phase::Settling;
            self.check_settled();
        } else {
            self.phase = Phase::Done;
        }
    }

    /// While settling: once every node has cleaned up all its history, what
    /// it holds must be bounded by its text (no history, and at most one
    /// one-char marker per visible run and one at the start), and its text
    /// unchanged.
    pub(super) fn check_settled(&mut self) {
        let target = self.oracle.doc.version_ref();
        let all_clean = self.replicas.iter().all(|r| {
            r.node()
                .is_some_and(|n| n.doc().collected() == target && n.doc().log_entries() == 0)
        });
        if !all_clean {
            return;
        }
        let expected = self.oracle.doc.text();
        for (i, r) in self.replicas.iter().enumerate() {
            let doc = r.node().expect("all live").doc();
            let s = doc.stats();
            if 2 * s.tombstones > s.runs + 1 {
                let why = format!(
                    "node {i} cleaned up everything but holds {} tombstones in {} runs",
                    s.tombstones, s.runs
                );
                return self.fail(why);
            }
            if doc.text() != expected {
                return self.fail(format!("node {i}'s text changed while cleaning up"));
            }
        }
        self.settled_at = Some(self.now());
        self.trace_line(|| "settled: all history cleaned up".into());
        self.phase = Phase::Done;
    }

    pub(super) fn why_not_settled(&self) -> String {
        let target = self.oracle.doc.version_ref().total();
        self.each_node(|doc| {
            format!(
                "cleaned up {}/{target} ({} log runs)",
                doc.collected().total(),
                doc.log_entries()
            )
        })
    }

    pub(super) fn why_not_converged(&self) -> String {
        let made = self.oracle.doc.version_ref();
        let target = made.total();
        self.each_node(|doc| {
            // Which authors it lacks ops of: replica (low bits) have/made.
            let short: Vec<String> = made
                .iter()
                .filter(|&(r, n)| doc.version_ref().get(r) < n)
                .map(|(r, n)| format!("{:04x}:{}/{n}", r.0 & 0xffff, doc.version_ref().get(r)))
                .collect();
            format!(
                "has {}/{target} op ids ({} held; short of {})",
                doc.version_ref().total(),
                doc.pending_len(),
                short.join(" ")
            )
        })
    }

    /// One line: `describe` of each live node's document, or "down".
    fn each_node(&self, describe: impl Fn(&Doc) -> String) -> String {
        self.replicas
            .iter()
            .enumerate()
            .map(|(i, r)| match r.node() {
                None => format!("n{i} down"),
                Some(n) => format!("n{i} {}", describe(n.doc())),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The ops of `source` (a replica holding every op, in causal order) that
/// `from` lacks and `upto` has, cut at `upto`'s counters. `upto` is a
/// replica's version, so causally closed: the result applies in order.
fn ops_between(source: &Doc, from: &VersionVector, upto: &VersionVector) -> Vec<rumor::Op> {
    source
        .ops_since(from)
        .into_iter()
        .filter_map(|op| {
            let span = op.span();
            let end = upto.get(span.start.replica).min(span.end_counter());
            if end <= span.start.counter {
                None
            } else if end < span.end_counter() {
                Some(op.slice(0, end - span.start.counter))
            } else {
                Some(op)
            }
        })
        .collect()
}
