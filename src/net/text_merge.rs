//! Turning one text into another with few edits, and merging a change made
//! to a file by another program into a document that moved on meanwhile.
//!
//! Pure: no files, no clock (a caller may bound the diff's effort with a
//! deadline; past it the result is still a correct diff, only a coarser
//! one). Used by the file binding (see `file_binding`).
//!
//! - [`diff`] compares by lines first (cheap on a big file), then by chars
//!   inside each changed block of lines, so changing one word of a long
//!   file gives one small hunk, not a line, and never a replace-all.
//! - [`merge`] is a three-way merge: `base` is what the file held when
//!   rumor last wrote or read it, `ours` is the document now, `theirs` is
//!   what the file holds now. The file's changes (base to theirs) are moved
//!   onto `ours`: a position in `base` maps to where that char is in
//!   `ours`; text the file deleted is deleted only where `ours` still has
//!   it unchanged; an insertion inside a stretch the document changed goes
//!   after the document's text. Nothing of either side's new text is lost.
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
        let (old_index, old_len, new_index, new_len) = match op {
            DiffOp::Equal { .. } => continue,
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
    for op in capture_diff_slices_deadline(Algorithm::Myers, old, new, deadline) {
        let (old_index, old_len, new_index, new_len) = match op {
            DiffOp::Equal { .. } => continue,
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
        out.push(Hunk {
            start: base + old_index,
            deleted: old_len,
            inserted: new[new_index..new_index + new_len].iter().collect(),
        });
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
    rebase(&file, &doc)
}

/// Moves `file`'s hunks (on base) past `doc`'s hunks (also on base), so
/// they apply to the text `doc` made. Both are sorted and disjoint.
pub fn rebase(file: &[Hunk], doc: &[Hunk]) -> Vec<Hunk> {
    let mut out = Vec::new();
    for h in file {
        // The same change made on both sides is made once.
        if doc.contains(h) {
            continue;
        }
        // The insertion, then what the file deleted, where the document
        // still has it as it was (split around the document's changes).
        out.push(Hunk {
            start: map_point(doc, h.start),
            deleted: 0,
            inserted: h.inserted.clone(),
        });
        let mut from = h.start;
        for d in doc
            .iter()
            .filter(|d| d.end() > h.start && d.start < h.end())
        {
            if d.start > from {
                out.push(Hunk {
                    start: map_point(doc, from),
                    deleted: d.start - from,
                    inserted: String::new(),
                });
            }
            from = from.max(d.end());
        }
        if from < h.end() {
            out.push(Hunk {
                start: map_point(doc, from),
                deleted: h.end() - from,
                inserted: String::new(),
            });
        }
    }
    coalesce(out)
}

/// Where the char at `p` in base is in the text `doc` made (for a char
/// `doc` replaced or a point inside what it replaced: just after the
/// replacement; after an insertion made exactly at `p`).
fn map_point(doc: &[Hunk], p: usize) -> usize {
    let mut shift: isize = 0;
    for d in doc {
        let grown = d.inserted.chars().count() as isize - d.deleted as isize;
        if d.end() <= p {
            shift += grown;
        } else if d.start < p {
            // Inside what the document replaced.
            return (d.start as isize + shift) as usize + d.inserted.chars().count();
        } else {
            break;
        }
    }
    (p as isize + shift) as usize
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
            // What the file inserted is there, in order.
            for d in diff(&base, &theirs, None) {
                prop_assert!(merged.contains(&d.inserted), "{:?} lost from {:?}", d, merged);
            }
            // A file left alone changes nothing.
            prop_assert!(merge(&base, &ours, &base, None).is_empty());
        }
    }
}
