//! Turning one text into another with few edits, and merging a change made
//! to a file by another program into a document that moved on meanwhile.
//!
//! Pure: no files, no clock (a caller may bound the diff's effort with a
//! deadline; past it the result is still a correct diff, only a coarser
//! one). Used by the file binding (see `file_binding`).
//!
//! - [`diff`] compares by lines first (cheap on a big file), then by chars
//!   inside each changed block of lines (changes a char or two apart on a
//!   line joined), so changing one word of a long file gives one small
//!   hunk, not a line, and never a replace-all.
//! - [`merge`] is a three-way merge: `base` is what the file held when
//!   rumor last wrote or read it, `ours` is the document now, `theirs` is
//!   what the file holds now. The file's changes (base to theirs) are moved
//!   onto `ours` (see [`rebase`]): where only the file changed, its hunks
//!   shift; where both changed, a change both made is made once, what
//!   either deleted stays deleted, and what either inserted is kept.
//! - [`edits`] turns hunks into the document's edits, in an order in which
//!   each position is still valid when applied.

use std::time::Instant;

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

use crate::node::Edit;

/// Replace `deleted` chars at char position `start` with `inserted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub start: usize,
    pub deleted: usize,
    pub inserted: String,
}

impl Hunk {
    fn end(&self) -> usize {
        self.start + self.deleted
    }
}

/// Chars inserted and deleted by `hunks` in all.
pub fn size(hunks: &[Hunk]) -> (usize, usize) {
    let inserted = hunks.iter().map(|h| h.inserted.chars().count()).sum();
    let deleted = hunks.iter().map(|h| h.deleted).sum();
    (inserted, deleted)
}

/// The hunks that turn `old` into `new`, in order, disjoint and not
/// touching, in `old`'s char positions.
pub fn diff(old: &str, new: &str, deadline: Option<Instant>) -> Vec<Hunk> {
    if old == new {
        return Vec::new();
    }
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    // Where each old line starts, in chars.
    let mut old_starts = Vec::with_capacity(old_lines.len() + 1);
    let mut at = 0;
    for l in &old_lines {
        old_starts.push(at);
        at += l.chars().count();
    }
    old_starts.push(at);
    let mut hunks = Vec::new();
    for op in capture_diff_slices_deadline(Algorithm::Myers, &old_lines, &new_lines, deadline) {
        let Some(Change {
            old_index,
            old_len,
            new_index,
            new_len,
        }) = Change::of(op)
        else {
            continue;
        };
        let old_chars: Vec<char> = old_lines[old_index..old_index + old_len]
            .iter()
            .flat_map(|l| l.chars())
            .collect();
        let new_chars: Vec<char> = new_lines[new_index..new_index + new_len]
            .iter()
            .flat_map(|l| l.chars())
            .collect();
        let base = old_starts[old_index];
        char_hunks(base, &old_chars, &new_chars, deadline, &mut hunks);
    }
    coalesce(hunks)
}

/// The char-level hunks turning `old` into `new`, offset by `base`.
fn char_hunks(
    base: usize,
    old: &[char],
    new: &[char],
    deadline: Option<Instant>,
    out: &mut Vec<Hunk>,
) {
    if old.is_empty() || new.is_empty() {
        out.push(Hunk {
            start: base,
            deleted: old.len(),
            inserted: new.iter().collect(),
        });
        return;
    }
    let mut joined: Vec<Change> = Vec::new();
    for change in changes(old, new, deadline) {
        // Changes a char or two apart on one line are one change ("world"
        // to "there" is one word replaced, not "wo" and "ld" around an
        // "r" that stayed): fewer, clearer edits for peers and history.
        match joined.last_mut() {
            Some(last)
                if change.old_index - last.old_end() <= WORD_GAP
                    && !old[last.old_end()..change.old_index].contains(&'\n') =>
            {
                last.old_len = change.old_end() - last.old_index;
                last.new_len = change.new_index + change.new_len - last.new_index;
            }
            _ => joined.push(change),
        }
    }
    for c in joined {
        out.push(Hunk {
            start: base + c.old_index,
            deleted: c.old_len,
            inserted: new[c.new_index..c.new_index + c.new_len].iter().collect(),
        });
    }
}

/// The changes of a char diff of `old` and `new`, in order.
fn changes(old: &[char], new: &[char], deadline: Option<Instant>) -> Vec<Change> {
    capture_diff_slices_deadline(Algorithm::Myers, old, new, deadline)
        .into_iter()
        .filter_map(Change::of)
        .collect()
}

