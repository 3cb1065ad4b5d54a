//! Property tests of the text CRDT (`rumor::Doc`):
//!
//! 1. `local_edits_match_a_char_vector`: any sequence of local edits on one
//!    replica gives exactly the text a plain `Vec<char>` gives, and
//!    out-of-range positions are errors that change nothing.
//! 2. `replicas_converge`: 2-5 replicas edit concurrently while ops (whole or
//!    sliced) are delivered in random order with duplicates and delays; all
//!    converge, to what one replica gets by applying every op, and the
//!    patches `apply` reports keep an editor's view in step with the text.
//! 3. `concurrent_runs_never_interleave`: two replicas type runs at the same
//!    place, forwards or backwards; the merge keeps each run whole.
//! 4. `ops_since_is_exact`: `ops_since(v)` returns exactly the ids the
//!    source has and `v` lacks, in an order a replica at `v` applies at once.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rumor::doc::{Error, Patch};
use rumor::{Doc, IdSpan, Op, ReplicaId, VersionVector};

/// Inserted text: ASCII, a newline, 2-, 3- and 4-byte UTF-8 chars.
fn some_text(sizes: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'e'),
            1 => Just('\n'),
            1 => Just('é'),
            1 => Just('中'),
            1 => Just('😀'),
        ],
        sizes,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

// ---------------------------------------------------------------------------
// 1. Local edits against a Vec<char> model
// ---------------------------------------------------------------------------

/// A position or length: usually relative to the current text (so mostly in
/// range, sometimes one past it), sometimes absolute (often far out of range).
#[derive(Debug, Clone, Copy)]
enum Num {
    Rel(u16),
    Abs(usize),
}

impl Num {
    fn resolve(self, room: usize) -> usize {
        match self {
            Num::Rel(r) => r as usize % (room + 2),
            Num::Abs(a) => a,
        }
    }
}

fn num() -> impl Strategy<Value = Num> {
    prop_oneof![
        12 => any::<u16>().prop_map(Num::Rel),
        1 => Just(Num::Abs(usize::MAX)),
        1 => (0usize..1000).prop_map(Num::Abs),
    ]
}

#[derive(Debug, Clone)]
enum LocalEdit {
    Insert { pos: Num, text: String },
    Delete { pos: Num, len: Num },
}

fn local_edit() -> impl Strategy<Value = LocalEdit> {
    prop_oneof![
        3 => (num(), some_text(0..=6)).prop_map(|(pos, text)| LocalEdit::Insert { pos, text }),
        2 => (num(), num()).prop_map(|(pos, len)| LocalEdit::Delete { pos, len }),
    ]
}

/// Applies `edits` to a `Doc` and to a `Vec<char>`, checking after each.
fn check_local(edits: &[LocalEdit]) -> Result<(), TestCaseError> {
    let mut doc = Doc::new(ReplicaId(7));
    let mut model: Vec<char> = Vec::new();
    for edit in edits {
        let version = doc.version();
        let (result, in_range, no_op) = match *edit {
            LocalEdit::Insert { pos, ref text } => {
                let pos = pos.resolve(model.len());
                let in_range = pos <= model.len();
                let result = doc.insert(pos, text);
                if in_range && result.is_ok() {
                    model.splice(pos..pos, text.chars());
                }
                (result, in_range, text.is_empty())
            }
            LocalEdit::Delete { pos, len } => {
                let pos = pos.resolve(model.len());
                let len = len.resolve(model.len().saturating_sub(pos));
                let in_range = pos.checked_add(len).is_some_and(|end| end <= model.len());
                let result = doc.delete(pos, len);
                if in_range && result.is_ok() {
                    model.drain(pos..pos + len);
                }
                (result, in_range, len == 0)
            }
        };
        if no_op {
            // Empty insert / zero-length delete: Ok or an error, but no change.
            prop_assert_eq!(
                doc.version(),
                version,
                "a no-op edit changed the version: {:?}",
                edit
            );
        } else if in_range {
            prop_assert!(result.is_ok(), "{:?} refused: {:?}", edit, result);
        } else {
            prop_assert!(
                matches!(result, Err(Error::OutOfRange { .. })),
                "{:?} out of range gave {:?}",
                edit,
                result
            );
            prop_assert_eq!(doc.version(), version, "a refused edit changed the version");
        }
        let text: String = model.iter().collect();
        prop_assert_eq!(doc.text(), text, "after {:?}", edit);
        prop_assert_eq!(doc.len(), model.len());
        prop_assert_eq!(doc.is_empty(), model.is_empty());
    }
    // The ops rebuild the same text elsewhere.
    let mut copy = Doc::new(ReplicaId(8));
    for op in doc.ops_since(&VersionVector::new()) {
        copy.apply(op).expect("own ops apply");
    }
    prop_assert_eq!(copy.text(), doc.text());
    Ok(())
}

