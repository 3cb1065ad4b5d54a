//! Which history every member has, who is still a member, and when the
//! document may clean up (see `doc::collect` for what cleanup does and the
//! promise it needs: every op applied from now on was made by a replica
//! that had all of the frontier).
//!
//! # Reports
//!
//! A member's unscoped digest is its *report*: the version it has applied.
//! A report is used only once it is `Config::join_grace` old, so that a
//! newcomer that got its state from that member before the report has had
//! time to become known here (peer exchange spreads it) and to count as a
//! member itself.
//!
//! # The frontier
//!
//! The frontier is the least of: this node's version at its previous tick
//! (already persisted by the driver), and every member's usable report.
//! Members: this replica, every replica in the peer table (whatever its
//! state) and every author in the document, less those declared gone; and
//! a peer in the table whose replica is not known yet (told of, never
//! heard) is a member without a report, so there is no frontier while one
//! is there (until the horizon after it was added). It exists only if, for every member, this
//! node has every op the member made before its report (the member's own
//! entry in the report): ops a member made before reporting may lack what
//! it reported, and they must all be here before anything is cleaned up.
//! So every op that can still arrive was made at a state that has the
//! frontier: the promise.
//!
//! # Gone members
//!
//! A member not heard from for `Config::member_horizon` is declared gone,
//! with the count of its ops this node has: later ops of that replica are
//! refused. Declarations travel in `Gone` frames with every anti-entropy
//! round; a node that hears one adopts it, raising the count to what it has
//! itself (it cannot un-apply ops), and a count only grows (the largest
//! wins). So every node ends up accepting exactly the gone member's ops
//! below the largest count any member had when it adopted the declaration.
//! A gone member stops counting for the frontier only once every remaining
//! member has told us its own count for it and we have all ops below the
//! largest: then none of its ops can still arrive. A replica that sees
//! itself declared gone must rejoin as a newcomer (see `Node`'s rejoin).
//!
//! In a large group a node keeps a partial view (`view.rs`): it hears
//! directly only the members in its peer table, so only those may be
//! declared gone by it for their silence (others' declarations still
//! travel and are adopted), and members it does not hear have no report
//! here: cleanup does not advance (safety over liveness).
//!
//! A replica also declares its own ids gone: the one it had before a
//! rejoin, and the one an earlier run used, at the first edit of a run
//! (`Config::id_used_before`: a restored disk may hold fewer of that id's
//! ops than peers do). Its count is what the replica holds; a peer that
//! holds more raises it, as for any declaration, so the ops the disk lost
//! come back. Nobody makes ops under a retired id, so the count the group
//! ends at is exactly what was made.
//!
//! # Newcomers
//!
//! Ops made before a replica had the group's history (typed before it first
//! synced) lack whatever the group has cleaned up: a member that cleaned up
//! would refuse them and one that did not would take them. So a newcomer
//! (`Config::joining`: the program sets it for a replica with no ops but its
//! own that is given peers) sends none of its ops: it asks a member for a
//! snapshot (`Join`), and when one arrives it re-makes its ops as a new
//! replica on top of it (`Doc::rejoin`), then sends them. A newcomer never
//! founds a group, not even when another newcomer asks it: two newcomers
//! that meet wait for a member, since a founder may exist that neither has
//! met, and two founders cannot clean up soundly (each may clean up what
//! the other's ops, made without it, still name).
//!
//! A member must not use a report that leaves out a member it does not
//! know: that member may lack history the report's sender has. So a report
//! (a whole digest) names, beside its version, the other members its
//! sender counts that have no op yet (`DigestFrame::members`); a receiver
//! takes any it did not know as a member without a report, and waits for
//! one (or for the horizon). This is sound without any timing bet: a
//! newcomer that joined through a member after that member's report got a
//! snapshot holding all of it, so it lacks nothing the report claims; one
//! that joined before is named in it. (The grace on reports stays, as a
//! margin.)
//!
//! # Restarts
//!
//! A node that restarts must still know every member it knew, or one that
//! is neither a configured peer nor an author in its document would no
//! longer hold its cleanup back. The members, the gone declarations and
//! whether the node has joined are its [`super::Membership`], which the
//! host writes down (beside the document, before it sends anything) each
//! time it changes, and gives back at boot.
//!
//! What this does not cover: two groups founded apart, one of which has
//! cleaned up, that later meet (their members are not newcomers to each
//! other). Ops of the other group made without the cleaned-up history are
//! then refused by some members and taken by others.

use std::collections::{BTreeMap, BTreeSet};

use crate::doc::{Doc, Op, ReplicaId, VersionVector};

