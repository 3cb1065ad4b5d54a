//! Finding text: plain, case-sensitive substring matches in the rope,
//! as char ranges.

use std::ops::Range;

use ropey::Rope;

/// The match of `query` that starts first at or after `from` (`forward`),
/// or last before `from`, wrapping around the text's ends.
pub fn find(rope: &Rope, query: &str, from: usize, forward: bool) -> Option<Range<usize>> {
    if query.is_empty() {
        return None;
    }
    // One copy of the text (about a millisecond per megabyte) per search.
    let text = rope.to_string();
    let from = rope.char_to_byte(from.min(rope.len_chars()));
    let mut starts = text.match_indices(query).map(|(b, _)| b);
    let byte = if forward {
        let mut first = None;
        let mut after = None;
        for b in starts.by_ref() {
            first.get_or_insert(b);
            if b >= from {
                after = Some(b);
                break;
            }
        }
        after.or(first)?
    } else {
        let (mut before, mut last) = (None, None);
        for b in starts {
            if b < from {
                before = Some(b);
            }
            last = Some(b);
        }
        before.or(last)?
    };
    let start = rope.byte_to_char(byte);
    Some(start..start + query.chars().count())
}

/// The matches of `query` that start within `range` (non-overlapping).
pub fn matches_in(rope: &Rope, query: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let n = query.chars().count();
    let len = rope.len_chars();
    if n == 0 || range.start >= len {
        return Vec::new();
    }
    // Also the chars a match starting near the end reaches into.
    let end = range.end.saturating_add(n - 1).min(len);
    let slice = rope.slice(range.start..end);
    let text = slice.to_string();
    text.match_indices(query)
        .map(|(b, _)| range.start + slice.byte_to_char(b))
        .filter(|&s| s < range.end)
        .map(|s| s..s + n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_goes_forward_and_back_and_wraps() {
        let rope = Rope::from_str("one two ünë two one");
        assert_eq!(find(&rope, "two", 0, true), Some(4..7));
        assert_eq!(find(&rope, "two", 5, true), Some(12..15));
        assert_eq!(find(&rope, "two", 13, true), Some(4..7), "wraps");
        assert_eq!(find(&rope, "one", 4, false), Some(0..3));
        assert_eq!(find(&rope, "one", 0, false), Some(16..19), "wraps");
        assert_eq!(find(&rope, "ünë", 0, true), Some(8..11), "in chars");
        assert_eq!(find(&rope, "three", 0, true), None);
        assert_eq!(find(&rope, "", 0, true), None);
        assert_eq!(find(&rope, "one", 999, true), Some(0..3));
    }

    #[test]
    fn matches_in_a_window_include_those_crossing_its_end() {
        let rope = Rope::from_str("ab ab ab");
        assert_eq!(matches_in(&rope, "ab", 0..8), vec![0..2, 3..5, 6..8]);
        assert_eq!(matches_in(&rope, "ab", 1..4), vec![3..5]);
        assert!(matches_in(&rope, "ab", 9..12).is_empty());
        assert!(matches_in(&rope, "", 0..8).is_empty());
    }
}
