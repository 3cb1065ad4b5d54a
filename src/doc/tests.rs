use super::sequence::{Piece, Sequence};
use super::*;

fn r(n: u64) -> ReplicaId {
    ReplicaId(n)
}

/// Sends everything each doc has to every other doc.
fn sync_all(docs: &mut [Doc]) {
    for i in 0..docs.len() {
        for j in 0..docs.len() {
            if i != j {
                let ops = docs[i].ops_since(docs[j].version_ref());
                for op in ops {
                    docs[j].apply(op).unwrap();
                }
            }
        }
    }
}

#[test]
fn local_edits() {
    let mut d = Doc::new(r(1));
    d.insert(0, "hello").unwrap();
    d.insert(5, " world").unwrap();
    d.insert(0, "¡").unwrap();
    assert_eq!(d.text(), "¡hello world");
    d.delete(1, 5).unwrap();
    assert_eq!(d.text(), "¡ world");
    assert_eq!(d.len(), 7);
    assert!(d.insert(8, "x").is_err());
    assert!(d.delete(5, 3).is_err());
    assert!(d.delete(usize::MAX, 2).is_err());
    assert_eq!(d.text(), "¡ world");
}

#[test]
fn backspacing_is_one_span() {
    let mut d = Doc::new(r(1));
    d.insert(0, "hello world").unwrap();
    for pos in (5..11).rev() {
        d.delete(pos, 1).unwrap();
    }
    let ops = d.ops_since(&VersionVector::new());
    assert_eq!(ops.len(), 2);
    match &ops[1].kind {
        OpKind::Delete { targets } => assert_eq!(targets.len(), 1),
        k => panic!("{k:?}"),
    }
    // A slice of the backward span deletes the right chars.
    let mut e = Doc::new(r(2));
    e.apply(ops[0].clone()).unwrap();
    e.apply(ops[1].slice(0, 2)).unwrap();
    assert_eq!(e.text(), "hello wor");
    e.apply(ops[1].clone()).unwrap();
    assert_eq!(e.text(), d.text());
}

#[test]
fn history_round_trips_and_rejects_damage() {
    let mut a = Doc::new(r(1));
    a.insert(0, "héllo wörld").unwrap();
    a.delete(2, 3).unwrap();
    for pos in (3..6).rev() {
        a.delete(pos, 1).unwrap();
    }
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    b.insert(1, "ab").unwrap();
    for op in b.ops_since(a.version_ref()) {
        a.apply(op).unwrap();
    }
    let bytes = a.encode_history();
    let c = Doc::decode_history(r(3), &bytes).unwrap();
    assert_eq!(c.text(), a.text());
    assert_eq!(c.version(), a.version());
    assert_eq!(
        c.ops_since(&VersionVector::new()),
        a.ops_since(&VersionVector::new())
    );
    // Every truncation and every flipped byte is an error or a valid doc, never a panic.
    for n in 0..bytes.len() {
        let _ = Doc::decode_history(r(3), &bytes[..n]);
        let mut damaged = bytes.clone();
        damaged[n] ^= 0x5a;
        let _ = Doc::decode_history(r(3), &damaged);
    }
    assert!(Doc::decode_history(r(3), b"nope").is_err());
}

/// The small two-replica history of `history_round_trips_and_rejects_damage`
/// (a multi-span delete, a Backspace burst, a concurrent insert).
fn two_replica_history() -> Doc {
    let mut a = Doc::new(r(1));
    a.insert(0, "héllo wörld").unwrap();
    a.delete(2, 3).unwrap();
    for pos in (3..6).rev() {
        a.delete(pos, 1).unwrap();
    }
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    b.insert(1, "ab").unwrap();
    b.delete(0, 4).unwrap();
    for op in b.ops_since(a.version_ref()) {
        a.apply(op).unwrap();
    }
    a.insert(2, "xy").unwrap();
    a
}

/// `two_replica_history` as the first history format (`RMH1`) wrote it,
/// byte for byte: files and peers of older versions still load.
const FIRST_FORMAT: &str = "524d48316362646265e0666060646362e064636066676262646064646661666060626462616064626062e46064cf38bc3227275fa1fcf0b6a29c94c4a48a4a00";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_history_of_the_first_format_still_loads() {
    let a = two_replica_history();
    let old = history::encode_first_format(&a);
    let printed: String = old.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(printed, FIRST_FORMAT, "the first format's bytes changed");
    assert_eq!(&old[..4], b"RMH1");
    assert_eq!(&a.encode_history()[..4], b"RMH2");
    let loaded = Doc::decode_history(r(3), &hex(FIRST_FORMAT)).unwrap();
    assert_eq!(loaded.text(), a.text());
    assert_eq!(loaded.version(), a.version());
    assert_eq!(
        loaded.ops_since(&VersionVector::new()),
        a.ops_since(&VersionVector::new())
    );
}

#[test]
fn typing_is_one_op() {
    let mut d = Doc::new(r(1));
    for (i, c) in "hello".chars().enumerate() {
        d.insert(i, &c.to_string()).unwrap();
    }
    let ops = d.ops_since(&VersionVector::new());
    assert_eq!(ops.len(), 1);
    assert_eq!(d.log_entries(), 1);
}

#[test]
fn remote_apply_and_duplicates() {
    let mut a = Doc::new(r(1));
    a.insert(0, "abc").unwrap();
    a.delete(1, 1).unwrap();
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op.clone()).unwrap();
        b.apply(op).unwrap();
    }
    assert_eq!(b.text(), "ac");
    assert_eq!(b.version(), a.version());
}

#[test]
fn early_ops_are_held_then_applied() {
    let mut a = Doc::new(r(1));
    a.insert(0, "abc").unwrap();
    a.insert(3, "def").unwrap();
    a.delete(0, 2).unwrap();
    let mut ops = a.ops_since(&VersionVector::new());
    ops.reverse();
    let mut b = Doc::new(r(2));
    for op in ops {
        b.apply(op).unwrap();
    }
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.text(), a.text());
}