/// Kept runs this short between two changes on a line join them.
const WORD_GAP: usize = 2;

/// One change of a diff: `old_len` items at `old_index` became `new_len`
/// items at `new_index`.
#[derive(Debug, Clone, Copy)]
struct Change {
    old_index: usize,
    old_len: usize,
    new_index: usize,
    new_len: usize,
}

impl Change {
    /// The change `op` makes (`None` for a kept run).
    fn of(op: DiffOp) -> Option<Change> {
        let (old_index, old_len, new_index, new_len) = match op {
            DiffOp::Equal { .. } => return None,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (old_index, old_len, new_index, 0),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index, 0, new_index, new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index, old_len, new_index, new_len),
        };
        Some(Change {
            old_index,
            old_len,
            new_index,
            new_len,
        })
    }

    fn old_end(&self) -> usize {
        self.old_index + self.old_len
    }
}

/// Sorts and joins hunks that touch, so they are disjoint with a kept
/// char between any two.
fn coalesce(mut hunks: Vec<Hunk>) -> Vec<Hunk> {
    hunks.sort_by_key(|h| h.start);
    let mut out: Vec<Hunk> = Vec::with_capacity(hunks.len());
    for h in hunks {
        if h.deleted == 0 && h.inserted.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end() >= h.start => {
                last.deleted = h.end().max(last.end()) - last.start;
                last.inserted.push_str(&h.inserted);
            }
            _ => out.push(h),
        }
    }
    out
}

/// The file's change (`base` to `theirs`) as hunks on `ours` (see the
/// module docs). `ours == base` gives [`diff`]`(base, theirs)`.
pub fn merge(base: &str, ours: &str, theirs: &str, deadline: Option<Instant>) -> Vec<Hunk> {
    if ours == theirs {
        return Vec::new();
    }
    let file = diff(base, theirs, deadline);
    if ours == base {
        return file;
    }
    let doc = diff(base, ours, deadline);
    rebase(base, &file, &doc, deadline)
}

/// Moves `file`'s hunks (on `base`) onto the text `doc`'s hunks (also on
/// `base`) made. Both are sorted and disjoint.
///
/// Hunks of either side that overlap or touch make a cluster. Where the
/// document changed nothing, the file's hunks only shift. Where both
/// changed, the document's version of the stretch is turned into the
/// file's by a diff, except that chars the document inserted are never
/// deleted: a change both sides made is made once, and neither side's
/// new text is lost.
pub fn rebase(base: &str, file: &[Hunk], doc: &[Hunk], deadline: Option<Instant>) -> Vec<Hunk> {
    let base: Vec<char> = base.chars().collect();
    let mut out = Vec::new();
    // How much longer the document's text is than base before the cluster.
    let mut shift: isize = 0;
    let (mut i, mut j) = (0, 0);
    while i < file.len() {
        // Document hunks wholly before this file hunk only shift it.
        while j < doc.len() && doc[j].end() < file[i].start {
            shift += grown(&doc[j]);
            j += 1;
        }
        let (first_i, first_j) = (i, j);
        let (mut lo, mut hi) = (file[i].start, file[i].end());
        i += 1;
        loop {
            if i < file.len() && file[i].start <= hi {
                hi = hi.max(file[i].end());
                i += 1;
            } else if j < doc.len() && doc[j].start <= hi {
                lo = lo.min(doc[j].start);
                hi = hi.max(doc[j].end());
                j += 1;
            } else {
                break;
            }
        }
        let (files, docs) = (&file[first_i..i], &doc[first_j..j]);
        let at = |p: usize| (p as isize + shift) as usize;
        if docs.is_empty() {
            out.extend(files.iter().map(|h| Hunk {
                start: at(h.start),
                ..h.clone()
            }));
            continue;
        }
        let hi = hi.min(base.len());
        let lo = lo.min(hi);
        let ours = with_origin(&base, lo, hi, docs);
        // The file's version of the stretch, less what the document
        // deleted (a peer's deletion stands).
        let deleted_by_doc = |k: usize| {
            let next = docs.partition_point(|d| d.end() <= k);
            docs.get(next).is_some_and(|d| d.start <= k)
        };
        let theirs: Vec<char> = with_origin(&base, lo, hi, files)
            .into_iter()
            .filter(|&(_, origin)| origin.is_none_or(|k| !deleted_by_doc(k)))
            .map(|(c, _)| c)
            .collect();
        let ours_chars: Vec<char> = ours.iter().map(|&(c, _)| c).collect();
        let start = at(lo);
        for c in changes(&ours_chars, &theirs, deadline) {
            out.push(Hunk {
                start: start + c.old_index,
                deleted: 0,
                inserted: theirs[c.new_index..c.new_index + c.new_len]
                    .iter()
                    .collect(),
            });
            // Delete the base chars of the stretch, around the document's.
            let mut k = c.old_index;
            while k < c.old_end() {
                let run = ours[k..c.old_end()]
                    .iter()
                    .take_while(|&&(_, origin)| origin.is_some())
                    .count();
                if run > 0 {
                    out.push(Hunk {
                        start: start + k,
                        deleted: run,
                        inserted: String::new(),
                    });
                }
                k += run.max(1);
            }
        }
        for d in docs {
            shift += grown(d);
        }
    }
    coalesce(out)
}

