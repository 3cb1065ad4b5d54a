//! Ops: the unit of change that replicas exchange.

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::id::{Id, IdSpan, TargetSpan};

/// The most counters one op may use (chars inserted or deleted).
pub(crate) const MAX_RUN: u64 = u32::MAX as u64;

/// One change, run-length encoded: an insert of a run of chars typed one
/// after another, or a delete of a list of id spans.
///
/// An op of length `n` uses the counters `id.counter .. id.counter + n` of
/// its replica: one per inserted char, one per deleted char. So any op can be
/// cut at any counter into two valid ops ([`Op::slice`]), which is how the
/// wire splits big ops and how `ops_since` returns only what is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub id: Id,
    pub kind: OpKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// `text`'s first char goes between `left` and `right` (ids of chars,
    /// `None` for the start or end of the document); each later char of
    /// `text` goes right after the one before it, still before `right`.
    Insert {
        left: Option<Id>,
        right: Option<Id>,
        text: String,
    },
    /// Deletes every char named by `targets`; counter `id.counter + k` is the
    /// id of deleting the `k`-th char listed.
    Delete { targets: Vec<TargetSpan> },
}

impl Op {
    /// How many counters the op uses: chars inserted or deleted.
    /// (Saturating: a hostile delete's lengths may add up past `u64::MAX`;
    /// `validate` refuses such an op.)
    pub fn len(&self) -> u64 {
        match &self.kind {
            OpKind::Insert { text, .. } => text.chars().count() as u64,
            OpKind::Delete { targets } => targets.iter().fold(0u64, |n, s| n.saturating_add(s.len)),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.kind {
            OpKind::Insert { text, .. } => text.is_empty(),
            OpKind::Delete { targets } => targets.iter().all(|s| s.len == 0),
        }
    }

    /// The ids this op uses.
    pub fn span(&self) -> IdSpan {
        IdSpan::new(self.id, self.len())
    }

    /// Checks what can be checked without a document: non-empty, no
    /// counter overflow, no reference to itself or to a later id of its
    /// own replica (which could never be satisfied).
    pub fn validate(&self) -> Result<(), Error> {
        if let OpKind::Delete { targets } = &self.kind {
            let total = targets.iter().try_fold(0u64, |n, s| n.checked_add(s.len));
            if total.is_none() {
                return Err(Error::InvalidOp("delete lengths overflow"));
            }
        }
        let len = self.len();
        if len == 0 {
            return Err(Error::InvalidOp("empty op"));
        }
        if self.id.counter.checked_add(len).is_none() {
            return Err(Error::InvalidOp("counter overflow"));
        }
        if len > MAX_RUN {
            return Err(Error::InvalidOp("op too long"));
        }
        let own_future = |id: &Id| id.replica == self.id.replica && id.counter >= self.id.counter;
        match &self.kind {
            OpKind::Insert { left, right, .. } => {
                if left.iter().chain(right.iter()).any(own_future) {
                    return Err(Error::InvalidOp("insert refers to its own future"));
                }
            }
            OpKind::Delete { targets } => {
                for t in targets {
                    let Some(ids) = t.ids() else {
                        return Err(Error::InvalidOp("bad delete span"));
                    };
                    if ids.start.replica == self.id.replica && ids.end_counter() > self.id.counter {
                        return Err(Error::InvalidOp("delete refers to its own future"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The part of the op that uses counters `from .. to` (offsets from
    /// `id.counter`, `from < to <= len`). It is itself a valid op.
    pub fn slice(&self, from: u64, to: u64) -> Op {
        debug_assert!(from < to);
        let id = self.id.add(from);
        let kind = match &self.kind {
            OpKind::Insert { left, right, text } => {
                let mut chars = text.char_indices().map(|(i, _)| i).chain([text.len()]);
                let start = chars.nth(from as usize).unwrap_or(text.len());
                let end = if to > from {
                    chars.nth((to - from - 1) as usize).unwrap_or(text.len())
                } else {
                    start
                };
                OpKind::Insert {
                    left: if from == 0 {
                        *left
                    } else {
                        Some(self.id.add(from - 1))
                    },
                    right: *right,
                    text: text[start..end].to_string(),
                }
            }
            OpKind::Delete { targets } => {
                let mut out = Vec::new();
                let mut at = 0u64;
                for t in targets {
                    let (lo, hi) = (at.max(from), (at + t.len).min(to));
                    if lo < hi {
                        out.push(t.slice(lo - at, hi - at));
                    }
                    at += t.len;
                    if at >= to {
                        break;
                    }
                }
                OpKind::Delete { targets: out }
            }
        };
        Op { id, kind }
    }

    /// The first id this op needs that `v` lacks, besides the previous
    /// counter of its own replica: an origin, or the last id of a delete
    /// target (ids of one replica arrive in order). No allocation: `apply`
    /// asks this for every op.
    pub fn missing_dependency(&self, v: &super::VersionVector) -> Option<Id> {
        match &self.kind {
            OpKind::Insert { left, right, .. } => left
                .iter()
                .chain(right.iter())
                .copied()
                .find(|d| !v.contains(*d)),
            OpKind::Delete { targets } => targets
                .iter()
                .filter_map(|t| t.ids().map(|s| s.last()))
                .find(|d| !v.contains(*d)),
        }
    }
}