use std::time::Duration;

use super::time::Time;

/// Most replicas remembered as gone.
const MAX_GONE: usize = 4096;
/// Most members remembered across restarts (beyond it, new members are
/// known while the node runs, as before it kept any).
const MAX_REMEMBERED: usize = 4096;

/// What a replica must remember about its group across restarts (see
/// "Restarts" above): the host keeps it beside the document.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    /// The replica is a member: it founded the group or has joined it.
    pub joined: bool,
    /// The document it edits (`Config::document`), 0 for none yet.
    pub document: u32,
    /// The members it knew (its own id among them or not), sorted.
    pub members: Vec<ReplicaId>,
    /// Replicas declared gone, with the count of their ops accepted.
    pub gone: Vec<(ReplicaId, u64)>,
}

/// How long things take, for [`Stability::tick`].
#[derive(Clone, Copy, Debug)]
pub struct Periods {
    /// A member silent this long is declared gone (`Config::member_horizon`).
    pub horizon: Duration,
    /// A member superseded at its address and silent this long is declared
    /// gone (see [`Stability::supersede`]).
    pub quiet: Duration,
    /// A report is used this long after it arrived (`Config::join_grace`).
    pub grace: Duration,
    /// A partial view (`view.rs`): only members in `peers` are heard
    /// directly, so only they may be declared gone for their silence.
    pub peers_only: bool,
}

/// A member's reports: the one in use, and a newer one waiting out the grace.
#[derive(Clone, Debug, Default)]
struct Reports {
    settled: Option<VersionVector>,
    fresh: Option<(Time, VersionVector)>,
}

#[derive(Clone, Debug, Default)]
pub struct Stability {
    reports: BTreeMap<ReplicaId, Reports>,
    /// When each known replica was last heard from (first: when first known).
    heard: BTreeMap<ReplicaId, Time>,
    /// Our declarations: gone replica -> count of its ops accepted.
    gone: BTreeMap<ReplicaId, u64>,
    /// Each member's own declarations, as it last sent them.
    adopted_by: BTreeMap<ReplicaId, BTreeMap<ReplicaId, u64>>,
    /// The document's version at the previous tick.
    ceiling: Option<VersionVector>,
    /// Every member known so far (not gone), kept across restarts by the
    /// host (`Membership`): a restarted node that has heard from nobody
    /// yet must not take itself and its configured peers for the group.
    remembered: BTreeSet<ReplicaId>,
    /// Replicas another one replaced at their address (see `supersede`).
    superseded: BTreeSet<ReplicaId>,
    /// Bumped whenever `remembered` or `gone` changes: the host writes the
    /// membership down when it moved.
    pub changes: u64,
    /// Another member declared this replica gone: it must rejoin.
    pub declared_me: bool,
}

impl Stability {
    /// `replica` was heard from at `at` (a peer's last datagram).
    pub fn heard(&mut self, replica: ReplicaId, at: Time) {
        let last = self.heard.entry(replica).or_insert(at);
        *last = (*last).max(at);
    }

    /// An unscoped digest from member `replica`.
    pub fn report(
        &mut self,
        replica: ReplicaId,
        version: &VersionVector,
        now: Time,
        grace: Duration,
    ) {
        if self.gone.contains_key(&replica) {
            return;
        }
        let r = self.reports.entry(replica).or_default();
        match &r.fresh {
            // The waiting one is ripe: it becomes the one in use.
            Some((at, _)) if *at + grace <= now => {
                r.settled = r.fresh.take().map(|(_, v)| v);
                r.fresh = Some((now, version.clone()));
            }
            Some(_) => {}
            None => r.fresh = Some((now, version.clone())),
        }
    }

    fn usable(&self, replica: ReplicaId, now: Time, grace: Duration) -> Option<&VersionVector> {
        let r = self.reports.get(&replica)?;
        match &r.fresh {
            Some((at, v)) if *at + grace <= now => Some(v),
            _ => r.settled.as_ref(),
        }
    }

    /// Declares `replica` gone now, with the count of its ops we have: it
    /// is this node's own old id after a rejoin, which makes no more ops.
    pub fn replaced(&mut self, replica: ReplicaId, doc: &Doc) {
        let have = doc.version_ref().get(replica);
        let entry = self.gone.entry(replica).or_insert(have);
        *entry = (*entry).max(have);
        self.reports.remove(&replica);
        self.remembered.remove(&replica);
        self.changes += 1;
    }