proptest! {
    #[test]
    fn local_edits_match_a_char_vector(edits in proptest::collection::vec(local_edit(), 1..120)) {
        check_local(&edits)?;
    }
}

proptest! {
    // Long histories, so the sequence's tree grows several levels deep.
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn local_edits_match_a_char_vector_long(edits in proptest::collection::vec(local_edit(), 1000..3000)) {
        check_local(&edits)?;
    }
}

// ---------------------------------------------------------------------------
// 2. Convergence of concurrent replicas over a bad network
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Action {
    /// A local edit on `replica`; positions are taken modulo the text length.
    Edit {
        replica: usize,
        insert: bool,
        pos: u16,
        len: u8,
        text: String,
    },
    /// Delivers a sent op (any, again or for the first time) to `to`,
    /// whole or only the part `cut` picks.
    Deliver {
        to: usize,
        pick: u16,
        cut: Option<(u8, u8)>,
    },
    /// Keeps a copy of `replica` as it is now (for the `ops_since` tests).
    Snapshot { replica: usize },
}

fn action(replicas: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..replicas, any::<bool>(), any::<u16>(), 1u8..6, some_text(1..=5))
            .prop_map(|(replica, insert, pos, len, text)| Action::Edit { replica, insert, pos, len, text }),
        5 => (0..replicas, any::<u16>(), proptest::option::weighted(0.3, (any::<u8>(), any::<u8>())))
            .prop_map(|(to, pick, cut)| Action::Deliver { to, pick, cut }),
        1 => (0..replicas).prop_map(|replica| Action::Snapshot { replica }),
    ]
}

/// (replica ids, the actions, a shuffle seed): 2-5 replicas, short histories.
fn scenario() -> impl Strategy<Value = (Vec<u64>, Vec<Action>, u64)> {
    scenario_of(2..=5, 1..80)
}

/// Like [`scenario`], with `replicas` replicas and `actions` actions.
fn scenario_of(
    replicas: std::ops::RangeInclusive<usize>,
    actions: std::ops::Range<usize>,
) -> impl Strategy<Value = (Vec<u64>, Vec<Action>, u64)> {
    replicas.prop_flat_map(move |n| {
        (
            proptest::collection::btree_set(1u64..1_000_000, n)
                .prop_map(|s| s.into_iter().collect()),
            proptest::collection::vec(action(n), actions.clone()),
            any::<u64>(),
        )
    })
}

/// `op`, or the part of it that uses counters `from..to` picked by `cut`.
fn cut_op(op: &Op, cut: Option<(u8, u8)>) -> Op {
    match cut {
        None => op.clone(),
        Some((a, b)) => {
            let len = op.len();
            let from = a as u64 % len;
            let to = from + 1 + b as u64 % (len - from);
            op.slice(from, to)
        }
    }
}

/// A replica plus what an editor following its patches would show.
struct Peer {
    doc: Doc,
    shown: Vec<char>,
}

impl Peer {
    fn new(id: u64) -> Self {
        Peer {
            doc: Doc::new(ReplicaId(id)),
            shown: Vec::new(),
        }
    }

    /// Applies a remote op and checks that the reported patches turn the
    /// shown text into the document's text.
    fn receive(&mut self, op: Op) -> Result<(), TestCaseError> {
        let before = self.doc.version();
        let applied = self.doc.apply(op.clone());
        let applied = match applied {
            Ok(a) => a,
            Err(e) => return Err(TestCaseError::fail(format!("{op:?} refused: {e}"))),
        };
        follow_patches(&mut self.shown, &applied.patches, &self.doc.text())?;
        let grew = self.doc.version().total() - before.total();
        prop_assert!(
            applied.held || applied.ops_applied > 0 || grew == 0,
            "the version grew but apply reports nothing applied"
        );
        Ok(())
    }