#[test]
fn a_held_op_received_again_is_held_once() {
    let mut a = Doc::new(r(1));
    a.insert(0, "abc").unwrap();
    a.insert(3, "def").unwrap();
    a.delete(0, 1).unwrap();
    let ops = a.ops_since(&VersionVector::new());
    let mut b = Doc::new(r(2));
    for _ in 0..5 {
        assert!(b.apply(ops[1].clone()).unwrap().held);
    }
    assert_eq!(b.pending_len(), 1);
    b.apply(ops[0].clone()).unwrap();
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.text(), a.text());
}

#[test]
fn conflicting_reuse_of_an_id_is_refused() {
    let mut a = Doc::new(r(1));
    a.insert(0, "abc").unwrap();
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    let forged = Op {
        id: Id::new(r(1), 0),
        kind: OpKind::Insert {
            left: None,
            right: None,
            text: "xyz".into(),
        },
    };
    assert!(matches!(b.apply(forged), Err(Error::Conflict(_))));
    assert_eq!(b.text(), "abc");
}

fn concurrent(a_text: &str, b_text: &str, backwards: bool) -> String {
    let mut base = Doc::new(r(9));
    base.insert(0, "[]").unwrap();
    let mut docs = vec![base.clone(), base.clone()];
    docs[0] = Doc::new(r(1));
    docs[1] = Doc::new(r(2));
    for op in base.ops_since(&VersionVector::new()) {
        docs[0].apply(op.clone()).unwrap();
        docs[1].apply(op).unwrap();
    }
    for (d, t) in docs.iter_mut().zip([a_text, b_text]) {
        for (i, c) in t.chars().enumerate() {
            let pos = if backwards { 1 } else { 1 + i };
            d.insert(pos, &c.to_string()).unwrap();
        }
    }
    sync_all(&mut docs);
    assert_eq!(docs[0].text(), docs[1].text());
    docs[0].text()
}

#[test]
fn concurrent_runs_do_not_interleave() {
    let t = concurrent("abc", "xyz", false);
    assert!(t == "[abcxyz]" || t == "[xyzabc]", "{t}");
    let t = concurrent("abc", "xyz", true);
    assert!(t == "[cbazyx]" || t == "[zyxcba]", "{t}");
}

/// A tiny deterministic generator, so this test needs no dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// One local edit: a delete of 1-3 chars (a third of the time) or an
/// insert of 1-3 random letters, anywhere.
fn random_edit(d: &mut Doc, rng: &mut Lcg) {
    let len = d.len() as u64;
    if len > 0 && rng.next(3) == 0 {
        let pos = rng.next(len);
        let del = 1 + rng.next((len - pos).min(3));
        d.delete(pos as usize, del as usize).unwrap();
    } else {
        let pos = rng.next(len + 1) as usize;
        let s: String = (0..1 + rng.next(3))
            .map(|_| (b'a' + rng.next(26) as u8) as char)
            .collect();
        d.insert(pos, &s).unwrap();
    }
}

#[test]
fn random_concurrent_edits_converge() {
    for seed in 0..200 {
        let mut rng = Lcg(seed);
        let n = 2 + rng.next(3) as usize;
        let mut docs: Vec<Doc> = (0..n).map(|i| Doc::new(r(i as u64 + 1))).collect();
        for _round in 0..4 {
            for d in docs.iter_mut() {
                for _ in 0..rng.next(6) {
                    random_edit(d, &mut rng);
                }
            }
            // Partial, shuffled, duplicated exchange between random pairs.
            for _ in 0..n {
                let (i, j) = (rng.next(n as u64) as usize, rng.next(n as u64) as usize);
                if i == j {
                    continue;
                }
                let mut ops = docs[i].ops_since(docs[j].version_ref());
                for k in (1..ops.len()).rev() {
                    ops.swap(k, rng.next(k as u64 + 1) as usize);
                }
                for op in ops {
                    docs[j].apply(op.clone()).unwrap();
                    if rng.next(4) == 0 {
                        docs[j].apply(op).unwrap();
                    }
                }
            }
        }
        sync_all(&mut docs);
        let mut fresh = Doc::new(r(100));
        for op in docs[0].ops_since(&VersionVector::new()) {
            fresh.apply(op).unwrap();
        }
        for d in &docs {
            assert_eq!(d.text(), docs[0].text(), "seed {seed}");
            assert_eq!(d.pending_len(), 0);
        }
        assert_eq!(fresh.text(), docs[0].text(), "seed {seed}");
    }
}

/// Each char of a sequence as (id, deleted), from either implementation.
fn expand(runs: impl Iterator<Item = (Id, u64, bool)>) -> Vec<(Id, bool)> {
    runs.flat_map(|(id, len, deleted)| (0..len).map(move |k| (id.add(k), deleted)))
        .collect()
}

fn tree_chars(s: &sequence::Sequence) -> Vec<(Id, bool)> {
    expand(s.pieces().map(|p| (p.id, p.len as u64, p.deleted)))
}

fn flat_chars(s: &flat_sequence::FlatSequence) -> Vec<(Id, bool)> {
    expand(s.runs().map(|r| (r.id, r.len, r.deleted)))
}

/// The indexed tree and the flat reference, driven by the same local edits
/// (enough of them to build a tree several levels deep), agree on every
/// origin, every deleted span and the final order.
#[test]
fn tree_matches_flat_reference_for_local_edits() {
    let mut rng = Lcg(7);
    let mut tree = sequence::Sequence::default();
    let mut flat = flat_sequence::FlatSequence::default();
    let mut log = oplog::OpLog::default();
    let me = r(1);
    let mut counter = 0;
    for _ in 0..6000 {
        let len = tree.visible_len() as u64;
        assert_eq!(len as usize, flat.visible_len());
        if len > 0 && rng.next(3) == 0 {
            let pos = rng.next(len) as usize;
            let n = 1 + rng.next((len - pos as u64).min(4)) as usize;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            tree.delete_local(pos, n, &mut a, &log);
            flat.delete_local(pos, n, &mut b);
            assert_eq!(a, b);
            log.push_delete(Id::new(me, counter), &a, n as u64);
            counter += n as u64;
        } else {
            let pos = rng.next(len + 1) as usize;
            let n = 1 + rng.next(3);
            let id = Id::new(me, counter);
            let origins = tree.insert_local(pos, id, n, &log);
            assert_eq!(origins, flat.insert_local(pos, id, n));
            log.push_insert(id, origins.0, origins.1, &"x".repeat(n as usize), n);
            counter += n;
        }
        if counter % 64 < 4 {
            tree.check();
        }
    }
    assert_eq!(tree_chars(&tree), flat_chars(&flat));
}

