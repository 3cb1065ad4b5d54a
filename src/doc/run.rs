//! A run: the unit the sequence stores.

use super::id::Id;

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
