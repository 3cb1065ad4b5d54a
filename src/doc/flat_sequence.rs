//! The reference sequence: the same operations as [`super::sequence`], on a
//! flat `Vec` of runs scanned from the start every time. Slow and obviously
//! right; the indexed tree is tested against it.

use super::id::{Id, IdSpan, TargetSpan};

/// Consecutive chars of one replica, typed one after another, all visible or
/// all deleted. Char `k` of the run has id `id + k`; its left origin is the
/// char before it in the run (or `left` for `k == 0`); its right origin is
/// `right` for every `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub id: Id,
    pub len: u64,
    pub left: Option<Id>,
    pub right: Option<Id>,
    pub deleted: bool,
}

impl Run {
    pub fn visible(&self) -> usize {
        if self.deleted {
            0
        } else {
            self.len as usize
        }
    }

    pub fn contains(&self, id: Id) -> bool {
        id.replica == self.id.replica
            && id.counter >= self.id.counter
            && id.counter < self.id.counter + self.len
    }

    /// Keeps chars `0..at` and returns the rest as its own run.
    pub fn split(&mut self, at: u64) -> Run {
        debug_assert!(at > 0 && at < self.len);
        let rest = Run {
            id: self.id.add(at),
            len: self.len - at,
            left: Some(self.id.add(at - 1)),
            right: self.right,
            deleted: self.deleted,
        };
        self.len = at;
        rest
    }