/// Remote integration of concurrent histories: same positions, same order.
#[test]
fn tree_matches_flat_reference_for_remote_ops() {
    for seed in 0..20 {
        let mut rng = Lcg(seed);
        let mut docs: Vec<Doc> = (0..3).map(|i| Doc::new(r(i + 1))).collect();
        for _round in 0..30 {
            for d in docs.iter_mut() {
                for _ in 0..rng.next(20) {
                    random_edit(d, &mut rng);
                }
            }
            let (i, j) = (rng.next(3) as usize, rng.next(3) as usize);
            if i != j {
                for op in docs[i].ops_since(docs[j].version_ref()) {
                    docs[j].apply(op).unwrap();
                }
            }
        }
        sync_all(&mut docs);
        let mut tree = sequence::Sequence::default();
        let mut flat = flat_sequence::FlatSequence::default();
        let mut log = oplog::OpLog::default();
        for (i, op) in docs[0]
            .ops_since(&VersionVector::new())
            .into_iter()
            .enumerate()
        {
            let len = op.len();
            match op.kind.clone() {
                OpKind::Insert { left, right, .. } => {
                    let a = tree
                        .integrate(op.id, len, left, right, &log, &VersionVector::new())
                        .unwrap();
                    let b = flat.integrate(op.id, len, left, right);
                    assert_eq!(a, b, "seed {seed}");
                }
                OpKind::Delete { targets } => {
                    for t in targets.iter().filter_map(|t| t.ids()) {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        tree.delete_span(t, &log, |p, n| a.push((p, n)));
                        flat.delete_span(t, |p, n| b.push((p, n)));
                        assert_eq!(a, b, "seed {seed}");
                    }
                }
            }
            log.push(&op, len);
            if i % 16 == 0 {
                tree.check();
            }
        }
        tree.check();
        assert_eq!(tree_chars(&tree), flat_chars(&flat), "seed {seed}");
        assert!(docs.iter().all(|d| d.text() == docs[0].text()));
    }
}

/// The body of a history: its bytes after the magic, inflated.
fn inflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut body = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[4..])
        .read_to_end(&mut body)
        .unwrap();
    body
}

fn deflate(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(body).unwrap();
    z.finish().unwrap()
}

/// A random concurrent history among three replicas, as one replica
/// (`docs[0]`) holds it: partly synced, so its log mixes all three.
fn random_history(seed: u64, rounds: usize) -> Doc {
    let mut rng = Lcg(seed);
    let mut docs: Vec<Doc> = (0..3).map(|i| Doc::new(r(i + 1))).collect();
    for _round in 0..rounds {
        for d in docs.iter_mut() {
            for _ in 0..rng.next(20) {
                random_edit(d, &mut rng);
            }
        }
        let (i, j) = (rng.next(3) as usize, rng.next(3) as usize);
        if i != j {
            for op in docs[i].ops_since(docs[j].version_ref()) {
                docs[j].apply(op).unwrap();
            }
        }
    }
    docs.swap_remove(0)
}

/// `old` and `new`, two encodings of `doc`, load as the same replica: its
/// text, version, stats, pieces and ops.
fn both_load_as(
    doc: &Doc,
    old: &[u8],
    new: &[u8],
) -> Result<(), proptest::test_runner::TestCaseError> {
    let (a, b) = (
        Doc::decode_history(r(9), old).unwrap(),
        Doc::decode_history(r(9), new).unwrap(),
    );
    proptest::prop_assert_eq!(a.text(), doc.text());
    proptest::prop_assert_eq!(b.text(), doc.text());
    proptest::prop_assert_eq!(a.version(), b.version());
    proptest::prop_assert_eq!(a.stats(), b.stats());
    let pieces = |d: &Doc| d.seq.pieces().copied().collect::<Vec<_>>();
    proptest::prop_assert_eq!(pieces(&a), pieces(&b));
    proptest::prop_assert!(
        a.ops_since(&VersionVector::new()) == b.ops_since(&VersionVector::new())
    );
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Both history formats load as the same replica: the first (`RMH1`,
    /// what older versions wrote and stored) and the columns (`RMH2`).
    #[test]
    fn both_history_formats_load_the_same(seed in 0u64..u64::MAX, rounds in 1usize..30) {
        let doc = random_history(seed, rounds);
        let (old, new) = (history::encode_first_format(&doc), doc.encode_history());
        proptest::prop_assert_eq!(&old[..4], b"RMH1");
        proptest::prop_assert_eq!(&new[..4], b"RMH2");
        both_load_as(&doc, &old, &new)?;
    }

    /// Snapshots load the same from either op layout: `RMS2` (what older
    /// versions wrote, also sent by older peers) and `RMS3` (columns),
    /// with or without history cleaned up.
    #[test]
    fn both_snapshot_formats_load_the_same(seed in 0u64..u64::MAX, rounds in 1usize..30, clean in proptest::prelude::any::<bool>()) {
        let mut doc = random_history(seed, rounds);
        if clean {
            doc.collect(&doc.version());
        }
        let (old, new) = (history::encode_snapshot_first_format(&doc), doc.encode_snapshot());
        proptest::prop_assert_eq!(&old[..4], b"RMS2");
        proptest::prop_assert_eq!(&new[..4], b"RMS3");
        both_load_as(&doc, &old, &new)?;
    }

    /// A history or snapshot body damaged inside the deflate stream (so
    /// the damage reaches the op reader, not just the inflater): an error
    /// or a consistent replica, never a panic.
    #[test]
    fn damaged_history_bodies_never_panic(
        seed in 0u64..u64::MAX,
        rounds in 1usize..10,
        hits in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 1..4),
        cut in proptest::option::of(proptest::prelude::any::<u16>()),
        kind in 0u8..4,
    ) {
        let doc = random_history(seed, rounds);
        let bytes = match kind {
            0 => history::encode_first_format(&doc),
            1 => doc.encode_history(),
            2 => history::encode_snapshot_first_format(&doc),
            _ => doc.encode_snapshot(),
        };
        let mut body = inflate(&bytes);
        for (at, byte) in hits {
            let i = at as usize % body.len();
            body[i] = byte;
        }
        if let Some(c) = cut {
            body.truncate(c as usize % body.len());
        }
        let mut damaged = bytes[..4].to_vec();
        damaged.extend(deflate(&body));
        if let Ok(loaded) = Doc::decode_history(r(5), &damaged) {
            proptest::prop_assert_eq!(loaded.text().chars().count(), loaded.len());
        }
    }

    /// A history loaded in one pass (`decode_history`, `doc::replay`) is
    /// the replica op-by-op `apply` builds (same pieces, log, text,
    /// version, tombstones), its order is the flat reference model's, and
    /// it goes on merging like it.
    #[test]
    fn one_pass_load_matches_apply_and_flat_reference(seed in 0u64..u64::MAX, rounds in 1usize..30) {
        let doc = random_history(seed, rounds);
        let ops = doc.ops_since(&VersionVector::new());
        let mut applied = Doc::new(r(9));
        let mut flat = flat_sequence::FlatSequence::default();
        for op in &ops {
            applied.apply(op.clone()).unwrap();
            match &op.kind {
                OpKind::Insert { left, right, .. } => {
                    flat.integrate(op.id, op.len(), *left, *right);
                }
                OpKind::Delete { targets } => {
                    for t in targets.iter().filter_map(|t| t.ids()) {
                        flat.delete_span(t, |_, _| {});
                    }
                }
            }
        }
        let mut loaded = Doc::decode_history(r(9), &doc.encode_history()).unwrap();
        loaded.seq.check();
        proptest::prop_assert_eq!(loaded.text(), applied.text());
        proptest::prop_assert_eq!(loaded.text(), doc.text());
        proptest::prop_assert_eq!(loaded.version(), applied.version());
        proptest::prop_assert_eq!(loaded.stats(), applied.stats());
        let pieces = |d: &Doc| d.seq.pieces().copied().collect::<Vec<_>>();
        proptest::prop_assert_eq!(pieces(&loaded), pieces(&applied));
        proptest::prop_assert_eq!(tree_chars(&loaded.seq), flat_chars(&flat));
        proptest::prop_assert!(loaded.ops_since(&VersionVector::new()) == ops);
        // Both go on the same way: local edits, then a remote replica's.
        let mut rng = Lcg(seed ^ 0x5eed);
        for _ in 0..20 {
            let mut probe = Lcg(rng.0);
            random_edit(&mut loaded, &mut rng);
            random_edit(&mut applied, &mut probe);
        }
        proptest::prop_assert_eq!(loaded.text(), applied.text());
        proptest::prop_assert_eq!(pieces(&loaded), pieces(&applied));
    }
}