    /// A gone `replica` made at least `count` ops (a peer showed it holds
    /// them): accept them. (Counts only grow; see "Gone members".)
    pub fn raise_gone(&mut self, replica: ReplicaId, count: u64) {
        if let Some(entry) = self.gone.get_mut(&replica) {
            if count > *entry {
                *entry = count;
                self.changes += 1;
            }
        }
    }

    /// Another replica now speaks from the address `replica` spoke from.
    /// One socket is one process, so `replica` has ended its run or taken
    /// a fresh id, and edits no more. Its owner declares it gone, unless it
    /// booted from a restored backup that never knew that id: then nobody
    /// would, and it would hold cleanup back until the horizon. So a
    /// superseded replica not heard from for `quiet` (datagrams of both may
    /// arrive out of order for a while) is declared gone, with the ops of
    /// it we hold (a member holding more raises the count).
    /// (`last_heard`: its last datagram from there. `by` speaks from there
    /// now; if it was superseded itself, by datagrams out of order, it no
    /// longer is.)
    pub fn supersede(&mut self, replica: ReplicaId, last_heard: Time, by: ReplicaId) {
        self.superseded.remove(&by);
        if !self.gone.contains_key(&replica) && self.superseded.len() < MAX_GONE {
            self.heard(replica, last_heard);
            self.superseded.insert(replica);
        }
    }

    /// `replica` spoke to us: a member to remember (unless gone).
    pub fn note_member(&mut self, replica: ReplicaId) {
        if !self.remembered.contains(&replica)
            && !self.gone.contains_key(&replica)
            && self.remembered.len() < MAX_REMEMBERED
        {
            self.remembered.insert(replica);
            self.changes += 1;
        }
    }

    /// A member's report named `members` (those it counts that its
    /// version does not name): any we did not know is a member here too,
    /// without a report yet, so cleanup waits for it (or for the horizon:
    /// counted from now, and not renewed by others naming it).
    pub fn learn(&mut self, me: ReplicaId, members: &[ReplicaId], now: Time) {
        for &m in members {
            if m == me || self.gone.contains_key(&m) || self.remembered.len() >= MAX_REMEMBERED {
                continue;
            }
            if self.remembered.insert(m) {
                self.heard.entry(m).or_insert(now);
                self.changes += 1;
            }
        }
    }

    /// What a restarted node remembers: the members it knew and the
    /// replicas declared gone. Each member counts as heard from now, so one
    /// that never comes back is declared gone a horizon after the restart.
    pub fn restore(&mut self, members: &[ReplicaId], gone: &[(ReplicaId, u64)], now: Time) {
        for &(replica, count) in gone.iter().take(MAX_GONE) {
            let entry = self.gone.entry(replica).or_insert(count);
            *entry = (*entry).max(count);
        }
        for &m in members.iter().take(MAX_REMEMBERED) {
            if !self.gone.contains_key(&m) {
                self.remembered.insert(m);
                self.heard(m, now);
            }
        }
        self.changes += 1;
    }

    /// The members remembered (sorted), and the gone declarations.
    /// The members remembered, in replica order.
    pub fn remembered(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.remembered.iter().copied()
    }

    pub fn membership(&self) -> (Vec<ReplicaId>, Vec<(ReplicaId, u64)>) {
        (
            self.remembered.iter().copied().collect(),
            self.declarations(),
        )
    }

    /// Our declarations, for a `Gone` frame (sorted by replica).
    pub fn declarations(&self) -> Vec<(ReplicaId, u64)> {
        self.gone.iter().map(|(&r, &n)| (r, n)).collect()
    }

    /// `replica` is declared gone here.
    pub fn is_gone(&self, replica: ReplicaId) -> bool {
        self.gone.contains_key(&replica)
    }

    pub fn gone_count(&self) -> usize {
        self.gone.len()
    }

    /// A count of one of our declarations, for a `Gone` frame.
    pub fn declaration(&self, replica: ReplicaId) -> Option<u64> {
        self.gone.get(&replica).copied()
    }

