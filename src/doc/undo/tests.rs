use super::*;

/// A replica and its undo stack; every edit is a step of its own unless
/// `merge` says otherwise.
struct Local {
    doc: Doc,
    stack: UndoStack,
}

impl Local {
    fn new(replica: u64) -> Local {
        Local {
            doc: Doc::new(ReplicaId(replica)),
            stack: UndoStack::new(),
        }
    }

    fn insert(&mut self, pos: usize, text: &str, merge: bool) {
        self.doc.insert(pos, text).unwrap();
        let change = Change::inserted(&self.doc, pos, text.chars().count()).unwrap();
        self.stack.record(self.doc.replica(), change, merge);
    }

    fn delete(&mut self, pos: usize, len: usize, merge: bool) {
        let change = Change::deleting(&self.doc, pos, len).unwrap();
        self.doc.delete(pos, len).unwrap();
        self.stack.record(self.doc.replica(), change, merge);
    }

    fn undo(&mut self) -> Option<Outcome> {
        self.stack.undo(&mut self.doc).unwrap()
    }

    fn redo(&mut self) -> Option<Outcome> {
        self.stack.redo(&mut self.doc).unwrap()
    }
}

/// `to` gets every op of `from` it lacks.
fn sync(to: &mut Doc, from: &Doc) {
    for op in from.ops_since(to.version_ref()) {
        to.apply(op).unwrap();
    }
}

#[test]
fn undo_and_redo_walk_back_and_forth_through_the_steps() {
    let mut a = Local::new(1);
    a.insert(0, "hello", false);
    a.insert(5, " world", false);
    a.delete(0, 1, false);
    assert_eq!(a.doc.text(), "ello world");
    let o = a.undo().unwrap();
    assert_eq!((o.removed, o.restored), (0, 1));
    assert_eq!(o.restored_preview, "h");
    assert_eq!(o.cursor, 1, "after the restored text");
    assert_eq!(a.doc.text(), "hello world");
    let o = a.undo().unwrap();
    assert_eq!((o.removed, o.restored, o.cursor), (6, 0, 5));
    assert_eq!(o.removed_preview, " world");
    assert_eq!(a.doc.text(), "hello");
    assert_eq!(a.redo().unwrap().restored, 6);
    assert_eq!(a.doc.text(), "hello world");
    assert_eq!(a.redo().unwrap().removed, 1);
    assert_eq!(a.doc.text(), "ello world");
    assert_eq!(a.redo(), None, "nothing to redo");
    for _ in 0..3 {
        a.undo().unwrap();
    }
    assert_eq!(a.doc.text(), "");
    assert_eq!(a.undo(), None, "nothing to undo");
    // A new edit clears the redo stack.
    a.redo().unwrap();
    a.insert(0, "x", false);
    assert_eq!(a.redo(), None);
    assert_eq!(a.doc.text(), "xhello");
}

#[test]
fn undo_finds_chars_that_an_earlier_undo_restored() {
    let mut a = Local::new(1);
    a.insert(0, "abc", false);
    a.delete(1, 1, false);
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "abc");
    // The "b" now is a new char, standing for the one typed.
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "");
    a.redo().unwrap();
    a.redo().unwrap();
    assert_eq!(a.doc.text(), "ac");
    a.undo().unwrap();
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "");
}

#[test]
fn restored_chars_keep_their_order_with_chars_restored_before() {
    // Deleting "a" then "b", and undoing both, must give "abc" (a
    // restored "b" sits before the tombstone of "a").
    let mut a = Local::new(1);
    a.insert(0, "abc", false);
    a.delete(0, 1, false);
    a.delete(0, 1, false);
    assert_eq!(a.doc.text(), "c");
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "bc");
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "abc");
}

#[test]
fn undo_removes_only_my_chars_and_redo_puts_them_back_around_a_peers() {
    let mut a = Local::new(1);
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "hello", false);
    sync(&mut b, &a.doc);
    b.insert(2, "XY").unwrap();
    sync(&mut a.doc, &b);
    assert_eq!(a.doc.text(), "heXYllo");
    let o = a.undo().unwrap();
    assert_eq!(o.removed, 5);
    assert_eq!(o.removed_preview, "hello");
    sync(&mut b, &a.doc);
    assert_eq!(a.doc.text(), "XY");
    assert_eq!(b.text(), "XY");
    let o = a.redo().unwrap();
    assert_eq!(o.restored, 5);
    assert_eq!(o.restored_preview, "hello", "in document order");
    sync(&mut b, &a.doc);
    assert_eq!(a.doc.text(), "heXYllo");
    assert_eq!(b.text(), "heXYllo");
    // And undo again, after the redo.
    a.undo().unwrap();
    sync(&mut b, &a.doc);
    assert_eq!(b.text(), "XY");
}

#[test]
fn an_undone_delete_comes_back_on_its_side_of_a_peers_text() {
    let mut a = Local::new(1);
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "abcdef", false);
    sync(&mut b, &a.doc);
    // A deletes "cd" while B types between them.
    a.delete(2, 2, false);
    b.insert(3, "1").unwrap();
    sync(&mut b, &a.doc);
    sync(&mut a.doc, &b);
    assert_eq!(a.doc.text(), "ab1ef");
    a.undo().unwrap();
    sync(&mut b, &a.doc);
    assert_eq!(a.doc.text(), "abc1def");
    assert_eq!(b.text(), "abc1def");
}