/// `doc`'s history loaded in one pass and applied op by op give the same
/// replica (pieces, text, version, stats, log), with an id index that
/// finds every piece (`Sequence::check`), and both go on the same way.
fn load_equals_apply(doc: &Doc, seed: u64) {
    let ops = doc.ops_since(&VersionVector::new());
    let mut applied = Doc::new(r(9));
    for op in &ops {
        applied.apply(op.clone()).unwrap();
    }
    let mut loaded = Doc::decode_history(r(9), &doc.encode_history()).unwrap();
    loaded.seq.check();
    let pieces = |d: &Doc| d.seq.pieces().copied().collect::<Vec<_>>();
    assert_eq!(loaded.text(), applied.text());
    assert_eq!(loaded.text(), doc.text());
    assert_eq!(loaded.version(), applied.version());
    assert_eq!(loaded.stats(), applied.stats());
    assert_eq!(pieces(&loaded), pieces(&applied));
    assert!(loaded.ops_since(&VersionVector::new()) == ops);
    let mut rng = Lcg(seed ^ 0x5eed);
    for _ in 0..200 {
        let mut probe = Lcg(rng.0);
        random_edit(&mut loaded, &mut rng);
        random_edit(&mut applied, &mut probe);
    }
    loaded.seq.check();
    assert_eq!(loaded.text(), applied.text());
    assert_eq!(pieces(&loaded), pieces(&applied));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// Long histories (hundreds of leaves, leaves split many times while
    /// loading, three replicas) load as `apply` builds them: the one-pass
    /// load finds ids through a slot per id and builds the id index once
    /// at the end (`Sequence::begin_load`, `end_load`).
    #[test]
    fn one_pass_load_of_long_histories_matches_apply(seed in 0u64..u64::MAX, rounds in 30usize..150) {
        load_equals_apply(&random_history(seed, rounds), seed);
    }
}

#[test]
fn a_history_with_far_more_ids_than_chars_loads_through_the_id_index() {
    // 5,000 deletes of the same two chars by another replica: 10,000 ids
    // of deletes for 40 chars, past what the one-pass load gives a slot
    // per id (`history::load_counts`); it keeps the id index as it goes.
    let mut doc = Doc::new(r(1));
    let mut rng = Lcg(7);
    for _ in 0..40 {
        random_edit(&mut doc, &mut rng);
    }
    let first = doc.seq.pieces().find(|p| !p.deleted).unwrap().id;
    let target = TargetSpan::forward(IdSpan::new(first, 1));
    for i in 0..5_000 {
        doc.log.push_delete(Id::new(r(2), i), &[target], 1);
    }
    doc.version.set(r(2), 5_000);
    let mut applied = Doc::new(r(9));
    for op in doc.ops_since(&VersionVector::new()) {
        applied.apply(op).unwrap();
    }
    let loaded = Doc::decode_history(r(9), &doc.encode_history()).unwrap();
    loaded.seq.check();
    assert_eq!(loaded.text(), applied.text());
    assert_eq!(loaded.stats(), applied.stats());
    let pieces = |d: &Doc| d.seq.pieces().copied().collect::<Vec<_>>();
    assert_eq!(pieces(&loaded), pieces(&applied));
}

