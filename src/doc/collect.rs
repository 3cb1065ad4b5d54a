//! Tombstone cleanup: dropping the history every member already has.
//!
//! # The rule
//!
//! A replica is handed a *collection frontier* `F` (a version vector; the
//! node computes it, see `node::stability`) with this promise: **every op
//! this replica will ever apply from now on was made by a replica that
//! already had every op in `F`.** The node keeps the promise by taking `F`
//! as the ops every member has reported having, and only once this replica
//! has every op each member made before that report (so ops made without
//! `F` can no longer arrive); a member silent past the horizon is declared
//! gone and must rejoin (its old ops are refused, see below).
//!
//! # Whom the promise covers
//!
//! The promise is about every replica whose ops can still reach this one,
//! not about the members this node happens to know. A replica it does not
//! know gives no report, so nothing bounds what that replica lacks, and the
//! frontier (least of the reports) silently leaves it out. Each way a
//! replica can be unknown must be closed:
//!
//! - told of, not yet heard from: a peer whose address we have but whose
//!   replica id we do not is a member without a report, so there is no
//!   frontier (until the member horizon: then it must join anew). A node
//!   that had heard from none of its peers took itself for the whole group.
//! - never heard of: a replica that typed before it had the group's history
//!   (a fresh replica told of peers) cannot be known to every member in
//!   time. It must be a *newcomer*: it sends none of its ops, takes a
//!   member's snapshot and re-makes its ops on top as a new replica
//!   (`node::stability`, "Newcomers"), and stays one until it has that
//!   snapshot, across restarts. A newcomer never founds a group (not
//!   even when another newcomer asks it), so a group has one founder.
//! - a newcomer reached only through members: a member's report names the
//!   members its sender counts that have no op yet, and a receiver takes
//!   any it did not know as a member without a report (so no frontier
//!   until it reports, or the horizon). Every member then either is named
//!   by the reports the frontier uses, or joined through a member after
//!   that member's report: its snapshot held everything the report
//!   claims, so it lacks nothing in `F`. By induction along who let whom
//!   in, no unknown member lacks part of `F`. (`node::stability`,
//!   "Newcomers"; the grace on reports stays as a margin.)
//! - forgotten: a node that restarts keeps its membership in its storage
//!   (`node::Membership`: joined or not, the members it knew, the
//!   declarations of gone replicas), written before anything that depends
//!   on it is sent, so a restart forgets no member.
//! - another document: a replica of a group founded apart shares no
//!   history with this one; its datagrams carry another document id and
//!   are refused whole (`node`, `Refusal::OtherDocument`), so its ops never
//!   reach this replica.
//!
//! Why this must hold everywhere rather than be caught: an op that breaks
//! the promise is refused only by the replicas that cleaned up what it
//! needs; one that cleaned up less takes it, and the group never agrees
//! again (its later ops wait forever for a refused cause). And a replica
//! that absorbs a snapshot must have all of its own ops applied on top, not
//! held waiting for a cause the snapshot refuses: a held op of its own is
//! lost, and its ids would be made again (`Doc::absorb_inflated` then
//! answers [`Error::Collected`](super::Error::Collected): rejoin instead).
//!
//! # What the promise gives
//!
//! Given the promise, for every char `c` deleted by a delete in `F` (a
//! *stable tombstone*) and every op `P` still to come, made at state `S ⊇ F`:
//!
//! 1. `P` never names `c` as its left origin nor as a delete target: those
//!    name chars visible in `S`, and `c` is deleted in `S`.
//! 2. `P`'s right origin is the char right after its left origin in `S`,
//!    which may be `c`. Then, here, every char between that left origin and
//!    `c` is an op `S` lacks, so not stable: `c` is the first of a run of
//!    stable tombstones (or the first char of all).
//! 3. Scanning (FugueMax) looks only at chars between `P`'s origins that
//!    `S` lacks. None is in `F`: **no future scan looks at any char of
//!    `F`**, so the origins of `F`'s chars (visible or not) are never needed
//!    again, and no future insert lands between two stable tombstones.
//! 4. A scan does compare the *positions* of the origins of the chars it
//!    passes (chars beyond `F`), which may be stable tombstones.
//!
//! # What goes, what stays
//!
//! - Goes: every op in `F` from the op log (its text, origins, targets),
//!   and every stable tombstone except those in the next line.
//! - Stays, as a one-char position marker (no text, no origins): the first
//!   stable tombstone of each run of them (2) and each one that an op
//!   beyond `F` names as an origin (4). So what a document holds is bounded
//!   by its visible text and the history beyond `F`, not by its past.
//! - Stays: the visible chars of `F` (text and position, no origins), and
//!   `F` itself. Ops below `F` can no longer be served to a peer:
//!   [`Doc::can_serve`](super::Doc::can_serve) says so, and a peer that
//!   lacks part of `F` gets a snapshot (which carries `F`).
//!
//! An op that breaks the promise (a member that was declared gone, or a
//! forged op) is caught where it would need what is gone (a removed origin,
//! a collected char to scan past, a removed delete target) and refused with
//! [`Error::Collected`](super::Error::Collected): nothing changes here (but
//! see above: elsewhere it may be taken).
//!
//! The visible text never changes, and placing any op that keeps the
//! promise gives the same result as on a replica that collected nothing
//! (tests: `tests/collect_props.rs` runs random concurrent sessions with
//! and without collection and compares every replica).
//!
//! Undo keeps the promise the way a keystroke does (see `doc::undo`): it
//! restores deleted text as *new* chars, typed at a position of the
//! visible text now, so its ops name only visible chars as left origins
//! and delete targets, and at most the first of a run of stable tombstones
//! as a right origin (rule 2). It never re-inserts a deleted char's id or
//! names a tombstone as an origin, and it keeps the text it restores
//! itself (the op log may have dropped it); a stable tombstone is only
//! looked up for where it is, with a fallback once it is gone (tests:
//! `doc::undo::tests`, and `tests/undo_props.rs` with cleanup between
//! undos).

