//! Line endings as one editor sees them.
//!
//! Neovim reads a file with `\r\n` line endings as lines without the `\r`
//! ('fileformat' dos) and writes them back on save. Its plugins send that
//! buffer in `open`, and turn every `\r` rumor sends into a line break. So
//! an editor that opens a document holding `\r\n` with a buffer holding
//! none is given the document with each `\r\n` as `\n` (its view), and a
//! `\n` it types becomes `\r\n` in the document. Editors that keep `\r`
//! in their buffer (VS Code) send it in `open` and see the document as
//! it is.
//!
//! The choice is made once, at `open`. Pure: no sockets, no clock.

use std::borrow::Cow;

use crate::net::text_merge::Hunk;

/// How an editor sees the document's line endings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEndings {
    /// The editor has the document's text as it is.
    AsIs,
    /// The editor sees each `\r\n` as `\n`.
    Crlf {
        /// Where, in the view last made, the `\n`s are that are `\r\n`
        /// in the document (sorted).
        dropped: Vec<usize>,
    },
}

impl LineEndings {
    /// For an editor that opened `doc` with `content` in its buffer: a
    /// document with `\r\n` opened by a buffer without any is seen
    /// without the `\r`s.
    pub fn for_editor(content: &str, doc: &str) -> LineEndings {
        if doc.contains("\r\n") && !content.contains("\r\n") {
            LineEndings::Crlf {
                dropped: Vec::new(),
            }
        } else {
            LineEndings::AsIs
        }
    }

    pub fn is_crlf(&self) -> bool {
        matches!(self, LineEndings::Crlf { .. })
    }