#[test]
fn one_pass_load_refuses_what_apply_refuses() {
    // An insert naming the id of a delete as its origin.
    let mut a = Doc::new(r(1));
    a.insert(0, "ab").unwrap();
    a.delete(0, 1).unwrap();
    let mut forged = a.clone();
    forged
        .apply(Op {
            id: Id::new(r(2), 0),
            kind: OpKind::Insert {
                left: Some(Id::new(r(1), 1)),
                right: None,
                text: "x".into(),
            },
        })
        .unwrap();
    // Made valid, then the origin rewritten in the log to the delete's id.
    forged.log = {
        let mut log = oplog::OpLog::default();
        for op in forged.ops_since(&VersionVector::new()) {
            let op = match op.kind {
                OpKind::Insert { text, .. } if op.id.replica == r(2) => Op {
                    id: op.id,
                    kind: OpKind::Insert {
                        left: Some(Id::new(r(1), 2)),
                        right: None,
                        text,
                    },
                },
                _ => op,
            };
            let len = op.len();
            log.push(&op, len);
        }
        log
    };
    assert_eq!(
        Doc::decode_history(r(3), &forged.encode_history()).err(),
        Some(NAMES_A_DELETE)
    );
    // Another replica's delete naming the id of a delete (counter 2
    // deleted "a").
    let mut forged = a.clone();
    let target = TargetSpan::forward(IdSpan::new(Id::new(r(1), 2), 1));
    forged.log.push_delete(Id::new(r(2), 0), &[target], 1);
    forged.version.set(r(2), 1);
    assert_eq!(
        Doc::decode_history(r(3), &forged.encode_history()).err(),
        Some(NAMES_A_DELETE)
    );
    // And a delete naming a char that is there loads.
    let mut fine = a.clone();
    let target = TargetSpan::forward(IdSpan::new(Id::new(r(1), 1), 1));
    fine.log.push_delete(Id::new(r(2), 0), &[target], 1);
    fine.version.set(r(2), 1);
    let loaded = Doc::decode_history(r(3), &fine.encode_history()).unwrap();
    assert_eq!(loaded.text(), "");
}

#[test]
fn held_ops_are_bounded_in_bytes() {
    let mut d = Doc::new(r(1));
    let text = "x".repeat(64 << 10);
    let early = |k: u64| Op {
        id: Id::new(r(2), k * (64 << 10)),
        kind: OpKind::Insert {
            left: Some(Id::new(r(9), 0)), // never arrives
            right: None,
            text: text.clone(),
        },
    };
    let fits = pending::MAX_PENDING_BYTES / pending::held_cost(&early(0));
    for k in 0..fits as u64 {
        assert!(d.apply(early(k)).unwrap().held);
    }
    assert_eq!(d.apply(early(fits as u64)), Err(Error::PendingFull));
    assert_eq!(d.pending_len(), fits);
    assert_eq!(d.text(), "");
}

#[test]
fn id_at_and_position_of_follow_a_char_through_remote_edits() {
    let mut a = Doc::new(ReplicaId(1));
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "hello world").unwrap();
    for op in a.ops_since(&VersionVector::default()) {
        b.apply(op).unwrap();
    }
    let w = a.id_at(6).unwrap(); // the 'w'
    assert_eq!(a.id_at(11), None);
    assert_eq!(a.position_of(w), Some((6, true)));
    let seen = b.version();
    b.insert(0, ">> ").unwrap();
    b.delete(3, 2).unwrap(); // "he"
    for op in b.ops_since(&seen) {
        a.apply(op).unwrap();
    }
    assert_eq!(a.text(), ">> llo world");
    assert_eq!(a.position_of(w), Some((7, true)));
    assert_eq!(a.id_at(7), Some(w));
    a.delete(7, 1).unwrap();
    assert_eq!(a.position_of(w), Some((7, false)));
    assert_eq!(a.position_of(Id::new(ReplicaId(9), 0)), None);
    for pos in 0..a.len() {
        assert_eq!(a.position_of(a.id_at(pos).unwrap()), Some((pos, true)));
    }
}

#[test]
fn snapshot_loads_the_same_replica_and_rejects_damage() {
    let mut a = Doc::new(r(1));
    a.insert(0, "héllo wörld").unwrap();
    a.delete(2, 3).unwrap();
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    b.insert(1, "ab").unwrap();
    a.insert(4, "xyz").unwrap();
    for op in b.ops_since(a.version_ref()) {
        a.apply(op).unwrap();
    }
    let bytes = a.encode_snapshot();
    let mut c = Doc::decode_history(r(3), &bytes).unwrap();
    c.seq.check();
    assert_eq!(c.text(), a.text());
    assert_eq!(c.version(), a.version());
    assert_eq!(
        c.seq.pieces().collect::<Vec<_>>(),
        a.seq.pieces().collect::<Vec<_>>()
    );
    assert_eq!(
        c.ops_since(&VersionVector::new()),
        a.ops_since(&VersionVector::new())
    );
    // The loaded replica goes on like the original: local and remote edits.
    c.insert(2, "Q").unwrap();
    for op in c.ops_since(a.version_ref()) {
        a.apply(op).unwrap();
    }
    assert_eq!(a.text(), c.text());
    for n in 0..bytes.len() {
        let _ = Doc::decode_history(r(3), &bytes[..n]);
        let mut damaged = bytes.clone();
        damaged[n] ^= 0x5a;
        if let Ok(d) = Doc::decode_history(r(3), &damaged) {
            d.seq.check();
            assert_eq!(d.text().chars().count(), d.len());
        }
    }
}

#[test]
fn a_snapshot_whose_pieces_lie_is_refused() {
    let mut a = Doc::new(r(1));
    a.insert(0, "abcdef").unwrap();
    a.delete(1, 2).unwrap();
    let good = a.encode_snapshot();
    // Re-encode with a forged order: the deleted flag moved, a piece
    // duplicated, a piece dropped.
    let pieces: Vec<Piece> = a.seq.pieces().copied().collect();
    let forge = |pieces: Vec<Piece>| {
        let mut d = a.clone();
        d.seq = Sequence::from_pieces(&pieces);
        d.encode_snapshot()
    };
    let mut flipped = pieces.clone();
    flipped[0].deleted = !flipped[0].deleted;
    let mut doubled = pieces.clone();
    doubled.push(pieces[0]);
    let dropped = pieces[1..].to_vec();
    for bytes in [forge(flipped), forge(doubled), forge(dropped)] {
        assert!(Doc::decode_history(r(2), &bytes).is_err());
    }
    assert_eq!(Doc::decode_history(r(2), &good).unwrap().text(), "adef");
}

