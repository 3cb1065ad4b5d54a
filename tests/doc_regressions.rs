//! Small, named cases found by the property tests, kept as plain tests.

use rumor::{Doc, Id, Op, OpKind, ReplicaId, TargetSpan, VersionVector};

/// `Applied::held` is about the op passed in: an op that applies at once is
/// not reported held, even when an op it releases must wait again for
/// something else.
#[test]
fn held_reports_the_given_op_not_a_released_one() {
    let mut a = Doc::new(ReplicaId(1));
    let mut b = Doc::new(ReplicaId(2));
    let mut c = Doc::new(ReplicaId(3));
    a.insert(0, "x").unwrap();
    let a0 = a.ops_since(&VersionVector::new());
    for op in &a0 {
        b.apply(op.clone()).unwrap();
        c.apply(op.clone()).unwrap();
    }
    b.insert(1, "y").unwrap(); // (2,0), after x
    let b0 = b.ops_since(&a.version());
    c.delete(0, 1).unwrap(); // (3,0) deletes x
    let c0 = c.ops_since(&a.version());
    for op in &b0 {
        c.apply(op.clone()).unwrap();
    }
    let before = c.version();
    c.insert(1, "z").unwrap(); // (3,1), after y: needs (3,0) and (2,0)
    let c1 = c.ops_since(&before);

    let mut d = Doc::new(ReplicaId(4));
    for op in &a0 {
        d.apply(op.clone()).unwrap();
    }
    for op in &c1 {
        assert!(
            d.apply(op.clone()).unwrap().held,
            "(3,1) must wait for (3,0)"
        );
    }
    for op in &c0 {
        let applied = d.apply(op.clone()).unwrap();
        assert_eq!(applied.ops_applied, 1, "(3,0) applies");
        assert!(
            !applied.held,
            "(3,0) applied at once, yet `held` is true because the released (3,1) waits again for (2,0)"
        );
    }
    assert_eq!(d.pending_len(), 1);
    for op in &b0 {
        let applied = d.apply(op.clone()).unwrap();
        assert_eq!(applied.ops_applied, 2, "(2,0) and the released (3,1)");
        assert!(!applied.held);
    }
    assert_eq!(d.pending_len(), 0);
    assert_eq!(d.text(), c.text());
    assert_eq!(d.text(), "yz");
}

/// A delete op whose target lengths add up past `u64::MAX` is refused, not a
/// panic (overflow in `Op::len`) nor, in release, a wrapped length.
#[test]
fn delete_lengths_that_overflow_are_refused() {
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, "hello").unwrap();
    let start = Id::new(ReplicaId(1), 0);
    let op = Op {
        id: Id::new(ReplicaId(2), 0),
        kind: OpKind::Delete {
            targets: vec![
                TargetSpan {
                    start,
                    len: 1,
                    backward: false,
                },
                TargetSpan {
                    start,
                    len: u64::MAX,
                    backward: false,
                },
            ],
        },
    };
    assert!(doc.apply(op).is_err());
    assert_eq!(doc.text(), "hello");
}

/// An insert whose origin names the id of a *delete* (known to the version,
/// but not a char) is refused, not a panic in the sequence's id index.
#[test]
fn origins_naming_a_delete_are_refused() {
    for (left, right) in [(true, false), (false, true)] {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "xy").unwrap(); // chars (1,0), (1,1)
        doc.delete(0, 1).unwrap(); // delete (1,2)
        let deletion = Some(Id::new(ReplicaId(1), 2));
        let op = Op {
            id: Id::new(ReplicaId(2), 0),
            kind: OpKind::Insert {
                left: if left { deletion } else { None },
                right: if right { deletion } else { None },
                text: "a".into(),
            },
        };
        assert!(doc.apply(op).is_err(), "left {left} right {right}");
        assert_eq!(doc.text(), "y");
    }
}

/// A delete whose target is the id of another delete is refused, not a panic.
#[test]
fn delete_targets_naming_a_delete_are_refused() {
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, "xy").unwrap();
    doc.delete(0, 1).unwrap(); // delete (1,2)
    let op = Op {
        id: Id::new(ReplicaId(2), 0),
        kind: OpKind::Delete {
            targets: vec![TargetSpan {
                start: Id::new(ReplicaId(1), 2),
                len: 1,
                backward: false,
            }],
        },
    };
    assert!(doc.apply(op).is_err());
    assert_eq!(doc.text(), "y");
}

/// A backward delete target starting at counter `u64::MAX` is refused, not an
/// overflow panic (`IdSpan::end_counter` in `Op::validate`).
#[test]
fn backward_target_at_the_last_counter_is_refused() {
    let mut doc = Doc::new(ReplicaId(1));
    doc.insert(0, "hello").unwrap();
    let op = Op {
        id: Id::new(ReplicaId(3), 0),
        kind: OpKind::Delete {
            targets: vec![TargetSpan {
                start: Id::new(ReplicaId(3), u64::MAX),
                len: 1,
                backward: true,
            }],
        },
    };
    assert!(doc.apply(op).is_err());
    assert_eq!(doc.text(), "hello");
}

/// A document that compresses extremely well (one char repeated, as a
/// user's filler or a generated file) loads from its own snapshot and
/// history: the guard against decompression bombs must not refuse what
/// deflate legitimately makes (up to about 1032:1). It once refused
/// anything past 64:1, so such a replica could not restart.
#[test]
fn a_highly_compressible_document_loads_from_its_own_snapshot() {
    let mut a = Doc::new(ReplicaId(1));
    a.insert(0, &"x".repeat(400_000)).unwrap();
    a.insert(7, "marker").unwrap();
    let snapshot = a.encode_snapshot();
    assert!(snapshot.len() * 100 < 400_000, "compresses well");
    let b = Doc::decode_history(ReplicaId(2), &snapshot).expect("own snapshot loads");
    assert_eq!(b.text(), a.text());
    let c = Doc::decode_history(ReplicaId(3), &a.encode_history()).expect("history loads");
    assert_eq!(c.text(), a.text());
}

/// A forged insert whose right origin is its left origin (or before it, in
/// the same run of chars) overflowed a subtraction in the sequence and
/// panicked, found by `doc_hostile`. It must apply or be refused, never
/// panic, and the replica must still take ops after it.
#[test]
fn an_insert_whose_right_origin_is_its_left_origin_does_not_panic() {
    for (left, right) in [(0, 0), (1, 0), (2, 1)] {
        let mut a = Doc::new(ReplicaId(1));
        a.insert(0, "xyz").unwrap();
        let mut d = Doc::new(ReplicaId(3));
        for op in a.ops_since(&VersionVector::new()) {
            d.apply(op).unwrap();
        }
        let forged = Op {
            id: Id {
                replica: ReplicaId(3),
                counter: 0,
            },
            kind: OpKind::Insert {
                left: Some(Id {
                    replica: ReplicaId(1),
                    counter: left,
                }),
                right: Some(Id {
                    replica: ReplicaId(1),
                    counter: right,
                }),
                text: "a".into(),
            },
        };
        let applied = d.apply(forged).is_ok();
        d.insert(0, "b").unwrap();
        let text = d.text();
        assert_eq!(text.chars().count(), 4 + applied as usize, "{text}");
        assert_eq!(text.chars().count(), d.len());
        assert!(text.starts_with('b'), "{text}");
    }
}
