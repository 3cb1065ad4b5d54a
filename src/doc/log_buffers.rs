//! The op log's two flat buffers (all inserted text, all delete targets),
//! each with a sparse index, so that the part of one stored run an op
//! names is found in O(log n + STRIDE + the part), never by walking the
//! run from its start. A run can be millions of chars long (a paste) or
//! hold millions of delete spans (held Backspace), and every duplicate a
//! peer sends, honest or forged, asks for a few chars in the middle of one.
//!
//! Both buffers only grow at their end, and a mark is written once the
//! data before it is final, so marks never need updating.

use std::ops::Range;

use super::id::{joined_walk, Id, ReplicaId, TargetSpan};

/// A mark every this many chars (text) or spans (targets): the index
/// costs 4 bytes per 128 chars, and a lookup steps over at most this many.
pub(crate) const STRIDE: usize = 128;

/// All inserted text, in log order, with the byte offset of every
/// `STRIDE`-th char.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogText {
    text: String,
    /// `marks[j]`: the byte offset of char `j * STRIDE`.
    marks: Vec<u32>,
    /// Chars in `text`.
    chars: u64,
}

impl LogText {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Bytes that fit before the buffer must grow.
    pub fn spare(&self) -> usize {
        self.text.capacity() - self.text.len()
    }

    pub fn capacity(&self) -> usize {
        self.text.capacity()
    }

    pub fn reserve_exact(&mut self, bytes: usize) {
        self.text.reserve_exact(bytes);
        self.marks.reserve_exact(bytes / STRIDE + 1);
    }

    /// Appends `s`. O(len of s).
    pub fn push(&mut self, s: &str) {
        let at = self.text.len();
        self.text.push_str(s);
        // Offsets within `s` of its chars that get a mark.
        let first = (STRIDE - self.chars as usize % STRIDE) % STRIDE;
        if s.is_ascii() {
            let marks = (first..s.len()).step_by(STRIDE).map(|i| (at + i) as u32);
            self.marks.extend(marks);
            self.chars += s.len() as u64;
        } else {
            let mut n = 0;
            for (k, (i, _)) in s.char_indices().enumerate() {
                if k >= first && (k - first).is_multiple_of(STRIDE) {
                    self.marks.push((at + i) as u32);
                }
                n += 1;
            }
            self.chars += n;
        }
    }

    /// The index of the char that starts at byte `byte` (or of the char
    /// after the text at its end). O(log n + STRIDE).
    fn char_at(&self, byte: usize) -> u64 {
        let j = self.marks.partition_point(|&m| m as usize <= byte);
        let Some(j) = j.checked_sub(1) else {
            return 0;
        };
        let from = self.marks[j] as usize;
        let walked = self.text.get(from..byte).map_or(0, |s| s.chars().count());
        #[cfg(test)]
        walked::add(walked as u64);
        (j * STRIDE + walked) as u64
    }

    /// The byte offset of char `c` (the end of the text past it).
    /// O(STRIDE).
    fn byte_of(&self, c: u64) -> usize {
        if c >= self.chars {
            return self.text.len();
        }
        let j = (c / STRIDE as u64) as usize;
        let from = self.marks[j] as usize;
        let skip = (c % STRIDE as u64) as usize;
        #[cfg(test)]
        walked::add(skip as u64);
        self.text[from..]
            .char_indices()
            .nth(skip)
            .map_or(self.text.len(), |(i, _)| from + i)
    }

    /// Chars `from .. to` of the run stored at bytes `run`, which holds
    /// `chars` chars (clamped to the run). O(log n + STRIDE + to - from).
    pub fn slice(&self, run: Range<usize>, chars: u64, from: u64, to: u64) -> &str {
        let (from, to) = (from.min(chars), to.min(chars).max(from.min(chars)));
        if run.len() as u64 == chars {
            // One byte per char: ASCII, sliced in place.
            let (a, b) = (run.start + from as usize, run.start + to as usize);
            if let Some(s) = self.text.get(a..b) {
                return s;
            }
        }
        let first = self.char_at(run.start);
        let a = self.byte_of(first + from).clamp(run.start, run.end);
        let b = self.byte_of(first + to).clamp(a, run.end);
        self.text.get(a..b).unwrap_or("")
    }
}

/// A delete target as the log stores it (16 bytes, half a
/// [`TargetSpan`]): the replica by its number in the log's table, the
/// direction in that number's top bit, the length in 32 bits (a span
/// never outgrows its op, and an op uses at most `u32::MAX` counters;
/// a longer one is stored as several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    counter: u64,
    /// Replica number, `| BACKWARD` when walking down.
    replica: u32,
    len: u32,
}