#[test]
fn absorbing_a_snapshot_keeps_our_own_unsent_ops() {
    let mut big = Doc::new(r(1));
    big.insert(0, "the shared text").unwrap();
    let mut newcomer = Doc::new(r(2));
    newcomer.insert(0, "mine ").unwrap();
    let (patch, version) = newcomer.absorb_snapshot(&big.encode_snapshot()).unwrap();
    assert_eq!(version, big.version());
    assert_eq!(patch.deleted, 5);
    assert_eq!(patch.inserted, newcomer.len());
    assert_eq!(newcomer.replica(), r(2));
    for op in newcomer.ops_since(big.version_ref()) {
        big.apply(op).unwrap();
    }
    assert_eq!(newcomer.text(), big.text());
    assert!(newcomer.text().contains("mine "));
    assert!(newcomer.absorb_snapshot(b"RMS1garbage").is_err());
    assert_eq!(newcomer.text(), big.text());
}

/// A snapshot older than history this replica cleaned up (a late copy of
/// the one it joined by, resent after it restarted: swarm seed 81897) is
/// refused and changes nothing; taken in, our ops past it waited for
/// causes the log no longer holds, and the replica rejoined for nothing.
#[test]
fn a_snapshot_older_than_our_cleanup_is_refused_and_changes_nothing() {
    let founder = Doc::new(r(1));
    let old = founder.encode_snapshot();
    let mut member = Doc::new(r(2));
    member.absorb_snapshot(&old).unwrap();
    member.insert(0, "typed, then partly deleted").unwrap();
    member.delete(0, 7).unwrap();
    member.insert(0, "kept ").unwrap();
    let mut peer = Doc::new(r(3));
    for op in member.ops_since(&VersionVector::new()) {
        peer.apply(op).unwrap();
    }
    assert!(member.collect(&member.version()) > 0);
    let (text, version) = (member.text(), member.version());
    assert_eq!(
        member.absorb_snapshot(&old).map(|_| ()),
        Err(Error::StaleSnapshot)
    );
    assert_eq!((member.text(), member.version()), (text, version));
    // Nor does one rejoin by it.
    assert_eq!(
        member.rejoin(&old, r(9)).map(|_| ()),
        Err(Error::StaleSnapshot)
    );
    // A snapshot that has what we cleaned up is taken in as before.
    peer.insert(0, "> ").unwrap();
    member.absorb_snapshot(&peer.encode_snapshot()).unwrap();
    assert_eq!(member.text(), peer.text());
}

#[test]
fn slice_is_the_text_between_two_positions() {
    let mut d = Doc::new(r(1));
    d.insert(0, "héllo wörld").unwrap();
    d.delete(0, 1).unwrap();
    d.insert(3, "✓").unwrap();
    let text: Vec<char> = d.text().chars().collect();
    for a in 0..=text.len() {
        for b in a..=text.len() {
            let want: String = text[a..b].iter().collect();
            assert_eq!(d.slice(a..b), Some(want));
        }
    }
    assert_eq!(d.slice(0..text.len() + 1), None);
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = d.slice(3..2);
    assert_eq!(backwards, None);
}

/// A cleaned-up snapshot's body (inflated) damaged byte by byte, then
/// deflated again so the damage reaches the checks: an error or a
/// consistent replica (its text as long as it says, editable), never a
/// panic.
#[test]
fn damaged_cleaned_up_snapshots_are_refused_or_consistent() {
    use std::io::{Read, Write};
    let mut docs = [Doc::new(r(1)), Doc::new(r(2))];
    let mut rng = Lcg(7);
    for round in 0..30 {
        for d in docs.iter_mut() {
            random_edit(d, &mut rng);
        }
        if round % 3 == 0 {
            sync_all(&mut docs);
        }
    }
    sync_all(&mut docs);
    let mut half = docs[0].version();
    half.set(r(2), half.get(r(2)) / 2);
    docs[0].collect(&half);
    docs[0].insert(0, "live ").unwrap();
    let bytes = docs[0].encode_snapshot();
    let loaded = Doc::decode_history(r(3), &bytes).unwrap();
    assert_eq!(loaded.text(), docs[0].text());
    let mut body = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[4..])
        .read_to_end(&mut body)
        .unwrap();
    let mut checked = 0;
    for at in 0..body.len() {
        for flip in [0x01u8, 0x5a, 0xff] {
            let mut damaged = body.clone();
            damaged[at] ^= flip;
            let mut out = bytes[..4].to_vec();
            let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
            z.write_all(&damaged).unwrap();
            out = z.finish().unwrap();
            if let Ok(mut d) = Doc::decode_history(r(3), &out) {
                assert_eq!(d.text().chars().count(), d.len());
                d.insert(d.len() / 2, "x").unwrap();
                if d.len() > 1 {
                    d.delete(0, 1).unwrap();
                }
            } else {
                checked += 1;
            }
        }
    }
    assert!(checked > body.len(), "most damage is caught");
}

/// `rejoin`: a replica whose ops the group will not take re-makes them, as a
/// new replica, on a member's cleaned-up snapshot, at the same places.
#[test]
fn rejoin_re_makes_unsent_edits_at_their_places() {
    let mut group = Doc::new(r(1));
    group.insert(0, "hello world, said the tombstones").unwrap();
    let mut away = Doc::new(r(2));
    for op in group.ops_since(&VersionVector::new()) {
        away.apply(op).unwrap();
    }
    // Away (never sent): a word before "world", "said" deleted, a typo fixed.
    away.insert(6, "big ").unwrap();
    let said = away.text().find("said").unwrap();
    away.delete(said, 5).unwrap();
    away.insert(0, "Xx").unwrap();
    away.delete(0, 1).unwrap();
    // Meanwhile the group deletes and cleans up.
    group.delete(11, 1).unwrap();
    group.insert(group.len(), "!").unwrap();
    let all = group.version();
    group.collect(&all);
    assert_eq!(group.collected(), &all);
    assert_eq!(group.log_entries(), 0);
    let (new, patch) = away.rejoin(&group.encode_snapshot(), r(3)).unwrap();
    assert_eq!(new.replica(), r(3));
    assert_eq!(new.text(), "xhello big world the tombstones!");
    assert_eq!((patch.deleted, patch.inserted), (away.len(), new.len()));
    // The group takes the re-made ops.
    for op in new.ops_since(group.version_ref()) {
        assert_eq!(op.id.replica, r(3));
        group.apply(op).unwrap();
    }
    assert_eq!(group.text(), new.text());
}