/// How many chars longer `h` makes the text.
fn grown(h: &Hunk) -> isize {
    h.inserted.chars().count() as isize - h.deleted as isize
}

/// `base[lo..hi]` with `hunks` (on base, inside that stretch) applied,
/// each char with its position in base (`None`: a hunk inserted it).
fn with_origin(base: &[char], lo: usize, hi: usize, hunks: &[Hunk]) -> Vec<(char, Option<usize>)> {
    let mut out = Vec::with_capacity(hi - lo);
    let mut at = lo;
    let from_base = |range: std::ops::Range<usize>| range.map(|k| (base[k], Some(k)));
    for h in hunks {
        let start = h.start.clamp(at, hi);
        out.extend(from_base(at..start));
        out.extend(h.inserted.chars().map(|c| (c, None)));
        at = h.end().clamp(start, hi);
    }
    out.extend(from_base(at..hi));
    out
}

/// The edits that apply `hunks` (sorted, disjoint) to a document holding
/// the text they were made on, last position first so that each position
/// is still right when its edit is made.
pub fn edits(hunks: &[Hunk]) -> Vec<Edit> {
    let mut out = Vec::new();
    for h in hunks.iter().rev() {
        if h.deleted > 0 {
            out.push(Edit::Delete {
                pos: h.start,
                len: h.deleted,
            });
        }
        if !h.inserted.is_empty() {
            out.push(Edit::Insert {
                pos: h.start,
                text: h.inserted.clone(),
            });
        }
    }
    out
}