const BACKWARD: u32 = 1 << 31;

impl Span {
    fn new(s: TargetSpan, number: u32) -> Span {
        debug_assert!(number < BACKWARD && s.len <= u32::MAX as u64);
        let backward = s.backward && s.len > 1;
        Span {
            counter: s.start.counter,
            replica: number | if backward { BACKWARD } else { 0 },
            len: s.len as u32,
        }
    }

    fn len(&self) -> u64 {
        self.len as u64
    }

    fn number(&self) -> u32 {
        self.replica & !BACKWARD
    }

    /// As a target span of `replica` (this span's replica, resolved).
    fn target(&self, replica: ReplicaId) -> TargetSpan {
        TargetSpan {
            start: Id::new(replica, self.counter),
            len: self.len as u64,
            backward: self.replica & BACKWARD != 0,
        }
    }

    fn resolve(&self, replicas: &[ReplicaId]) -> TargetSpan {
        self.target(replicas[self.number() as usize])
    }

    /// Extends this span by `s` (of replica `number`) if `s` continues its
    /// walk and the sum still fits; whether it did.
    fn extend(&mut self, s: TargetSpan, number: u32) -> bool {
        let len = self.len as u64 + s.len;
        if number != self.number() || len > u32::MAX as u64 {
            return false;
        }
        let backward = self.replica & BACKWARD != 0;
        let Some(backward) = joined_walk(self.counter, self.len as u64, backward, &s) else {
            return false;
        };
        self.len = len as u32;
        self.replica = number | if backward { BACKWARD } else { 0 };
        true
    }
}

/// Stored target spans, resolved to [`TargetSpan`]s as they are read.
#[derive(Debug, Clone)]
pub(crate) struct Targets<'a> {
    spans: std::slice::Iter<'a, Span>,
    replicas: &'a [ReplicaId],
}

impl Iterator for Targets<'_> {
    type Item = TargetSpan;

    fn next(&mut self) -> Option<TargetSpan> {
        self.spans.next().map(|s| s.resolve(self.replicas))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for Targets<'_> {}

/// The targets of all deletes, in log order, with the number of counters
/// (chars deleted) named before every `STRIDE`-th span.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogTargets {
    spans: Vec<Span>,
    /// `marks[j]`: counters named by `spans[.. j * STRIDE]`.
    marks: Vec<u64>,
    /// Counters named by all spans.
    total: u64,
}