    /// A `Gone` frame from member `from`: adopt its declarations. A frame
    /// may hold some of them only (a long list is sent in several): since
    /// a member's declarations only grow, what it told us is merged.
    pub fn adopt(&mut self, from: ReplicaId, me: ReplicaId, list: &[(ReplicaId, u64)], doc: &Doc) {
        if self.gone.contains_key(&from)
            || (self.adopted_by.len() >= MAX_GONE && !self.adopted_by.contains_key(&from))
        {
            return;
        }
        let told = self.adopted_by.entry(from).or_default();
        for &(replica, count) in list {
            if told.len() >= MAX_GONE && !told.contains_key(&replica) {
                break; // bounded, whatever a member sends
            }
            let entry = told.entry(replica).or_insert(count);
            *entry = (*entry).max(count);
        }
        for &(replica, count) in list {
            if replica == me {
                self.declared_me = true;
                continue;
            }
            if self.gone.len() >= MAX_GONE && !self.gone.contains_key(&replica) {
                continue; // bounded, whatever a member sends
            }
            let have = doc.version_ref().get(replica);
            let before = self.gone.get(&replica).copied();
            let entry = self.gone.entry(replica).or_insert(have);
            *entry = (*entry).max(count).max(have);
            if Some(*entry) != before {
                self.changes += 1;
            }
            self.remembered.remove(&replica);
            self.reports.remove(&replica);
        }
    }

    /// The part of `op` this node accepts: ops of a gone replica end at its
    /// declared count.
    pub fn accepted(&self, op: Op) -> Option<Op> {
        let Some(&end) = self.gone.get(&op.id.replica) else {
            return Some(op);
        };
        let span = op.span();
        if span.start.counter >= end {
            None
        } else if span.end_counter() <= end {
            Some(op)
        } else {
            Some(op.slice(0, end - span.start.counter))
        }
    }

    /// Every replica that counts as a member now (this one included): the
    /// replicas of the peer table and the authors of the document. (Not
    /// whoever a datagram claims to be from: the peer table is bounded, and
    /// what is kept per replica here is pruned to members at each tick.)
    fn members(&self, me: ReplicaId, doc: &Doc, peers: &[Option<ReplicaId>]) -> Vec<ReplicaId> {
        let mut all: Vec<ReplicaId> = peers.iter().flatten().copied().collect();
        all.extend(self.remembered.iter().copied());
        all.push(me);
        all.extend(
            doc.version_ref()
                .iter()
                .filter(|&(_, n)| n > 0)
                .map(|(r, _)| r),
        );
        all.sort_unstable();
        all.dedup();
        all.retain(|r| !self.gone.contains_key(r));
        all
    }

    /// Runs at each anti-entropy tick: declares silent members gone and
    /// returns the frontier the document may collect up to, if any.
    /// `peers`: the replica of each peer in the table, `None` for one told
    /// of but not heard from yet (a member without a report: no frontier).
    pub fn tick(
        &mut self,
        now: Time,
        me: ReplicaId,
        doc: &Doc,
        peers: &[Option<ReplicaId>],
        periods: Periods,
    ) -> Option<VersionVector> {
        let Periods {
            horizon,
            quiet,
            grace,
            peers_only,
        } = periods;
        let members = self.members(me, doc, peers);
        for &m in members.iter().filter(|&&m| m != me) {
            if peers_only && !peers.contains(&Some(m)) {
                continue;
            }
            let last = *self.heard.entry(m).or_insert(now);
            let quiet_since_superseded = self.superseded.contains(&m) && last + quiet <= now;
            if last + horizon <= now || quiet_since_superseded {
                self.gone.insert(m, doc.version_ref().get(m));
                self.reports.remove(&m);
                self.remembered.remove(&m);
                self.changes += 1;
            }
        }
        let members = self.members(me, doc, peers);
        for &m in members.iter().filter(|&&m| m != me) {
            if self.remembered.len() < MAX_REMEMBERED && self.remembered.insert(m) {
                self.changes += 1;
            }
        }
        let is_member = |r: &ReplicaId| members.binary_search(r).is_ok();
        self.reports.retain(|r, _| is_member(r));
        self.heard.retain(|r, _| is_member(r));
        self.superseded.retain(|r| is_member(r) && *r != me);
        self.adopted_by.retain(|r, _| is_member(r));
        let ceiling = self.ceiling.replace(doc.version());
        if peers.iter().any(Option::is_none) {
            // A member whose report we could not know.
            return None;
        }
        let mut frontier = ceiling?;
        let have = doc.version_ref();
        for &m in members.iter().filter(|&&m| m != me) {
            let report = self.usable(m, now, grace)?;
            if have.get(m) < report.get(m) {
                return None;
            }
            frontier = frontier
                .iter()
                .map(|(r, n)| (r, n.min(report.get(r))))
                .collect();
        }
        // A gone replica's ops can no longer arrive only once every member
        // has said how many it accepts, and we have them all.
        for (&g, &ours) in &self.gone {
            let mut count = ours;
            for &m in members.iter().filter(|&&m| m != me) {
                count = count.max(*self.adopted_by.get(&m)?.get(&g)?);
            }
            if have.get(g) < count {
                return None;
            }
        }
        Some(frontier)
    }
}
