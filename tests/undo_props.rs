//! Property tests of undo and redo (`src/doc/undo.rs`).
//!
//! - A single replica's undo and redo match a plain undo stack of texts:
//!   undo brings back the text before the step, redo the text after it.
//! - Several replicas edit, undo and redo concurrently while ops travel
//!   in random order and amounts: an undo or redo never changes a visible
//!   char of another replica (none disappears, none appears, none moves
//!   relative to the others), and once everyone has everything all texts
//!   are the same.

use proptest::prelude::*;
use rumor::doc::{Change, UndoStack};
use rumor::{Doc, Id, ReplicaId};

#[derive(Debug, Clone)]
enum Action {
    Insert {
        at: usize,
        pos: u16,
        text: String,
        /// Joins the open step (a burst of typing) instead of starting one.
        merge: bool,
    },
    Delete {
        at: usize,
        pos: u16,
        len: u8,
        merge: bool,
    },
    Undo {
        at: usize,
    },
    Redo {
        at: usize,
    },
    /// `to` gets every op `from` has beyond it (or only a prefix: `part`).
    Deliver {
        from: usize,
        to: usize,
        part: u8,
    },
    /// Everyone gets everything, then every replica cleans up all of it
    /// (`Doc::collect`): later undos find stable tombstones gone, and any
    /// op that broke the cleanup rule would be refused.
    Cleanup,
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    let text = proptest::collection::vec(
        prop_oneof![6 => proptest::char::range('a', 'e'), 1 => Just('é'), 1 => Just('\n')],
        1..6,
    )
    .prop_map(|c| c.into_iter().collect::<String>());
    prop_oneof![
        4 => (0..n, any::<u16>(), text, any::<bool>())
            .prop_map(|(at, pos, text, merge)| Action::Insert { at, pos, text, merge }),
        3 => (0..n, any::<u16>(), 1..8u8, any::<bool>())
            .prop_map(|(at, pos, len, merge)| Action::Delete { at, pos, len, merge }),
        3 => (0..n).prop_map(|at| Action::Undo { at }),
        2 => (0..n).prop_map(|at| Action::Redo { at }),
        4 => (0..n, 0..n, any::<u8>()).prop_map(|(from, to, part)| Action::Deliver { from, to, part }),
        1 => Just(Action::Cleanup),
    ]
}

struct Replica {
    doc: Doc,
    stack: UndoStack,
}

impl Replica {
    fn insert(&mut self, pos: u16, text: &str, merge: bool) {
        let pos = pos as usize % (self.doc.len() + 1);
        self.doc.insert(pos, text).unwrap();
        let change = Change::inserted(&self.doc, pos, text.chars().count()).unwrap();
        self.stack.record(self.doc.replica(), change, merge);
    }

    /// `false` when the text is empty (nothing to delete).
    fn delete(&mut self, pos: u16, len: u8, merge: bool) -> bool {
        if self.doc.is_empty() {
            return false;
        }
        let pos = pos as usize % self.doc.len();
        let len = (len as usize).min(self.doc.len() - pos);
        let change = Change::deleting(&self.doc, pos, len).unwrap();
        self.doc.delete(pos, len).unwrap();
        self.stack.record(self.doc.replica(), change, merge);
        true
    }
}

/// The visible chars of replicas other than `me`, in order, with their text.
fn others_chars(doc: &Doc, me: ReplicaId) -> Vec<(Id, char)> {
    let text: Vec<char> = doc.text().chars().collect();
    let mut out = Vec::new();
    let mut pos = 0;
    for span in doc.ids_in(0..doc.len()).unwrap() {
        for k in 0..span.len {
            let id = span.start.add(k);
            if id.replica != me {
                out.push((id, text[pos]));
            }
            pos += 1;
        }
    }
    out
}

fn deliver(group: &mut [Replica], from: usize, to: usize, part: Option<u8>) {
    if from == to {
        return;
    }
    let mut ops = group[from].doc.ops_since(group[to].doc.version_ref());
    if let Some(p) = part {
        ops.truncate(p as usize % (ops.len() + 1));
    }
    for op in ops {
        group[to].doc.apply(op).unwrap();
    }
}

/// Everyone gets everything.
fn deliver_all(group: &mut [Replica]) {
    let n = group.len();
    for _ in 0..2 {
        for from in 0..n {
            for to in 0..n {
                deliver(group, from, to, None);
            }
        }
    }
}

