//! Ops from the network (and saved histories) can be anything. Property:
//! `Doc::apply` and `Doc::decode_history` never panic; an op it refuses changes nothing; an op that reuses a known id
//! with other content is refused; whatever was accepted, the replica stays
//! consistent (its own ops rebuild its text elsewhere) and editable.

use proptest::prelude::*;
use rumor::doc::Error;
use rumor::{Doc, Id, Op, OpKind, ReplicaId, TargetSpan, VersionVector};

/// Replicas 1 and 2 are the ones that really edited; others are strangers.
fn replica() -> impl Strategy<Value = ReplicaId> {
    prop_oneof![
        3 => (1u64..=2).prop_map(ReplicaId),
        1 => Just(ReplicaId(3)),
        1 => Just(ReplicaId(u64::MAX)),
    ]
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..24,
        1 => (u64::MAX - 4)..=u64::MAX,
        1 => Just(u32::MAX as u64),
    ]
}

fn id() -> impl Strategy<Value = Id> {
    (replica(), counter()).prop_map(|(replica, counter)| Id { replica, counter })
}

fn span_len() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 0u64..6, 1 => Just(u64::MAX), 1 => Just(1u64 << 40)]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('b'), Just('é'), Just('😀')],
        0..4,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn hostile_op() -> impl Strategy<Value = Op> {
    let insert = (
        proptest::option::of(id()),
        proptest::option::of(id()),
        text(),
    )
        .prop_map(|(left, right, text)| OpKind::Insert { left, right, text });
    let delete = proptest::collection::vec(
        (id(), span_len(), any::<bool>()).prop_map(|(start, len, backward)| TargetSpan {
            start,
            len,
            backward,
        }),
        0..3,
    )
    .prop_map(|targets| OpKind::Delete { targets });
    (id(), prop_oneof![insert, delete]).prop_map(|(id, kind)| Op { id, kind })
}

/// A document both real replicas edited, and the ops they made.
fn honest_history() -> (Doc, Vec<Op>) {
    let mut a = Doc::new(ReplicaId(1));
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "hello world").unwrap();
    for op in a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    b.delete(2, 3).unwrap();
    b.insert(5, "ÉÉ").unwrap();
    a.insert(11, "!").unwrap();
    for op in b.ops_since(&a.version()) {
        a.apply(op).unwrap();
    }
    let ops = a.ops_since(&VersionVector::new());
    (a, ops)
}

struct Snapshot {
    text: String,
    version: VersionVector,
    pending: usize,
}

fn snapshot(doc: &Doc) -> Snapshot {
    Snapshot {
        text: doc.text(),
        version: doc.version(),
        pending: doc.pending_len(),
    }
}

/// Applies each op; one refused must change nothing (text, version, held
/// ops), and the text always has the length the doc says.
fn apply_checked(doc: &mut Doc, ops: Vec<Op>) -> Result<(), TestCaseError> {
    for op in ops {
        let before = snapshot(doc);
        if doc.apply(op.clone()).is_err() {
            let after = snapshot(doc);
            prop_assert_eq!(
                &after.text,
                &before.text,
                "refused {:?} changed the text",
                op
            );
            prop_assert_eq!(
                &after.version,
                &before.version,
                "refused {:?} changed the version",
                op
            );
            prop_assert_eq!(
                after.pending,
                before.pending,
                "refused {:?} changed the held ops",
                op
            );
        }
        prop_assert_eq!(doc.text().chars().count(), doc.len());
    }
    Ok(())
}

proptest! {
    #[test]
    fn hostile_ops_never_panic_and_refusals_change_nothing(ops in proptest::collection::vec(hostile_op(), 1..40)) {
        let (mut doc, _) = honest_history();
        apply_checked(&mut doc, ops)?;
        // What was accepted is a consistent history: it rebuilds the text.
        let mut copy = Doc::new(ReplicaId(9));
        for op in doc.ops_since(&VersionVector::new()) {
            copy.apply(op).expect("a replica's own ops apply elsewhere");
        }
        prop_assert_eq!(copy.text(), doc.text());
        // And the replica is still editable.
        doc.insert(0, "x").expect("still editable");
        doc.delete(0, 1).expect("still editable");
    }

    /// The same against a replica that cleaned up its history (`Doc::collect`):
    /// ops naming what is gone are refused and change nothing.
    #[test]
    fn hostile_ops_against_a_cleaned_up_replica(ops in proptest::collection::vec(hostile_op(), 1..40), all in any::<bool>()) {
        let (mut doc, _) = honest_history();
        let mut frontier = doc.version();
        if !all {
            frontier.set(ReplicaId(2), 2);
        }
        doc.collect(&frontier);
        apply_checked(&mut doc, ops)?;
        // Still consistent: its snapshot loads to the same text, and it edits.
        let loaded = Doc::decode_history(ReplicaId(9), &doc.encode_snapshot()).expect("own snapshot loads");
        prop_assert_eq!(loaded.text(), doc.text());
        doc.insert(0, "x").expect("still editable");
        doc.delete(0, 1).expect("still editable");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (mut doc, _) = honest_history();
        if let Ok(op) = postcard::from_bytes::<Op>(&bytes) {
            let before = snapshot(&doc);
            if doc.apply(op).is_err() {
                prop_assert_eq!(doc.text(), before.text);
                prop_assert_eq!(doc.version(), before.version);
            }
        }
    }

    #[test]
    fn arbitrary_history_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(doc) = Doc::decode_history(ReplicaId(5), &bytes) {
            // Whatever loaded is a consistent replica.
            prop_assert_eq!(doc.text().chars().count(), doc.len());
        }
    }

    /// Damaging a real history or snapshot (one byte changed, or cut short) gives an
    /// error or a consistent replica, never a panic.
    #[test]
    fn damaged_history_never_panics(at in any::<u16>(), byte in any::<u8>(), cut in any::<bool>(), snapshot in any::<bool>(), collected in any::<bool>()) {
        let (mut doc, _) = honest_history();
        if collected {
            doc.collect(&doc.version());
        }
        let mut bytes = if snapshot { doc.encode_snapshot() } else { doc.encode_history() };
        let i = at as usize % bytes.len();
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        if let Ok(loaded) = Doc::decode_history(ReplicaId(5), &bytes) {
            prop_assert_eq!(loaded.text().chars().count(), loaded.len());
        }
    }

    /// A known id sent again with other text is a conflict, refused, and
    /// changes nothing.
    #[test]
    fn reused_ids_with_other_content_are_refused(pick in any::<u16>(), other in "[x-z]{1,6}") {
        let (mut doc, ops) = honest_history();
        let inserts: Vec<&Op> = ops.iter().filter(|op| matches!(op.kind, OpKind::Insert { .. })).collect();
        let original = inserts[pick as usize % inserts.len()];
        let OpKind::Insert { left, right, text } = &original.kind else { unreachable!() };
        // Same id and length, other chars (x-z never occur in the history).
        let len = text.chars().count();
        let forged: String = other.chars().cycle().take(len).collect();
        let forged = Op { id: original.id, kind: OpKind::Insert { left: *left, right: *right, text: forged } };
        let before = snapshot(&doc);
        let result = doc.apply(forged);
        prop_assert!(matches!(result, Err(Error::Conflict(_))), "forged op gave {:?}", result);
        prop_assert_eq!(doc.text(), before.text);
        prop_assert_eq!(doc.version(), before.version);
    }
}