    fn edit(&mut self, insert: bool, pos: u16, len: u8, text: &str) {
        let size = self.doc.len();
        if insert || size == 0 {
            let pos = pos as usize % (size + 1);
            self.doc.insert(pos, text).expect("in-range insert");
        } else {
            let pos = pos as usize % size;
            let len = 1 + len as usize % (size - pos).min(5);
            self.doc.delete(pos, len).expect("in-range delete");
        }
        self.shown = self.doc.text().chars().collect();
    }
}

/// Plays `patches` on `shown` (inserted chars are unknown, so placeholders),
/// then checks every surviving char sits where the document has it.
fn follow_patches(
    shown: &mut Vec<char>,
    patches: &[Patch],
    text: &str,
) -> Result<(), TestCaseError> {
    let mut view: Vec<Option<char>> = shown.iter().copied().map(Some).collect();
    for p in patches {
        prop_assert!(
            p.pos
                .checked_add(p.deleted)
                .is_some_and(|end| end <= view.len()),
            "patch {:?} out of range of the shown text ({} chars)",
            p,
            view.len()
        );
        view.splice(
            p.pos..p.pos + p.deleted,
            std::iter::repeat_n(None, p.inserted),
        );
    }
    let text: Vec<char> = text.chars().collect();
    prop_assert_eq!(view.len(), text.len(), "patches give the wrong length");
    for (i, (v, t)) in view.iter().zip(&text).enumerate() {
        if let Some(c) = v {
            prop_assert_eq!(c, t, "patches misplace the char at {}", i);
        }
    }
    *shown = text;
    Ok(())
}

/// A small deterministic shuffle (xorshift), so a failing case replays.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// What a run of actions leaves.
struct History {
    peers: Vec<Peer>,
    /// Every op ever sent, in the order they were made.
    sent: Vec<Op>,
    /// Copies of replicas taken along the way.
    snapshots: Vec<Doc>,
}

fn run(ids: &[u64], actions: &[Action]) -> Result<History, TestCaseError> {
    let mut peers: Vec<Peer> = ids.iter().map(|&id| Peer::new(id)).collect();
    let mut sent: Vec<Op> = Vec::new();
    let mut snapshots = Vec::new();
    for action in actions {
        match action {
            Action::Edit {
                replica,
                insert,
                pos,
                len,
                text,
            } => {
                let peer = &mut peers[*replica];
                let before = peer.doc.version();
                peer.edit(*insert, *pos, *len, text);
                let new_ops = peer.doc.ops_since(&before);
                prop_assert!(!new_ops.is_empty(), "an edit made no op");
                sent.extend(new_ops);
            }
            Action::Deliver { to, pick, cut } => {
                if !sent.is_empty() {
                    let op = cut_op(&sent[*pick as usize % sent.len()], *cut);
                    peers[*to].receive(op)?;
                }
            }
            Action::Snapshot { replica } => snapshots.push(peers[*replica].doc.clone()),
        }
    }
    Ok(History {
        peers,
        sent,
        snapshots,
    })
}