/// A snapshot's piece list checked against its ops, on documents of three
/// replicas with multi-byte text and runs typed across other replicas'
/// ops (one piece, several log entries). Honest changes load, with the
/// text in the order given (the order is trusted): a piece cut in two,
/// two pieces swapped, two pieces joined when they are one run of typing.
/// Lies are refused: a piece one char longer or shorter, its deleted flag
/// flipped, two pieces joined that are not one run.
#[test]
fn forged_piece_lists_are_refused_and_honest_ones_load() {
    let mut spread_pieces = 0;
    for seed in 0..12 {
        let mut docs = [Doc::new(r(1)), Doc::new(r(2)), Doc::new(r(3))];
        let mut rng = Lcg(seed);
        for round in 0..60 {
            for d in docs.iter_mut() {
                if rng.next(2) == 0 {
                    random_edit(d, &mut rng);
                } else {
                    // Go on typing where this replica last typed, if it can.
                    let text = ["é", "ü", "x", "✓y"][rng.next(4) as usize];
                    let own = d.version_ref().get(d.replica());
                    let at = (own > 0)
                        .then(|| d.position_of(Id::new(d.replica(), own - 1)))
                        .flatten()
                        .filter(|&(_, visible)| visible)
                        .map_or(d.len(), |(pos, _)| pos + 1);
                    d.insert(at, text).unwrap();
                }
            }
            if round % 5 == 0 {
                sync_all(&mut docs);
            }
        }
        sync_all(&mut docs);
        let a = &docs[0];
        let pieces: Vec<Piece> = a.seq.pieces().copied().collect();
        // Each piece's text, cut from the document in order.
        let mut rest: Vec<char> = a.text().chars().collect();
        let mut texts = Vec::new();
        for p in &pieces {
            let n = if p.deleted { 0 } else { p.len as usize };
            texts.push(rest.drain(..n).collect::<String>());
        }
        spread_pieces += pieces
            .iter()
            .filter(|p| {
                let entries = a.log.runs_of(p.id.replica);
                entries
                    .filter(|e| e.id.counter < p.end() && e.end() > p.id.counter)
                    .count()
                    > 1
            })
            .count();
        let forge = |pieces: &[Piece]| {
            let mut d = a.clone();
            d.seq = Sequence::from_pieces(pieces);
            Doc::decode_history(r(9), &d.encode_snapshot())
        };
        let loads_as = |pieces: &[Piece], text: String| {
            let d = forge(pieces).expect("an honest piece list loads");
            d.seq.check();
            assert_eq!(d.text(), text);
            assert_eq!(d.version(), a.version());
        };
        assert_eq!(forge(&pieces).unwrap().text(), a.text());
        for _ in 0..40 {
            let i = rng.next(pieces.len() as u64) as usize;
            let p = pieces[i];
            // Cut in two.
            if p.len > 1 {
                let mut cut = pieces.clone();
                let k = 1 + rng.next(p.len as u64 - 1) as u32;
                cut[i].len = k;
                let rest = Piece {
                    id: p.id.add(k as u64),
                    len: p.len - k,
                    ..p
                };
                cut.insert(i + 1, rest);
                loads_as(&cut, a.text());
            }
            // Swapped with another.
            let j = rng.next(pieces.len() as u64) as usize;
            let mut swapped = pieces.clone();
            swapped.swap(i, j);
            let mut order: Vec<usize> = (0..pieces.len()).collect();
            order.swap(i, j);
            loads_as(&swapped, order.iter().map(|&k| texts[k].as_str()).collect());
            // Longer, shorter, flipped.
            let mut longer = pieces.clone();
            longer[i].len += 1;
            assert!(forge(&longer).is_err(), "seed {seed}: piece {i} longer");
            if p.len > 1 {
                let mut shorter = pieces.clone();
                shorter[i].len -= 1;
                assert!(forge(&shorter).is_err(), "seed {seed}: piece {i} shorter");
            }
            let mut flipped = pieces.clone();
            flipped[i].deleted = !p.deleted;
            assert!(forge(&flipped).is_err(), "seed {seed}: piece {i} flipped");
            // Joined with the piece holding the next ids, if both are in
            // the same state: honest exactly when they are one run.
            let next = pieces
                .iter()
                .position(|q| q.id == p.id.add(p.len as u64) && q.deleted == p.deleted);
            if let Some(j) = next {
                let one_run = a.log.origins(pieces[j].id).unwrap()
                    == (
                        Some(p.id.add(p.len as u64 - 1)),
                        a.log.origins(p.id).unwrap().1,
                    );
                let mut joined = pieces.clone();
                joined[i].len += pieces[j].len;
                joined.remove(j);
                let mut order: Vec<usize> = (0..pieces.len()).filter(|&k| k != j).collect();
                let at = order.iter().position(|&k| k == i).unwrap();
                order.insert(at + 1, j);
                if one_run {
                    loads_as(&joined, order.iter().map(|&k| texts[k].as_str()).collect());
                } else {
                    assert!(forge(&joined).is_err(), "seed {seed}: not one run");
                }
            }
        }
    }
    assert!(spread_pieces > 0, "some piece spans several log entries");
    // Two ways for the next ids not to be one run: another left origin
    // (typed at the end after another replica's char), another right one
    // (typed after "ab", but before another replica's char).
    for (pos, left, right) in [
        (3, Some(Id::new(r(2), 0)), None),
        (2, Some(Id::new(r(1), 1)), Some(Id::new(r(2), 0))),
    ] {
        let mut docs = [Doc::new(r(1)), Doc::new(r(2))];
        docs[0].insert(0, "ab").unwrap();
        sync_all(&mut docs);
        docs[1].insert(2, "Z").unwrap();
        sync_all(&mut docs);
        docs[0].insert(pos, "c").unwrap();
        assert_eq!(docs[0].log.origins(Id::new(r(1), 2)), Some((left, right)));
        let mut pieces: Vec<Piece> = docs[0].seq.pieces().copied().collect();
        let at = |id: Id, pieces: &[Piece]| pieces.iter().position(|p| p.id == id).unwrap();
        let c = at(Id::new(r(1), 2), &pieces);
        pieces.remove(c);
        let ab = at(Id::new(r(1), 0), &pieces);
        pieces[ab].len += 1;
        let mut d = docs[0].clone();
        d.seq = Sequence::from_pieces(&pieces);
        assert!(Doc::decode_history(r(9), &d.encode_snapshot()).is_err());
    }
}

