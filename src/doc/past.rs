//! The document as it was at an earlier version: its text and who wrote
//! each char, rebuilt from the sequence this replica holds now.
//!
//! # Why the present holds the past
//!
//! The sequence keeps every char ever inserted in one order (deleted ones as
//! tombstones), and that order never changes once two chars are both here:
//! a later op only places new chars between them. So the text at a version
//! `V` (a causally closed set of ops, such as a prefix of the order this
//! replica applied them in) is the current order filtered: the chars
//! inserted by ops in `V`, minus those deleted by deletes in `V`. No op is
//! replayed; it costs one walk over the pieces and one sort of the
//! deletes' targets.
//!
//! # After cleanup
//!
//! Cleanup (`collect`) drops the ops below its frontier `F` and the
//! tombstones they made stable, so a version must contain `F`. It also
//! drops the text of collected chars from the op log: the rope keeps those
//! still visible, so a collected char deleted later (by an op beyond `F`)
//! has no text left. A version must then contain that delete too. The
//! least version that can be rebuilt is [`Doc::past_floor`].

use super::id::{Id, IdSpan, ReplicaId};
use super::oplog::EntryOp;
use super::{Doc, VersionVector};

/// The document at a version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Past {
    pub text: String,
    /// The ids of the visible chars, in document order, as spans of
    /// consecutive ids (a char's id names the replica that typed it).
    pub ids: Vec<IdSpan>,
}

impl Past {
    /// The text's chars, one per id of [`Past::ids`].
    pub fn past_chars(&self) -> Vec<char> {
        self.text.chars().collect()
    }

    /// Who typed each visible char, run-length encoded: `(replica, chars)`.
    pub fn authors(&self) -> Vec<(ReplicaId, u64)> {
        let mut out: Vec<(ReplicaId, u64)> = Vec::new();
        for s in &self.ids {
            match out.last_mut() {
                Some((r, n)) if *r == s.start.replica => *n += s.len,
                _ => out.push((s.start.replica, s.len)),
            }
        }
        out
    }
}

/// Why a version cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PastError {
    /// The version holds ops this replica has not applied.
    Unknown,
    /// The version lacks history this replica has cleaned up (see
    /// [`Doc::past_floor`]).
    CleanedUp,
}

/// Appends `span` to `ids`, joining it to the last span it continues.
fn push_span(ids: &mut Vec<IdSpan>, span: IdSpan) {
    match ids.last_mut() {
        Some(last)
            if last.start.replica == span.start.replica
                && last.end_counter() == span.start.counter =>
        {
            last.len += span.len
        }
        _ => ids.push(span),
    }
}

impl Doc {
    /// The least version [`Doc::past`] can rebuild: the collected frontier,
    /// and every delete (beyond it) of a collected char, whose text is gone.
    /// O(deletes in the log).
    pub fn past_floor(&self) -> VersionVector {
        let mut floor = self.collected.clone();
        if self.collected.is_empty() {
            return floor;
        }
        for (id, _, op) in self.log.iter() {
            let EntryOp::Delete { targets } = op else {
                continue;
            };
            let mut offset = 0;
            for t in targets {
                offset += t.len;
                let collected_char = t
                    .ids()
                    .is_some_and(|s| s.start.counter < self.collected.get(s.start.replica));
                if collected_char && floor.get(id.replica) < id.counter + offset {
                    floor.set(id.replica, id.counter + offset);
                }
            }
        }
        floor
    }