/// Runs a scenario, heals the network, and checks every replica converged
/// to what one replica gets by applying every op in the order they were made.
fn check_convergence(ids: &[u64], actions: &[Action], seed: u64) -> Result<(), TestCaseError> {
    let History {
        mut peers, sent, ..
    } = run(ids, actions)?;

    // Mid-way states (some ops held, some sliced) survive a save and load.
    for peer in &peers {
        let bytes = peer.doc.encode_history();
        let loaded = Doc::decode_history(ReplicaId(0), &bytes).map_err(|e| {
            TestCaseError::fail(format!("decode_history refused its own bytes: {e}"))
        })?;
        prop_assert_eq!(loaded.text(), peer.doc.text());
        prop_assert_eq!(loaded.version(), peer.doc.version());
        // The one-pass load gives the replica op-by-op apply gives: same
        // pieces and tombstones, same ids at every position, same log.
        let mut applied = Doc::new(ReplicaId(0));
        for op in peer.doc.ops_since(&VersionVector::new()) {
            prop_assert!(
                !applied
                    .apply(op)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .held
            );
        }
        prop_assert_eq!(loaded.stats(), applied.stats());
        prop_assert_eq!(
            loaded.ids_in(0..loaded.len()),
            applied.ids_in(0..applied.len())
        );
        prop_assert!(
            loaded.ops_since(&VersionVector::new()) == applied.ops_since(&VersionVector::new())
        );
        // A snapshot loads without replay to the same replica, which goes
        // on merging like the original (checked at the end).
        let snap = Doc::decode_history(ReplicaId(0), &peer.doc.encode_snapshot()).map_err(|e| {
            TestCaseError::fail(format!("a snapshot was refused by its own loader: {e}"))
        })?;
        prop_assert_eq!(snap.text(), peer.doc.text());
        prop_assert_eq!(snap.version(), peer.doc.version());
    }

    // Heal: every peer gets every op, in a shuffled order, some first as a
    // slice and then whole.
    for (i, peer) in peers.iter_mut().enumerate() {
        let mut order: Vec<usize> = (0..sent.len()).collect();
        shuffle(&mut order, seed.wrapping_add(i as u64));
        for (k, &j) in order.iter().enumerate() {
            if k % 3 == 0 && sent[j].len() > 1 {
                peer.receive(sent[j].slice(1, sent[j].len()))?;
            }
            peer.receive(sent[j].clone())?;
        }
        prop_assert_eq!(
            peer.doc.pending_len(),
            0,
            "ops left pending after every op arrived"
        );
    }

    // One replica that applies every op in the order they were made.
    let mut reference = Doc::new(ReplicaId(0));
    for op in &sent {
        let applied = reference.apply(op.clone()).expect("op refused");
        prop_assert!(!applied.held, "op held though its causes came first");
    }
    let text = reference.text();
    for peer in &peers {
        prop_assert_eq!(
            &peer.doc.text(),
            &text,
            "replica {} differs",
            peer.doc.replica()
        );
        prop_assert_eq!(peer.doc.version(), reference.version());
        prop_assert_eq!(peer.doc.len(), text.chars().count());
    }
    Ok(())
}

proptest! {
    #[test]
    fn replicas_converge((ids, actions, seed) in scenario()) {
        check_convergence(&ids, &actions, seed)?;
    }
}

proptest! {
    // Long histories, so the sequence's tree grows several levels deep.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn replicas_converge_long_histories((ids, actions, seed) in scenario_of(2..=3, 600..1400)) {
        check_convergence(&ids, &actions, seed)?;
    }
}

// ---------------------------------------------------------------------------
// 3. Non-interleaving of concurrent runs
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Typing {
    /// Left to right: each char after the previous one.
    Forwards,
    /// Right to left: each char at the same position, before the previous one.
    Backwards,
    /// The whole run in one insert.
    AtOnce,
}

fn typing() -> impl Strategy<Value = Typing> {
    prop_oneof![
        Just(Typing::Forwards),
        Just(Typing::Backwards),
        Just(Typing::AtOnce)
    ]
}

fn type_run(doc: &mut Doc, pos: usize, run: &str, typing: Typing) {
    let chars: Vec<char> = run.chars().collect();
    match typing {
        Typing::Forwards => {
            for (i, c) in chars.iter().enumerate() {
                doc.insert(pos + i, &c.to_string()).unwrap();
            }
        }
        Typing::Backwards => {
            for c in chars.iter().rev() {
                doc.insert(pos, &c.to_string()).unwrap();
            }
        }
        Typing::AtOnce => doc.insert(pos, run).unwrap(),
    }
}

proptest! {
    #[test]
    fn concurrent_runs_never_interleave(
        base in "[0-9]{0,6}",
        at in any::<u16>(),
        (n, m) in (1usize..=8, 1usize..=8),
        (typing_a, typing_b) in (typing(), typing()),
        ids in proptest::collection::btree_set(1u64..1000, 3).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        seed in any::<u64>(),
    ) {
        // Replica ids in random order, so either run may win the tie-break.
        let mut ids = ids;
        shuffle(&mut ids, seed);
        let (mut a, mut b, mut c) = (Doc::new(ReplicaId(ids[0])), Doc::new(ReplicaId(ids[1])), Doc::new(ReplicaId(ids[2])));
        // The base text is typed by c and known to all.
        c.insert(0, &base).ok();
        for op in c.ops_since(&VersionVector::new()) {
            a.apply(op.clone()).unwrap();
            b.apply(op).unwrap();
        }
        let base_version = c.version();
        let pos = at as usize % (base.len() + 1);
        let run_a: String = "abcdefgh".chars().take(n).collect();
        let run_b: String = "ABCDEFGH".chars().take(m).collect();
        type_run(&mut a, pos, &run_a, typing_a);
        type_run(&mut b, pos, &run_b, typing_b);
        let ops_a = a.ops_since(&base_version);
        let ops_b = b.ops_since(&base_version);

        // a gets b's ops in order, b gets a's in reverse (held, then released),
        // c gets them interleaved.
        for op in &ops_b {
            a.apply(op.clone()).unwrap();
        }
        for op in ops_a.iter().rev() {
            b.apply(op.clone()).unwrap();
        }
        let mut mixed: Vec<&Op> = ops_a.iter().chain(&ops_b).collect();
        shuffle(&mut mixed, seed ^ 0x5555);
        for op in mixed {
            c.apply(op.clone()).unwrap();
        }

        let (before, after) = base.split_at(pos);
        let ab = format!("{before}{run_a}{run_b}{after}");
        let ba = format!("{before}{run_b}{run_a}{after}");
        let text = a.text();
        prop_assert!(text == ab || text == ba, "interleaved: {:?} (runs {:?} {:?}, {:?}/{:?})", text, run_a, run_b, typing_a, typing_b);
        prop_assert_eq!(b.text(), text.clone(), "b differs");
        prop_assert_eq!(c.text(), text, "c differs");
        prop_assert_eq!(a.pending_len() + b.pending_len() + c.pending_len(), 0);
    }
}