    /// The document's text `doc` as the editor sees it. Offsets are
    /// mapped with the view made last.
    pub fn view<'a>(&mut self, doc: &'a str) -> Cow<'a, str> {
        let LineEndings::Crlf { dropped } = self else {
            return Cow::Borrowed(doc);
        };
        dropped.clear();
        let mut out = String::with_capacity(doc.len());
        let mut at = 0;
        let mut chars = doc.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\r' && chars.peek() == Some(&'\n') {
                dropped.push(at);
                continue;
            }
            out.push(c);
            at += 1;
        }
        Cow::Owned(out)
    }

    /// The document's char offset of the view's offset `at`: before the
    /// `\r` of a `\r\n` when `at` is before its `\n`.
    pub fn to_doc_offset(&self, at: usize) -> usize {
        match self {
            LineEndings::AsIs => at,
            LineEndings::Crlf { dropped } => at + dropped.partition_point(|&d| d < at),
        }
    }

    /// The view's char offset of the document's offset `at`: an offset
    /// inside a `\r\n` is the view's place before its `\n`.
    pub fn to_view_offset(&self, at: usize) -> usize {
        let LineEndings::Crlf { dropped } = self else {
            return at;
        };
        // The i-th dropped `\r` is at dropped[i] + i in the document:
        // count those before `at`.
        let (mut lo, mut hi) = (0, dropped.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if dropped[mid] + mid < at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        at - lo
    }

    /// `hunks` (sorted, disjoint) on the view last made, as the same
    /// change of the document: a range that ends after a `\n` ends after
    /// its `\r\n`, one that starts before a `\n` starts before its `\r`,
    /// and each `\n` inserted is `\r\n`.
    pub fn hunks_to_doc(&self, hunks: Vec<Hunk>) -> Vec<Hunk> {
        if !self.is_crlf() {
            return hunks;
        }
        hunks
            .into_iter()
            .map(|h| {
                let start = self.to_doc_offset(h.start);
                let end = self.to_doc_offset(h.start + h.deleted);
                Hunk {
                    start,
                    deleted: end - start,
                    inserted: h.inserted.replace('\n', "\r\n"),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::net::editor::ot::{self, EditorSync, Outgoing, Replacement};
    use crate::net::text_merge;
    use proptest::prelude::*;

    fn hunk(start: usize, deleted: usize, inserted: &str) -> Hunk {
        Hunk {
            start,
            deleted,
            inserted: inserted.to_string(),
        }
    }

    #[test]
    fn only_a_buffer_without_crlf_on_a_document_with_crlf_is_translated() {
        assert!(LineEndings::for_editor("a\nb\n", "a\r\nb\r\n").is_crlf());
        assert!(LineEndings::for_editor("", "a\r\nb\r\n").is_crlf());
        assert!(!LineEndings::for_editor("a\r\nb\r\n", "a\r\nb\r\n").is_crlf());
        assert!(!LineEndings::for_editor("a\nb\n", "a\nb\n").is_crlf());
        // A lone \r is content, not a line ending.
        assert!(!LineEndings::for_editor("a\n", "a\rb\n").is_crlf());
    }

    #[test]
    fn the_view_drops_the_cr_of_each_crlf_only() {
        let mut e = LineEndings::for_editor("", "x\r\n");
        assert_eq!(
            e.view("one\r\ntwo\rthree\nfour\r\n"),
            "one\ntwo\rthree\nfour\n"
        );
        let mut as_is = LineEndings::AsIs;
        assert_eq!(as_is.view("a\r\n"), "a\r\n");
    }

    #[test]
    fn offsets_map_both_ways_around_crlf() {
        let doc = "a\r\nb\r\n";
        let mut e = LineEndings::for_editor("", doc);
        assert_eq!(e.view(doc), "a\nb\n");
        // view:  a \n b \n  (0..4)   doc: a \r \n b \r \n  (0..6)
        let to_doc: Vec<usize> = (0..=4).map(|v| e.to_doc_offset(v)).collect();
        assert_eq!(to_doc, [0, 1, 3, 4, 6]);
        let to_view: Vec<usize> = (0..=6).map(|d| e.to_view_offset(d)).collect();
        assert_eq!(to_view, [0, 1, 1, 2, 3, 3, 4]);
    }

    #[test]
    fn typed_line_breaks_become_crlf_and_deleted_ones_go_whole() {
        let doc = "one\r\ntwo\r\n";
        let mut e = LineEndings::for_editor("one\ntwo\n", doc);
        let view = e.view(doc).into_owned();
        // Enter at the end of "one", then join "two" to the line before.
        let typed = e.hunks_to_doc(vec![hunk(3, 0, "\nnew")]);
        assert_eq!(text_merge::apply(doc, &typed), "one\r\nnew\r\ntwo\r\n");
        let joined = e.hunks_to_doc(vec![hunk(3, 1, " ")]);
        assert_eq!(text_merge::apply(doc, &joined), "one two\r\n");
        assert_eq!(text_merge::apply(&view, &[hunk(3, 1, " ")]), "one two\n");
    }

    /// A text of `\r\n` and `\n` line endings, no lone `\r`.
    fn doc_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("\r\n".to_string()),
                Just("\n".to_string()),
                "[a-cé😀]{0,3}"
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// Any change the editor makes to its view, made to the document,
        /// gives the document whose view is the editor's text.
        #[test]
        fn a_change_of_the_view_is_the_same_change_of_the_document(
            doc in doc_text(),
            cuts in prop::collection::vec((0usize..5, 0usize..4, "[xé\n]{0,3}"), 0..4),
        ) {
            let mut e = LineEndings::Crlf { dropped: Vec::new() };
            let view = e.view(&doc).into_owned();
            let len = view.chars().count();
            let mut hunks: Vec<Hunk> = Vec::new();
            let mut at = 0;
            for (skip, del, ins) in cuts {
                let start = at + skip % 5;
                if start > len {
                    break;
                }
                let deleted = del.min(len - start);
                hunks.push(hunk(start, deleted, &ins));
                at = start + deleted + 1;
            }
            let editor = text_merge::apply(&view, &hunks);
            let changed = text_merge::apply(&doc, &e.hunks_to_doc(hunks));
            prop_assert_eq!(e.view(&changed), editor);
            // Offsets of the view survive the trip to the document and back.
            let _ = e.view(&doc);
            for v in 0..=len {
                prop_assert_eq!(e.to_view_offset(e.to_doc_offset(v)), v);
            }
        }
    }

    /// A place in `text` not between a `\r` and its `\n`.
    fn outside_crlf(text: &str, r: u64) -> usize {
        let chars: Vec<char> = text.chars().collect();
        let mut at = (r as usize) % (chars.len() + 1);
        if at > 0 && chars[at - 1] == '\r' && chars.get(at) == Some(&'\n') {
            at -= 1;
        }
        at
    }

    proptest! {
        /// As the bridge does it: an editor that sees a CRLF document
        /// without `\r` and a peer editing it at once, messages crossing
        /// in any order. The editor ends with the document's view, and
        /// every line break in the document is still `\r\n`.
        #[test]
        fn an_editor_without_cr_and_a_peer_converge_and_line_endings_stay_crlf(
            script in prop::collection::vec((0..4u8, any::<u64>(), "[xy\n😀]{0,2}"), 0..40)
        ) {
            let mut doc = "ab\r\ncd\r\n".to_string();
            let mut editor = "ab\ncd\n".to_string();
            let mut endings = LineEndings::for_editor(&editor, &doc);
            prop_assert!(endings.is_crlf());
            let (mut sync, first) = EditorSync::open(&editor, &endings.view(&doc));
            prop_assert!(first.is_none());
            let (mut editor_rev, mut daemon_rev) = (0u64, 0u64);
            let mut to_editor: VecDeque<Outgoing> = VecDeque::new();
            let mut to_rumor: VecDeque<(u64, Vec<Replacement>)> = VecDeque::new();
            let apply_delta = |text: &str, delta: &[Replacement]| {
                text_merge::apply(text, &ot::delta_to_hunks(text, delta).expect("valid delta"))
            };
            // rumor takes the editor's edit, then its loop's turn.
            let take = |sync: &mut EditorSync, endings: &mut LineEndings, doc: &mut String,
                        to_editor: &mut VecDeque<Outgoing>, rev: u64, delta: &[Replacement]| {
                to_editor.extend(sync.document_changed(&endings.view(doc)));
                let (to_doc, resend) = sync.editor_edit(rev, delta).expect("valid edit");
                *doc = text_merge::apply(doc, &endings.hunks_to_doc(to_doc));
                to_editor.extend(resend);
                to_editor.extend(sync.document_changed(&endings.view(doc)));
            };
            for (what, r, ins) in script {
                match what {
                    0 => {
                        // The user types (Neovim's buffer has no \r).
                        let len = editor.chars().count();
                        let start = (r as usize) % (len + 1);
                        let deleted = ((r >> 16) as usize % 3).min(len - start);
                        let hunks = vec![Hunk { start, deleted, inserted: ins.clone() }];
                        let delta = ot::hunks_to_delta(&editor, &hunks);
                        editor = text_merge::apply(&editor, &hunks);
                        editor_rev += 1;
                        to_rumor.push_back((daemon_rev, delta));
                    }
                    1 => {
                        // A peer types, with CRLF line breaks, never
                        // inside one; it deletes whole chars, a line break
                        // whole.
                        let start = outside_crlf(&doc, r);
                        let end = outside_crlf(&doc, r >> 20).max(start);
                        let end = end.min(start + 3);
                        let end = outside_crlf(&doc, end as u64).max(start);
                        let hunk = Hunk {
                            start,
                            deleted: end - start,
                            inserted: ins.replace('\n', "\r\n"),
                        };
                        doc = text_merge::apply(&doc, &[hunk]);
                        to_editor.extend(sync.document_changed(&endings.view(&doc)));
                    }
                    2 => {
                        if let Some(out) = to_editor.pop_front() {
                            if out.revision == editor_rev {
                                editor = apply_delta(&editor, &out.delta);
                                daemon_rev += 1;
                            }
                        }
                    }
                    _ => {
                        if let Some((rev, delta)) = to_rumor.pop_front() {
                            take(&mut sync, &mut endings, &mut doc, &mut to_editor, rev, &delta);
                        }
                    }
                }
            }
            while !to_rumor.is_empty() || !to_editor.is_empty() {
                while let Some((rev, delta)) = to_rumor.pop_front() {
                    take(&mut sync, &mut endings, &mut doc, &mut to_editor, rev, &delta);
                }
                while let Some(out) = to_editor.pop_front() {
                    if out.revision == editor_rev {
                        editor = apply_delta(&editor, &out.delta);
                    }
                }
            }
            let view = endings.view(&doc).into_owned();
            prop_assert_eq!(&editor, &view);
            prop_assert_eq!(sync.shadow(), view.as_str());
            prop_assert_eq!(doc.matches('\n').count(), doc.matches("\r\n").count(), "{:?}", doc);
            prop_assert!(!doc.replace("\r\n", "").contains('\r'), "{:?}", doc);
        }
    }
}