impl LogTargets {
    /// The spans stored at `run`, resolved through the replica table.
    pub fn spans<'a>(&'a self, run: Range<usize>, replicas: &'a [ReplicaId]) -> Targets<'a> {
        Targets {
            spans: self.spans[run].iter(),
            replicas,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Spans that fit before the buffer must grow.
    pub fn spare(&self) -> usize {
        self.spans.capacity() - self.spans.len()
    }

    pub fn capacity(&self) -> usize {
        self.spans.capacity()
    }

    pub fn reserve_exact(&mut self, spans: usize) {
        self.spans.reserve_exact(spans);
        self.marks.reserve_exact(spans / STRIDE + 1);
    }

    /// Appends `s`, whose replica is number `number` in the log's table,
    /// extending the last span when `s` continues its walk and `merge`
    /// allows (a run's first span must not merge into the previous run's
    /// last).
    pub fn push(&mut self, s: TargetSpan, number: u32, mut merge: bool) {
        const MAX: u64 = u32::MAX as u64;
        let mut rest = s;
        loop {
            let part = if rest.len > MAX {
                rest.slice(0, MAX)
            } else {
                rest
            };
            self.push_part(part, number, merge);
            if part.len == rest.len {
                return;
            }
            rest = rest.slice(MAX, rest.len);
            merge = false;
        }
    }

    fn push_part(&mut self, s: TargetSpan, number: u32, merge: bool) {
        let before = self.spans.len();
        let merged = merge
            && self
                .spans
                .last_mut()
                .is_some_and(|last| last.extend(s, number));
        if !merged {
            self.spans.push(Span::new(s, number));
            if before.is_multiple_of(STRIDE) {
                // The spans before this one are final now.
                self.marks.push(self.total);
            }
        }
        self.total += s.len;
    }

    /// Counters named by `spans[..i]`. O(STRIDE).
    fn counters_before(&self, i: usize) -> u64 {
        let j = i / STRIDE;
        let Some(&mark) = self.marks.get(j) else {
            return self.total;
        };
        let from = j * STRIDE;
        #[cfg(test)]
        walked::add((i - from) as u64);
        mark + self.spans[from..i].iter().map(Span::len).sum::<u64>()
    }

    /// Appends to `out` the targets of counters `from .. to` of the run
    /// stored at `run` (clamped to the run). O(log n + STRIDE + the spans
    /// appended).
    pub fn slice(
        &self,
        run: Range<usize>,
        from: u64,
        to: u64,
        replicas: &[ReplicaId],
        out: &mut Vec<TargetSpan>,
    ) {
        if from >= to || run.is_empty() || run.end > self.spans.len() {
            return;
        }
        let base = self.counters_before(run.start);
        let want = base + from;
        // The last mark at or before `want`: the span holding it is at
        // most STRIDE spans further.
        let j = self.marks.partition_point(|&m| m <= want).saturating_sub(1);
        let mut i = (j * STRIDE).max(run.start);
        let mut at = if i == run.start {
            base
        } else {
            self.counters_before(i)
        };
        while i < run.end && at + self.spans[i].len() <= want {
            at += self.spans[i].len();
            i += 1;
        }
        #[cfg(test)]
        walked::add((i - (j * STRIDE).max(run.start)) as u64);
        let end = base + to;
        while i < run.end && at < end {
            let s = self.spans[i].resolve(replicas);
            let (lo, hi) = (want.max(at), end.min(at + s.len));
            if lo < hi {
                out.push(s.slice(lo - at, hi - at));
            }
            at += s.len;
            i += 1;
        }
    }
}

/// Test only: how many stored chars and delete spans the log stepped over
/// to find a part of a run (a complexity proxy: tests assert on it, never
/// on time).
#[cfg(test)]
pub(crate) mod walked {
    use std::cell::Cell;

    thread_local! {
        static WALKED: Cell<u64> = const { Cell::new(0) };
    }

    pub fn add(n: u64) {
        WALKED.with(|w| w.set(w.get() + n));
    }

    /// The count so far, reset to zero.
    pub fn take() -> u64 {
        WALKED.with(|w| w.replace(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Id, ReplicaId};

    #[test]
    fn text_slices_match_a_plain_char_walk() {
        let mut t = LogText::default();
        let parts = ["héllo", "", "a", &"xé😀".repeat(100), &"b".repeat(300), "→"];
        let mut runs = Vec::new();
        for p in parts {
            let start = t.len();
            t.push(p);
            runs.push((start..t.len(), p));
        }
        for (run, p) in runs {
            let n = p.chars().count() as u64;
            for from in 0..=n + 1 {
                for to in [from, from + 1, from + 7, n, n + 3] {
                    let want: String = p
                        .chars()
                        .skip(from as usize)
                        .take(to.saturating_sub(from) as usize)
                        .collect();
                    assert_eq!(
                        t.slice(run.clone(), n, from, to),
                        want,
                        "{p:?} {from}..{to}"
                    );
                }
            }
        }
    }

    #[test]
    fn target_slices_match_a_plain_walk() {
        let mut t = LogTargets::default();
        let span = |c: u64, len: u64| TargetSpan {
            start: Id::new(ReplicaId(1), c),
            len,
            backward: false,
        };
        let mut runs = Vec::new();
        for (r, count) in [(0u64, 1usize), (1, 300), (2, 5), (3, 260)] {
            let start = t.len();
            let mut plain = Vec::new();
            for k in 0..count as u64 {
                let s = span(r * 100_000 + 10 * k, 1 + k % 3);
                t.push(s, 0, k > 0);
                TargetSpan::push(&mut plain, s);
            }
            runs.push((start..t.len(), plain));
        }
        for (run, plain) in runs {
            let total: u64 = plain.iter().map(|s| s.len).sum();
            for from in (0..total).step_by(7) {
                for to in [from + 1, from + 5, total] {
                    let to = to.min(total);
                    let mut got = Vec::new();
                    t.slice(run.clone(), from, to, &[ReplicaId(1)], &mut got);
                    let op = crate::doc::Op {
                        id: Id::new(ReplicaId(2), 0),
                        kind: crate::doc::OpKind::Delete {
                            targets: plain.clone(),
                        },
                    };
                    let want = match op.slice(from, to).kind {
                        crate::doc::OpKind::Delete { targets } => targets,
                        _ => unreachable!(),
                    };
                    assert_eq!(got, want, "{from}..{to} of {total}");
                }
            }
        }
    }
}
