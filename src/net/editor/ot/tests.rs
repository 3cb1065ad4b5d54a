use proptest::prelude::*;

use super::*;

fn pos(line: u64, character: u64) -> Position {
    Position { line, character }
}

fn rep(start: (u64, u64), end: (u64, u64), text: &str) -> Replacement {
    Replacement {
        range: Range {
            start: pos(start.0, start.1),
            end: pos(end.0, end.1),
        },
        replacement: text.to_string(),
    }
}

fn apply_delta(text: &str, delta: &[Replacement]) -> String {
    text_merge::apply(text, &delta_to_hunks(text, delta).expect("a valid delta"))
}

#[test]
fn positions_count_unicode_scalar_values_and_crlf_ends_a_line() {
    let text = "añ😀b\r\nx\ny";
    let lines = Lines::new(text);
    assert_eq!(lines.offset(pos(0, 3)), Ok(3));
    // Past the end of a line: its end, before the \r\n.
    assert_eq!(lines.offset(pos(0, 99)), Ok(4));
    assert_eq!(lines.offset(pos(1, 0)), Ok(6));
    assert_eq!(lines.offset(pos(2, 1)), Ok(9));
    assert!(lines.offset(pos(3, 0)).is_err());
    assert_eq!(lines.position(6), pos(1, 0));
    assert_eq!(lines.position(9), pos(2, 1));
}

#[test]
fn a_multi_range_delta_refers_to_the_text_before_it() {
    let text = "one\ntwo\nthree";
    let delta = [
        rep((2, 0), (2, 5), "3"),
        rep((0, 0), (0, 3), "1"),
        rep((1, 1), (1, 1), "-"),
    ];
    assert_eq!(apply_delta(text, &delta), "1\nt-wo\n3");
}

#[test]
fn overlapping_ranges_and_reversed_ranges_are_refused() {
    let text = "abcdef";
    assert!(delta_to_hunks(text, &[rep((0, 0), (0, 3), ""), rep((0, 2), (0, 4), "")]).is_err());
    assert!(delta_to_hunks(text, &[rep((0, 3), (0, 1), "")]).is_err());
}

#[test]
fn a_change_inside_a_crlf_takes_the_whole_line_ending() {
    let text = "a\r\nb";
    // Something inserted between the \r and the \n.
    let hunks = vec![Hunk {
        start: 2,
        deleted: 0,
        inserted: "x".into(),
    }];
    let aligned = align(text, hunks.clone());
    assert_eq!(
        text_merge::apply(text, &aligned),
        text_merge::apply(text, &hunks)
    );
    let delta = hunks_to_delta(text, &aligned);
    assert_eq!(apply_delta(text, &delta), "a\rx\nb");
}

#[test]
fn an_editor_edit_racing_a_document_edit_survives_once_each() {
    let (mut sync, out) = EditorSync::open("hello", "hello");
    assert!(out.is_none());
    // A peer types at the start; the editor, not having seen it, at the end.
    let sent = sync.document_changed("R hello").expect("an edit to send");
    assert_eq!(sent.revision, 0);
    let (to_doc, resend) = sync
        .editor_edit(0, &[rep((0, 5), (0, 5), " E")])
        .expect("accepted");
    let doc = text_merge::apply("R hello", &to_doc);
    assert_eq!(doc, "R hello E");
    // The editor dropped the first send (its revision moved on); the
    // resend applies to its buffer.
    assert_eq!(resend.len(), 1);
    assert_eq!(resend[0].revision, 1);
    assert_eq!(apply_delta("hello E", &resend[0].delta), "R hello E");
    assert_eq!(sync.shadow(), "R hello E");
}

#[test]
fn a_stale_or_future_revision_is_refused_without_changing_anything() {
    let (mut sync, _) = EditorSync::open("", "x");
    assert!(sync.editor_edit(2, &[]).is_err());
    assert_eq!(sync.editor_revision(), 0);
    sync.editor_edit(1, &[rep((0, 1), (0, 1), "y")])
        .expect("ok");
    assert!(sync.editor_edit(0, &[]).is_err());
}