#[test]
fn an_undone_delete_whose_neighbours_a_peer_deleted_comes_back_where_it_was() {
    let mut a = Local::new(1);
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "one two three", false);
    sync(&mut b, &a.doc);
    a.delete(4, 4, false); // "two "
    sync(&mut b, &a.doc);
    b.delete(0, 4).unwrap(); // "one "
    b.delete(0, 1).unwrap(); // "t"
    sync(&mut a.doc, &b);
    assert_eq!(a.doc.text(), "hree");
    a.undo().unwrap();
    sync(&mut b, &a.doc);
    assert_eq!(a.doc.text(), "two hree");
    assert_eq!(b.text(), a.doc.text());
}

#[test]
fn a_burst_of_backspaces_is_one_step_and_comes_back_as_one_insert() {
    let mut a = Local::new(1);
    a.insert(0, "hello", false);
    a.stack.close();
    for pos in (1..5).rev() {
        a.delete(pos, 1, true);
    }
    assert_eq!(a.doc.text(), "h");
    let before = a.doc.version();
    let o = a.undo().unwrap();
    assert_eq!((o.restored, o.cursor), (4, 5));
    assert_eq!(a.doc.text(), "hello");
    assert_eq!(a.doc.ops_since(&before).len(), 1, "one op");
    // The Delete key at one place merges too.
    let mut a = Local::new(1);
    a.insert(0, "hello", false);
    a.stack.close();
    for _ in 0..3 {
        a.delete(1, 1, true);
    }
    assert_eq!(a.doc.text(), "ho");
    let before = a.doc.version();
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "hello");
    assert_eq!(a.doc.ops_since(&before).len(), 1);
    // Typing merges into one step.
    let mut a = Local::new(1);
    for (i, c) in ["a", "b", "c"].iter().enumerate() {
        a.insert(i, c, true);
    }
    a.undo().unwrap();
    assert_eq!(a.doc.text(), "");
}

#[test]
fn a_step_a_peer_already_reverted_is_skipped() {
    let mut a = Local::new(1);
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "keep ", false);
    a.insert(5, "gone", false);
    sync(&mut b, &a.doc);
    b.delete(5, 4).unwrap();
    sync(&mut a.doc, &b);
    // "gone" is gone already: the undo reverts "keep " instead.
    let o = a.undo().unwrap();
    assert_eq!(o.removed_preview, "keep ");
    assert_eq!(a.doc.text(), "");
    assert_eq!(a.undo(), None);
}

#[test]
fn undo_after_cleanup_restores_text_every_replica_accepts() {
    let mut a = Local::new(1);
    let mut b = Doc::new(ReplicaId(2));
    a.insert(0, "abc hello world xyz", false);
    a.delete(4, 6, false); // "hello "
    a.delete(4, 6, false); // "world "
    a.delete(1, 1, false); // "b"
    sync(&mut b, &a.doc);
    // B types next to the deleted text, then everyone has everything.
    b.insert(3, "!").unwrap();
    sync(&mut a.doc, &b);
    let all = a.doc.version();
    assert!(a.doc.collect(&all) > 0);
    assert!(b.collect(&all) > 0);
    // B's "!" went right after the space, before the tombstones.
    assert_eq!(a.doc.text(), "ac !xyz");
    for expected in ["abc !xyz", "abc !world xyz", "abc !hello world xyz"] {
        a.undo().unwrap();
        sync(&mut b, &a.doc);
        assert_eq!(a.doc.text(), expected);
        assert_eq!(b.text(), expected);
    }
    // Cleanup again, now with restored chars around, then redo and undo.
    let all = a.doc.version();
    a.doc.collect(&all);
    b.collect(&all);
    for expected in ["abc !world xyz", "abc !xyz", "ac !xyz"] {
        a.redo().unwrap();
        sync(&mut b, &a.doc);
        assert_eq!(a.doc.text(), expected);
        assert_eq!(b.text(), expected);
    }
    a.undo().unwrap();
    sync(&mut b, &a.doc);
    assert_eq!(b.text(), "abc !xyz");
}

#[test]
fn a_new_replica_id_clears_the_stack() {
    let mut a = Local::new(1);
    let b = Doc::new(ReplicaId(2));
    a.insert(0, "typed before joining", false);
    let (mut rejoined, _) = a.doc.rejoin(&b.encode_snapshot(), ReplicaId(3)).unwrap();
    assert_eq!(rejoined.text(), "typed before joining");
    let mut stack = a.stack.clone();
    assert!(
        stack.follow(ReplicaId(3)),
        "a notice: the stack was cleared"
    );
    assert!(!stack.follow(ReplicaId(3)));
    assert_eq!(stack.undo(&mut rejoined).unwrap(), None);
    // Undo on the rejoined doc without a `follow` first clears it too.
    assert_eq!(a.stack.undo(&mut rejoined).unwrap(), None);
    assert_eq!(rejoined.text(), "typed before joining");
}