    /// The text at `version` and the ids of its chars. `version` must be
    /// one this replica holds (a causally closed set of ops it applied,
    /// such as the version after a prefix of the order it applied them in)
    /// and contain [`Doc::past_floor`]. O(pieces + deletes log deletes).
    pub fn past(&self, version: &VersionVector) -> Result<Past, PastError> {
        if !self.version.dominates(version) {
            return Err(PastError::Unknown);
        }
        if !version.dominates(&self.past_floor()) {
            return Err(PastError::CleanedUp);
        }
        // Chars deleted at `version`, sorted and merged.
        let deleted = self.log.deleted_below(version);
        let rope = self.text.borrow();
        let mut past = Past::default();
        // Visible chars before the current piece, now (for collected text).
        let mut visible_now = 0usize;
        for p in self.seq.pieces() {
            let now_at = visible_now;
            if !p.deleted {
                visible_now += p.len as usize;
            }
            if p.stable {
                continue;
            }
            let r = p.id.replica;
            let end = p.end().min(version.get(r));
            let mut at = p.id.counter;
            // The deleted spans of this replica from `at` on.
            let mut d = deleted.partition_point(|s| {
                s.start.replica < r || (s.start.replica == r && s.end_counter() <= at)
            });
            while at < end {
                let (from, to) = match deleted.get(d) {
                    Some(s) if s.start.replica == r && s.start.counter < end => {
                        if s.start.counter <= at {
                            at = at.max(s.end_counter());
                            d += 1;
                            continue;
                        }
                        (at, s.start.counter)
                    }
                    _ => (at, end),
                };
                self.push_chars(p.id, p.deleted, now_at, from, to, &rope, &mut past);
                at = to;
            }
        }
        Ok(past)
    }

    /// Appends the chars `from .. to` (counters) of the piece starting at
    /// `piece` (visible now at `now_at` unless `deleted`) to `past`.
    #[allow(clippy::too_many_arguments)]
    fn push_chars(
        &self,
        piece: Id,
        deleted: bool,
        now_at: usize,
        from: u64,
        to: u64,
        rope: &jumprope::JumpRope,
        past: &mut Past,
    ) {
        let r = piece.replica;
        let below = self.collected.get(r);
        // Collected chars: their text is in the rope (the floor keeps out
        // versions that need one deleted since).
        if from < below && !deleted {
            let stop = to.min(below);
            let a = now_at + (from - piece.counter) as usize;
            let b = now_at + (stop - piece.counter) as usize;
            past.text.extend(rope.slice_substrings(a..b));
        }
        let from_log = from.max(below);
        if from_log < to {
            self.log
                .push_text(Id::new(r, from_log), to - from_log, &mut past.text);
        }
        push_span(&mut past.ids, IdSpan::new(Id::new(r, from), to - from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(doc: &Doc) -> VersionVector {
        doc.version()
    }

    #[test]
    fn every_version_of_a_two_replica_session_is_rebuilt() {
        let mut a = Doc::new(ReplicaId(1));
        let mut b = Doc::new(ReplicaId(2));
        let mut seen: Vec<(VersionVector, String)> = vec![(vv(&a), String::new())];
        a.insert(0, "hello world").unwrap();
        seen.push((vv(&a), a.text()));
        for op in a.ops_since(&VersionVector::new()) {
            b.apply(op).unwrap();
        }
        b.delete(0, 6).unwrap();
        b.insert(0, "brave new ").unwrap();
        a.insert(11, "!").unwrap();
        seen.push((vv(&a), a.text()));
        for op in b.ops_since(&vv(&a)) {
            a.apply(op).unwrap();
            seen.push((vv(&a), a.text()));
        }
        a.delete(2, 3).unwrap();
        seen.push((vv(&a), a.text()));
        for (v, text) in &seen {
            let past = a.past(v).unwrap();
            assert_eq!(&past.text, text, "at {v:?}");
            let n: u64 = past.ids.iter().map(|s| s.len).sum();
            assert_eq!(n as usize, text.chars().count());
        }
        let now = a.past(&vv(&a)).unwrap();
        assert_eq!(now.text, a.text());
        // "brave new " by 2, "world" and "!" by 1 (with "wo" deleted... by a).
        assert_eq!(now.authors()[0].0, ReplicaId(2));
    }

    #[test]
    fn versions_this_replica_lacks_or_cleaned_up_are_refused() {
        let mut a = Doc::new(ReplicaId(1));
        a.insert(0, "abc").unwrap();
        let mut ahead = vv(&a);
        ahead.set(ReplicaId(9), 1);
        assert_eq!(a.past(&ahead), Err(PastError::Unknown));
        a.delete(1, 1).unwrap();
        let before_cleanup = vv(&a);
        a.insert(2, "d").unwrap();
        a.collect(&before_cleanup);
        assert_eq!(a.past(&VersionVector::new()), Err(PastError::CleanedUp));
        assert_eq!(a.past(&before_cleanup).unwrap().text, "ac");
        assert_eq!(a.past(&vv(&a)).unwrap().text, "acd");
        // A collected char deleted later: versions before that delete
        // would need its text, which cleanup dropped.
        a.delete(0, 1).unwrap();
        assert_eq!(a.past(&before_cleanup), Err(PastError::CleanedUp));
        assert_eq!(a.past(&vv(&a)).unwrap().text, "cd");
    }

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Insert(usize, usize, String),
        Delete(usize, usize, usize),
        /// Replica a gets everything replica b has.
        Sync(usize, usize),
        /// Everyone syncs, then cleans up what all have.
        SyncAllAndCollect,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..3usize, 0..50usize, "[a-c\n]{1,4}").prop_map(|(r, p, t)| Step::Insert(r, p, t)),
            2 => (0..3usize, 0..50usize, 1..4usize).prop_map(|(r, p, n)| Step::Delete(r, p, n)),
            2 => (0..3usize, 0..3usize).prop_map(|(a, b)| Step::Sync(a, b)),
            1 => Just(Step::SyncAllAndCollect),
        ]
    }