/// `text` with `hunks` applied (what [`edits`] do to a document).
pub fn apply(text: &str, hunks: &[Hunk]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hunks {
        let start = h.start.min(chars.len());
        out.extend(&chars[at.min(start)..start]);
        out.push_str(&h.inserted);
        at = h.end().min(chars.len()).max(start);
    }
    out.extend(&chars[at.min(chars.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(start: usize, deleted: usize, inserted: &str) -> Hunk {
        Hunk {
            start,
            deleted,
            inserted: inserted.to_string(),
        }
    }

    #[test]
    fn one_changed_word_in_a_long_file_is_a_small_change() {
        let old: String = (0..200)
            .map(|i| format!("line {i}: the lazy dog\n"))
            .collect();
        let new = old.replacen("line 117: the lazy dog", "line 117: the sleepy dog", 1);
        let hunks = diff(&old, &new, None);
        // "lazy" to "sleepy": a hunk or two inside the word, never a line.
        assert!(hunks.len() <= 2, "{hunks:?}");
        let (ins, del) = size(&hunks);
        assert!(ins <= 6 && del <= 4, "{hunks:?}");
        assert_eq!(apply(&old, &hunks), new);
    }

    #[test]
    fn a_replaced_word_is_one_hunk_even_where_letters_happen_to_match() {
        assert_eq!(
            diff("hello world\n", "hello there\n", None),
            vec![h(6, 5, "there")]
        );
        // Far apart on a line, or on two lines: two hunks.
        assert_eq!(diff("ab cdef gh", "Xb cdef gY", None).len(), 2);
        assert_eq!(diff("a\nb", "X\nY", None).len(), 2);
    }

    #[test]
    fn equal_texts_give_no_hunks_and_empty_sides_give_one() {
        assert!(diff("abc", "abc", None).is_empty());
        assert_eq!(diff("", "héllo", None), vec![h(0, 0, "héllo")]);
        assert_eq!(diff("héllo", "", None), vec![h(0, 5, "")]);
    }

    #[test]
    fn positions_count_chars_not_bytes() {
        let hunks = diff("日本語のテキスト\n", "日本語のテスト\n", None);
        assert_eq!(hunks, vec![h(5, 1, "")]);
    }

    #[test]
    fn a_file_change_lands_beside_the_documents_own_change() {
        let base = "alpha\nbeta\ngamma\n";
        let ours = "alpha\nBETA beta\ngamma\n"; // a peer's edit, not yet in the file
        let theirs = "alpha\nbeta\ngamma ray\n"; // sed on the file
        let hunks = merge(base, ours, theirs, None);
        assert_eq!(apply(ours, &hunks), "alpha\nBETA beta\ngamma ray\n");
    }

    #[test]
    fn a_file_deletion_spares_the_documents_insertions_inside_it() {
        let base = "one two three";
        let ours = "one tw-o three"; // inserted inside "two"
        let theirs = "one three"; // deleted "two "
        let merged = apply(ours, &merge(base, ours, theirs, None));
        // Where the "-" lands depends on how the diff aligns the deletion
        // ("two " or "wo t"); it is kept, and the rest is the file's text.
        assert!(merged.contains('-'), "{merged}");
        assert_eq!(merged.replace('-', ""), "one three");
    }

    #[test]
    fn a_peers_deletion_beside_a_file_change_stands() {
        let base = "abc";
        let ours = "ac"; // a peer deleted "b"
        let theirs = "abC"; // the file changed "c"
        assert_eq!(apply(ours, &merge(base, ours, theirs, None)), "aC");
    }

    #[test]
    fn the_same_change_on_both_sides_is_made_once() {
        let base = "a b c";
        let ours = "a B c";
        assert!(merge(base, ours, ours, None).is_empty());
        let theirs = "a B c!";
        assert_eq!(apply(ours, &merge(base, ours, theirs, None)), "a B c!");
    }

    #[test]
    fn edits_apply_last_position_first() {
        let hunks = vec![h(0, 1, "X"), h(3, 0, "Y")];
        assert_eq!(
            edits(&hunks),
            vec![
                Edit::Insert {
                    pos: 3,
                    text: "Y".into()
                },
                Edit::Delete { pos: 0, len: 1 },
                Edit::Insert {
                    pos: 0,
                    text: "X".into()
                },
            ]
        );
    }

    /// Applies `edits` one by one, as the document does.
    fn run_edits(text: &str, edits: &[Edit]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for e in edits {
            match e {
                Edit::Insert { pos, text } => {
                    assert!(*pos <= chars.len());
                    chars.splice(*pos..*pos, text.chars());
                }
                Edit::Delete { pos, len } => {
                    assert!(pos + len <= chars.len());
                    chars.drain(*pos..pos + len);
                }
            }
        }
        chars.into_iter().collect()
    }

    fn is_subsequence(needle: &str, hay: &str) -> bool {
        let mut hay = hay.chars();
        needle.chars().all(|c| hay.any(|h| h == c))
    }

    fn text() -> impl Strategy<Value = String> {
        "[ab\nxé]{0,40}"
    }

    proptest! {
        #[test]
        fn diff_turns_old_into_new(old in text(), new in text()) {
            let hunks = diff(&old, &new, None);
            prop_assert_eq!(apply(&old, &hunks), new.clone());
            prop_assert_eq!(run_edits(&old, &edits(&hunks)), new);
            for w in hunks.windows(2) {
                prop_assert!(w[0].end() < w[1].start);
            }
        }

        #[test]
        fn merging_onto_an_unchanged_document_gives_the_file(base in text(), theirs in text()) {
            let hunks = merge(&base, &base, &theirs, None);
            prop_assert_eq!(run_edits(&base, &edits(&hunks)), theirs);
        }

        #[test]
        fn a_merge_keeps_both_sides_new_text(base in text(), ours in text(), theirs in text()) {
            let hunks = merge(&base, &ours, &theirs, None);
            // The edits are valid on ours (run_edits checks every position).
            let merged = run_edits(&ours, &edits(&hunks));
            prop_assert_eq!(&apply(&ours, &hunks), &merged);
            // What either side inserted is there, in order (the other
            // side's text may come between).
            for d in diff(&base, &theirs, None).iter().chain(&diff(&base, &ours, None)) {
                prop_assert!(is_subsequence(&d.inserted, &merged), "{:?} lost from {:?}", d, merged);
            }
            // A file left alone changes nothing.
            prop_assert!(merge(&base, &ours, &base, None).is_empty());
        }
    }
}