    /// Whether `next`, placed right after this run, continues it (same
    /// replica, next ids, typed right after it, same state), so the two can
    /// be stored as one run.
    pub fn can_join(&self, next: &Run) -> bool {
        self.deleted == next.deleted
            && self.id.replica == next.id.replica
            && self.id.counter + self.len == next.id.counter
            && next.left == Some(self.id.add(self.len - 1))
            && next.right == self.right
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FlatSequence {
    runs: Vec<Run>,
    visible: usize,
}

impl FlatSequence {
    pub fn visible_len(&self) -> usize {
        self.visible
    }

    /// Index of the run holding visible char `pos`, and the offset of that
    /// char in the run. `pos < visible_len()`.
    fn find_visible(&self, pos: usize) -> (usize, u64) {
        let mut seen = 0;
        for (i, run) in self.runs.iter().enumerate() {
            let v = run.visible();
            if pos < seen + v {
                return (i, (pos - seen) as u64);
            }
            seen += v;
        }
        unreachable!("visible position {pos} past the end")
    }

    /// Makes `at` a run boundary inside run `i` (no-op at 0 or len).
    fn split_run(&mut self, i: usize, at: u64) {
        if at > 0 && at < self.runs[i].len {
            let rest = self.runs[i].split(at);
            self.runs.insert(i + 1, rest);
        }
    }

    /// Inserts a local run of `len` chars so that it starts at visible
    /// position `pos` (right after the visible char before it). Returns
    /// its origins.
    pub fn insert_local(&mut self, pos: usize, id: Id, len: u64) -> (Option<Id>, Option<Id>) {
        let (index, left) = if pos == 0 {
            (0, None)
        } else {
            let (i, k) = self.find_visible(pos - 1);
            self.split_run(i, k + 1);
            (i + 1, Some(self.runs[i].id.add(k)))
        };
        let right = self.runs.get(index).map(|r| r.id);
        self.insert_run(
            index,
            Run {
                id,
                len,
                left,
                right,
                deleted: false,
            },
        );
        (left, right)
    }

    fn insert_run(&mut self, index: usize, run: Run) {
        self.visible += run.visible();
        if index > 0 && self.runs[index - 1].can_join(&run) {
            self.runs[index - 1].len += run.len;
        } else {
            self.runs.insert(index, run);
        }
    }

    /// Marks visible chars `pos .. pos + len` deleted, appending their ids
    /// (in document order) to `out`.
    pub fn delete_local(&mut self, pos: usize, len: usize, out: &mut Vec<TargetSpan>) {
        let mut remaining = len as u64;
        let (mut i, k) = self.find_visible(pos);
        self.split_run(i, k);
        if k > 0 {
            i += 1;
        }
        while remaining > 0 {
            if self.runs[i].deleted {
                i += 1;
                continue;
            }
            self.split_run(i, remaining);
            let run = &mut self.runs[i];
            run.deleted = true;
            remaining -= run.len;
            self.visible -= run.len as usize;
            TargetSpan::push(out, TargetSpan::forward(IdSpan::new(run.id, run.len)));
            i += 1;
        }
    }

    /// Char-level position (tombstones counted) of the run at `index`.
    fn raw_start(&self, index: usize) -> u64 {
        self.runs[..index].iter().map(|r| r.len).sum()
    }

    /// Run index and offset of the char with id `id`.
    fn find_id(&self, id: Id) -> Option<(usize, u64)> {
        self.runs
            .iter()
            .position(|r| r.contains(id))
            .map(|i| (i, id.counter - self.runs[i].id.counter))
    }

    /// Char-level position of a left origin: -1 for the start of the document.
    fn left_pos(&self, id: Option<Id>) -> i64 {
        match id.and_then(|id| self.find_id(id)) {
            Some((i, k)) => (self.raw_start(i) + k) as i64,
            None => -1,
        }
    }

    /// Char-level position of a right origin: the total length for the end.
    fn right_pos(&self, id: Option<Id>) -> i64 {
        match id.and_then(|id| self.find_id(id)) {
            Some((i, k)) => (self.raw_start(i) + k) as i64,
            None => self.runs.iter().map(|r| r.len).sum::<u64>() as i64,
        }
    }

    /// Places a remote run between its origins by the FugueMax rule (see the
    /// module doc of `doc`) and returns the visible position of its first char.
    /// Both origins must be present.
    pub fn integrate(&mut self, id: Id, len: u64, left: Option<Id>, right: Option<Id>) -> usize {
        // Make the origins run boundaries, so the scan below moves run by run.
        let mut start = 0;
        if let Some(l) = left {
            let (i, k) = self.find_id(l).expect("left origin present");
            self.split_run(i, k + 1);
            start = i + 1;
        }
        let end = match right {
            Some(r) => {
                let (i, k) = self.find_id(r).expect("right origin present");
                self.split_run(i, k);
                if k > 0 {
                    i + 1
                } else {
                    i
                }
            }
            None => self.runs.len(),
        };
        let my_left = self.left_pos(left);
        let my_right = self.right_pos(right);

        let mut dest = start;
        let mut scanning = false;
        let mut i = start;
        while i < end {
            if !scanning {
                dest = i;
            }
            let other = self.runs[i];
            let other_left = self.left_pos(other.left);
            if other_left < my_left {
                break;
            }
            if other_left == my_left {
                let other_right = self.right_pos(other.right);
                if other_right < my_right {
                    scanning = true;
                } else if other_right == my_right && id.replica < other.id.replica {
                    break;
                } else {
                    scanning = false;
                }
            }
            i += 1;
        }
        if !scanning {
            dest = i;
        }
        let pos = self.runs[..dest].iter().map(|r| r.visible()).sum();
        self.insert_run(
            dest,
            Run {
                id,
                len,
                left,
                right,
                deleted: false,
            },
        );
        pos
    }

    /// Marks the chars of `span` deleted (all must be present). Calls
    /// `removed(pos, len)` for each visible stretch that disappears, at its
    /// visible position at that moment, in order.
    pub fn delete_span(&mut self, span: IdSpan, mut removed: impl FnMut(usize, usize)) {
        let mut id = span.start;
        let end = span.end_counter();
        while id.counter < end {
            let (i, k) = self.find_id(id).expect("delete target present");
            self.split_run(i, k);
            let i = if k > 0 { i + 1 } else { i };
            self.split_run(i, end - id.counter);
            let run = self.runs[i];
            if !run.deleted {
                let pos = self.runs[..i].iter().map(|r| r.visible()).sum();
                self.runs[i].deleted = true;
                self.visible -= run.len as usize;
                removed(pos, run.len as usize);
            }
            id = id.add(run.len);
        }
    }
}

impl FlatSequence {
    pub fn runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter()
    }
}