    fn sync(docs: &mut [Doc], to: usize, from: usize) {
        let v = docs[to].version();
        for op in docs[from].ops_since(&v) {
            docs[to].apply(op).unwrap();
        }
    }

    proptest! {
        /// Every version replica 0 passed through is rebuilt exactly, or
        /// refused as cleaned up only when it lacks the floor; and the ids
        /// of the text now (its authors) are those the sequence holds,
        /// cleanup or not.
        #[test]
        fn every_version_a_replica_had_is_rebuilt_through_cleanup(
            steps in prop::collection::vec(step(), 1..60)
        ) {
            let mut docs: Vec<Doc> = (1..=3).map(|r| Doc::new(ReplicaId(r))).collect();
            let mut seen = vec![(docs[0].version(), String::new())];
            for s in steps {
                match s {
                    Step::Insert(r, p, t) => {
                        let p = p % (docs[r].len() + 1);
                        docs[r].insert(p, &t).unwrap();
                    }
                    Step::Delete(r, p, n) => {
                        let len = docs[r].len();
                        if len > 0 {
                            let p = p % len;
                            docs[r].delete(p, n.min(len - p)).unwrap();
                        }
                    }
                    Step::Sync(a, b) => sync(&mut docs, a, b),
                    Step::SyncAllAndCollect => {
                        for a in 0..3 {
                            for b in 0..3 {
                                sync(&mut docs, a, b);
                            }
                        }
                        let f = docs[0].version();
                        for d in &mut docs {
                            // Who wrote each visible char survives cleanup.
                            let before = d.past(&d.version()).unwrap();
                            d.collect(&f);
                            prop_assert_eq!(d.past(&d.version()).unwrap(), before);
                        }
                    }
                }
                seen.push((docs[0].version(), docs[0].text()));
            }
            let a = &docs[0];
            let floor = a.past_floor();
            for (v, text) in &seen {
                match a.past(v) {
                    Ok(p) => {
                        prop_assert_eq!(&p.text, text);
                        let n: u64 = p.ids.iter().map(|s| s.len).sum();
                        prop_assert_eq!(n as usize, text.chars().count());
                    }
                    Err(PastError::CleanedUp) => prop_assert!(!v.dominates(&floor)),
                    Err(PastError::Unknown) => prop_assert!(false, "unknown {:?}", v),
                }
            }
            let now = a.past(&a.version()).unwrap();
            prop_assert_eq!(&now.text, &a.text());
            let ids = a.ids_in(0..a.len()).unwrap();
            let flat = |spans: &[IdSpan]| -> Vec<Id> {
                spans.iter().flat_map(|s| (0..s.len).map(move |k| s.start.add(k))).collect()
            };
            prop_assert_eq!(flat(&now.ids), flat(&ids));
        }
    }
}