// ---------------------------------------------------------------------------
// 4. ops_since returns exactly what is missing
// ---------------------------------------------------------------------------

/// Checks that `ops` cover exactly the counters `source` has and `v` lacks:
/// per replica, the spans tile `v[r]..source[r]` with no gap and no overlap.
fn assert_exact_cover(
    ops: &[Op],
    source: &VersionVector,
    v: &VersionVector,
) -> Result<(), TestCaseError> {
    let mut spans: BTreeMap<ReplicaId, Vec<IdSpan>> = BTreeMap::new();
    for op in ops {
        let span = op.span();
        prop_assert!(span.len > 0, "empty op returned");
        prop_assert!(
            span.start.counter >= v.get(span.start.replica),
            "op {:?} overlaps what v already has",
            span
        );
        spans.entry(span.start.replica).or_default().push(span);
    }
    for (replica, mut list) in spans.clone() {
        list.sort();
        let mut at = v.get(replica);
        for span in list {
            prop_assert_eq!(span.start.counter, at, "gap or overlap at {:?}", span);
            at = span.end_counter();
        }
        prop_assert_eq!(
            at,
            source.get(replica),
            "ops for {} end at the wrong counter",
            replica
        );
    }
    for (replica, have) in source.iter() {
        if have > v.get(replica) {
            prop_assert!(
                spans.contains_key(&replica),
                "nothing returned for {}",
                replica
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn ops_since_is_exact((ids, actions, _seed) in scenario()) {
        let History { peers, mut snapshots, .. } = run(&ids, &actions)?;
        snapshots.push(Doc::new(ReplicaId(0)));
        for source in &peers {
            let source = &source.doc;
            let have = source.version();
            for snapshot in &snapshots {
                let v = snapshot.version();
                let ops = source.ops_since(&v);
                assert_exact_cover(&ops, &have, &v)?;

                // A replica at v applies them at once and gets the union.
                let mut copy = snapshot.clone();
                for op in ops {
                    let span = op.span();
                    copy.apply(op).expect("op from ops_since refused");
                    // Applied at once, not held: ops_since is in causal order.
                    prop_assert!(
                        copy.version().contains_span(&span),
                        "ops_since is not in causal order: {:?} held by a replica at {:?} (source at {:?})",
                        span, v, have
                    );
                }
                // The union of both; more only if ops the snapshot held
                // waiting were released by what arrived.
                let mut union = v.clone();
                union.merge(&have);
                if snapshot.pending_len() == 0 {
                    prop_assert_eq!(copy.version(), union);
                    if have.dominates(&v) {
                        prop_assert_eq!(copy.text(), source.text(), "a replica at v did not get the full text");
                    }
                } else {
                    prop_assert!(copy.version().dominates(&union));
                }
            }
            // Versions no replica had: an unknown replica, counters cut short
            // or past the end.
            let mut odd = have.clone();
            odd.set(ReplicaId(u64::MAX), 3);
            if let Some((r, n)) = have.iter().next() {
                odd.set(r, n / 2);
            }
            if let Some((r, n)) = have.iter().last() {
                odd.set(r, n + 10);
            }
            assert_exact_cover(&source.ops_since(&odd), &have, &odd)?;
        }
    }
}