fn run_group(n: usize, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut group: Vec<Replica> = (0..n)
        .map(|i| Replica {
            doc: Doc::new(ReplicaId(i as u64 + 1)),
            stack: UndoStack::new(),
        })
        .collect();
    for a in actions {
        match a {
            Action::Insert {
                at,
                pos,
                text,
                merge,
            } => group[*at].insert(*pos, text, *merge),
            Action::Delete {
                at,
                pos,
                len,
                merge,
            } => {
                group[*at].delete(*pos, *len, *merge);
            }
            Action::Undo { at } | Action::Redo { at } => {
                let r = &mut group[*at];
                let me = r.doc.replica();
                let before = others_chars(&r.doc, me);
                let version = r.doc.version();
                let done = if matches!(a, Action::Undo { .. }) {
                    r.stack.undo(&mut r.doc).unwrap()
                } else {
                    r.stack.redo(&mut r.doc).unwrap()
                };
                prop_assert_eq!(others_chars(&r.doc, me), before, "{:?}", a);
                // Only ops of this replica were made, and some iff it says so.
                let made = r.doc.ops_since(&version);
                prop_assert!(made.iter().all(|op| op.id.replica == me));
                prop_assert_eq!(done.is_some(), !made.is_empty());
            }
            Action::Deliver { from, to, part } => {
                let part = (part % 4 == 0).then_some(*part / 4);
                deliver(&mut group, *from, *to, part);
            }
            Action::Cleanup => {
                deliver_all(&mut group);
                let all = group[0].doc.version();
                for r in &mut group {
                    prop_assert_eq!(r.doc.version_ref(), &all);
                    r.doc.collect(&all);
                }
            }
        }
    }
    deliver_all(&mut group);
    let text = group[0].doc.text();
    for r in &group {
        prop_assert_eq!(&r.doc.text(), &text);
    }
    Ok(())
}

/// One replica against a stack of texts.
fn run_model(actions: &[Action]) -> Result<(), TestCaseError> {
    let mut r = Replica {
        doc: Doc::new(ReplicaId(1)),
        stack: UndoStack::new(),
    };
    let mut undo: Vec<String> = Vec::new();
    let mut redo: Vec<String> = Vec::new();
    // Whether the next edit may join the last step.
    let mut open = false;
    for a in actions {
        let before = r.doc.text();
        match a {
            Action::Insert {
                pos, text, merge, ..
            } => {
                r.insert(*pos, text, *merge);
                if !(*merge && open) {
                    undo.push(before);
                }
                redo.clear();
                open = true;
            }
            Action::Delete {
                pos, len, merge, ..
            } => {
                if r.delete(*pos, *len, *merge) {
                    if !(*merge && open) {
                        undo.push(before);
                    }
                    redo.clear();
                    open = true;
                }
            }
            Action::Undo { .. } => {
                let done = r.stack.undo(&mut r.doc).unwrap();
                prop_assert_eq!(done.is_some(), !undo.is_empty());
                if let Some(text) = undo.pop() {
                    redo.push(before);
                    prop_assert_eq!(r.doc.text(), text);
                }
                open = false;
            }
            Action::Redo { .. } => {
                let done = r.stack.redo(&mut r.doc).unwrap();
                prop_assert_eq!(done.is_some(), !redo.is_empty());
                if let Some(text) = redo.pop() {
                    undo.push(before);
                    prop_assert_eq!(r.doc.text(), text);
                }
                open = false;
            }
            Action::Deliver { .. } => {}
            Action::Cleanup => {
                let all = r.doc.version();
                r.doc.collect(&all);
            }
        }
        prop_assert_eq!(r.stack.undo_len(), undo.len());
        prop_assert_eq!(r.stack.redo_len(), redo.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn undo_and_redo_follow_a_plain_stack_of_texts(
        actions in proptest::collection::vec(action(1), 1..120)
    ) {
        run_model(&actions)?;
    }

    #[test]
    fn concurrent_undo_never_touches_a_peers_chars_and_converges(
        (n, actions) in (2..=4usize).prop_flat_map(|n| (Just(n), proptest::collection::vec(action(n), 1..160)))
    ) {
        run_group(n, &actions)?;
    }
}