use super::id::{Id, IdSpan};
use super::oplog::EntryOp;
use super::sequence::Sequence;
use super::{Doc, Error, VersionVector};

/// Collects history up to `frontier` (clamped to what this replica has;
/// never moves back) and returns the number of tombstones removed.
pub(crate) fn collect(doc: &mut Doc, frontier: &VersionVector) -> u64 {
    let mut f = doc.collected.clone();
    for (replica, count) in frontier.iter() {
        let count = count.min(doc.version.get(replica));
        if count > f.get(replica) {
            f.set(replica, count);
        }
    }
    if f == doc.collected {
        return 0;
    }
    let stable = doc.log.deleted_below(&f);
    let log = doc.log.without_below(&f);
    // Collected chars that ops beyond `f` name as origins (rule 4).
    let mut keep: Vec<Id> = Vec::new();
    for (_, _, op) in log.iter() {
        if let EntryOp::Insert { left, right, .. } = op {
            keep.extend(left.iter().chain(right.iter()).filter(|o| f.contains(**o)));
        }
    }
    keep.sort_unstable();
    keep.dedup();
    let (pieces, removed) = doc.seq.collected_pieces(&stable, &keep, &f);
    doc.seq = Sequence::from_pieces(&pieces);
    doc.log = log;
    doc.collected = f;
    doc.reclaimed += removed;
    removed
}

/// Checks that every id of `span` (all known) is a char an op may name:
/// in the log, an insert; in collected history, a char still held.
pub(crate) fn check_chars(doc: &Doc, span: IdSpan) -> Result<(), Error> {
    let below = doc.collected.get(span.start.replica);
    let end = span.end_counter();
    if end > below {
        let from = span.start.counter.max(below);
        if !doc
            .log
            .all_chars(IdSpan::new(Id::new(span.start.replica, from), end - from))
        {
            return Err(super::NAMES_A_DELETE);
        }
    }
    let mut at = span.start.counter;
    while at < end.min(below) {
        let id = Id::new(span.start.replica, at);
        at = doc.seq.piece_end(id).ok_or(Error::Collected(id))?;
    }
    Ok(())
}