/// One op of `doc`'s replica: the counters `from .. to` of what it made.
fn own_part(doc: &Doc, from: u64, to: u64) -> Op {
    let before: VersionVector = [(doc.replica(), from)].into_iter().collect();
    let op = doc.ops_since(&before).remove(0);
    op.slice(0, to - from)
}

#[test]
fn a_duplicate_inside_a_long_insert_run_is_checked_without_walking_the_run() {
    // ASCII, two-byte, and mixed one- to four-byte chars.
    for unit in ["a", "é", "a→😀é"] {
        let mut a = Doc::new(r(1));
        let per = unit.chars().count();
        a.insert(0, &unit.repeat(300_000 / per)).unwrap();
        let len = a.len() as u64;
        let mut b = Doc::new(r(2));
        for op in a.ops_since(&VersionVector::new()) {
            b.apply(op).unwrap();
        }
        assert_eq!(b.log_entries(), 1, "one stored run");
        let dups: Vec<Op> = [len - 20, len / 2, 7]
            .into_iter()
            .map(|k| own_part(&a, k, k + 10))
            .collect();
        log_buffers::walked::take();
        for dup in dups {
            assert_eq!(b.apply(dup.clone()).unwrap(), Applied::default());
            let mut forged = dup.clone();
            if let OpKind::Insert { text, .. } = &mut forged.kind {
                *text = "z".repeat(10);
            }
            assert_eq!(b.apply(forged), Err(Error::Conflict(dup.id)));
        }
        let walked = log_buffers::walked::take();
        assert!(
            walked < 3000,
            "{unit:?}: stepped over {walked} stored chars for six 10-char duplicates"
        );
        // Serving the tail of the run to a peer that has the rest.
        let tail = a.ops_since(&[(r(1), len - 5)].into_iter().collect());
        assert_eq!(tail.len(), 1);
        assert_eq!(tail[0].len(), 5);
        let walked = log_buffers::walked::take();
        assert!(
            walked < 1000,
            "{unit:?}: stepped over {walked} for a 5-char tail"
        );
        assert_eq!(b.text(), a.text());
    }
}

#[test]
fn a_duplicate_inside_a_long_delete_run_is_checked_without_walking_the_run() {
    let mut a = Doc::new(r(1));
    a.insert(0, &"x".repeat(40_000)).unwrap();
    // Every other char, one at a time: one stored run of 20 000 spans.
    for k in 0..20_000 {
        a.delete(k, 1).unwrap();
    }
    assert_eq!(a.log_entries(), 2);
    let mut b = Doc::new(r(2));
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    let end = a.version().get(r(1));
    let dups: Vec<Op> = [end - 3, 40_000 + 10_000, 40_001]
        .into_iter()
        .map(|k| own_part(&a, k, k + 3))
        .collect();
    log_buffers::walked::take();
    for dup in dups {
        assert_eq!(b.apply(dup.clone()).unwrap(), Applied::default());
        let mut forged = dup.clone();
        if let OpKind::Delete { targets } = &mut forged.kind {
            targets[0].start.counter += 1;
        }
        assert!(matches!(b.apply(forged), Err(Error::Conflict(_))));
    }
    let walked = log_buffers::walked::take();
    assert!(
        walked < 2000,
        "stepped over {walked} stored spans for six duplicates"
    );
    let tail = a.ops_since(&[(r(1), end - 2)].into_iter().collect());
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].len(), 2);
    let walked = log_buffers::walked::take();
    assert!(walked < 1000, "stepped over {walked} for a 2-counter tail");
    assert_eq!(b.text(), a.text());
}

#[test]
fn held_ops_expire_at_the_second_call_and_their_causes_still_apply_later() {
    let mut a = Doc::new(r(1));
    for run in ["abc", "def", "ghi"] {
        a.insert(0, run).unwrap();
    }
    let ops = a.ops_since(&VersionVector::new());
    assert_eq!(ops.len(), 3);
    let mut b = Doc::new(r(2));
    assert!(b.apply(ops[1].clone()).unwrap().held);
    assert_eq!(b.expire_held(), 0, "held for less than an interval");
    assert!(b.apply(ops[2].clone()).unwrap().held);
    assert!(b.holds(ops[1].id) && b.holds(ops[2].id));
    assert_eq!(b.expire_held(), 1, "the first one waited a whole interval");
    assert!(!b.holds(ops[1].id) && b.holds(ops[2].id));
    assert_eq!(b.pending_len(), 1);
    // Its causes come; the dropped op is sent again (a digest exchange).
    b.apply(ops[0].clone()).unwrap();
    assert_eq!(b.text(), "abc");
    b.apply(ops[1].clone()).unwrap();
    assert_eq!(b.text(), a.text(), "the one still held applied with it");
    assert_eq!(b.pending_len(), 0);
    assert_eq!(b.expire_held(), 0);
}

#[test]
fn holding_an_op_counts_its_own_size_not_only_its_text() {
    // A flood of one-char ops costs far more than one byte each to hold:
    // the byte bound counts that, so it bounds what is really taken.
    let op = Op {
        id: Id::new(r(2), 1),
        kind: OpKind::Insert {
            left: None,
            right: None,
            text: "x".into(),
        },
    };
    assert!(pending::held_cost(&op) > std::mem::size_of::<Op>() + 1);
}