/// Random hunks on a text of `len` chars.
fn arb_hunks(len: usize) -> impl Strategy<Value = Vec<Hunk>> {
    proptest::collection::vec((0..=len, 0..4usize, "[ab\n😀é]{0,3}"), 0..4).prop_map(move |raw| {
        let mut starts: Vec<(usize, usize, String)> = raw;
        starts.sort_by_key(|r| r.0);
        let mut out = Vec::new();
        let mut at = 0;
        for (start, del, ins) in starts {
            if start < at {
                continue;
            }
            let deleted = del.min(len - start);
            out.push(Hunk {
                start,
                deleted,
                inserted: ins,
            });
            at = start + deleted;
        }
        out
    })
}

fn arb_text_and_two() -> impl Strategy<Value = (String, Vec<Hunk>, Vec<Hunk>)> {
    "[ab\n\r😀é]{0,12}".prop_flat_map(|text| {
        let len = text.chars().count();
        (Just(text), arb_hunks(len), arb_hunks(len))
    })
}

proptest! {
    #[test]
    fn transformed_changes_converge((text, a, b) in arb_text_and_two(), a_first: bool) {
        let len = text.chars().count();
        let (a2, b2) = transform(&steps(&a, len), &steps(&b, len), a_first).expect("same length");
        let ab = text_merge::apply(&text_merge::apply(&text, &a), &hunks(&b2));
        let ba = text_merge::apply(&text_merge::apply(&text, &b), &hunks(&a2));
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn deltas_survive_the_trip_through_positions((text, a, _b) in arb_text_and_two()) {
        let aligned = align(&text, a.clone());
        let delta = hunks_to_delta(&text, &aligned);
        let back = delta_to_hunks(&text, &delta).expect("valid");
        prop_assert_eq!(text_merge::apply(&text, &back), text_merge::apply(&text, &a));
    }

    /// An editor and rumor editing at once, messages crossing in any
    /// order: both end with the same text.
    #[test]
    fn editor_and_document_converge_whatever_the_interleaving(
        script in proptest::collection::vec((0..4u8, any::<u64>(), "[xy\n😀]{0,2}"), 0..40)
    ) {
        let start = "ab\ncd";
        let (mut sync, first) = EditorSync::open(start, start);
        prop_assert!(first.is_none());
        let mut doc = start.to_string();
        let mut editor = start.to_string();
        let (mut editor_rev, mut daemon_rev) = (0u64, 0u64);
        let mut to_editor: VecDeque<Outgoing> = VecDeque::new();
        let mut to_rumor: VecDeque<(u64, Vec<Replacement>)> = VecDeque::new();
        let pick = |text: &str, r: u64, ins: &str| {
            let len = text.chars().count();
            let start = (r as usize) % (len + 1);
            let deleted = ((r >> 16) as usize % 3).min(len - start);
            vec![Hunk { start, deleted, inserted: ins.to_string() }]
        };
        for (what, r, ins) in script {
            match what {
                0 => {
                    // The user types.
                    let hunks = align(&editor, pick(&editor, r, &ins));
                    let delta = hunks_to_delta(&editor, &hunks);
                    editor = text_merge::apply(&editor, &hunks);
                    editor_rev += 1;
                    to_rumor.push_back((daemon_rev, delta));
                }
                1 => {
                    // A peer's edit reaches the document.
                    doc = text_merge::apply(&doc, &pick(&doc, r, &ins));
                    to_editor.extend(sync.document_changed(&doc));
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
                        to_editor.extend(sync.document_changed(&doc));
                        let (to_doc, resend) = sync.editor_edit(rev, &delta).expect("valid");
                        doc = text_merge::apply(&doc, &to_doc);
                        to_editor.extend(resend);
                    }
                }
            }
        }
        while !to_rumor.is_empty() || !to_editor.is_empty() {
            while let Some((rev, delta)) = to_rumor.pop_front() {
                to_editor.extend(sync.document_changed(&doc));
                let (to_doc, resend) = sync.editor_edit(rev, &delta).expect("valid");
                doc = text_merge::apply(&doc, &to_doc);
                to_editor.extend(resend);
            }
            // (The editor sends nothing more: its daemon revision no
            // longer matters.)
            while let Some(out) = to_editor.pop_front() {
                if out.revision == editor_rev {
                    editor = apply_delta(&editor, &out.delta);
                }
            }
        }
        prop_assert_eq!(&editor, &doc);
        prop_assert_eq!(sync.shadow(), doc.as_str());
    }
}
