//! The op log: every op this replica has applied, in the order it applied
//! them (which is a causal order), run-length merged.

use std::collections::BTreeMap;

use super::error::Error;
use super::id::{Id, IdSpan, ReplicaId};
use super::op::{Op, OpKind};
use super::version::VersionVector;

/// An op and its length in counters (cached: counting chars is linear).
#[derive(Debug, Clone)]
struct Entry {
    op: Op,
    len: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OpLog {
    ops: Vec<Entry>,
    /// Per replica: (first counter, index in `ops`) of each of its entries,
    /// in counter order (a replica's ops are applied in counter order).
    by_replica: BTreeMap<ReplicaId, Vec<(u64, usize)>>,
}

impl OpLog {
    /// Number of entries (runs), not chars.
    pub fn entries(&self) -> usize {
        self.ops.len()
    }

    /// Appends an op that was just applied, merging it into the last entry
    /// when it simply continues it (typing, repeated deletes).
    pub fn push(&mut self, op: Op, len: u64) {
        if let Some(last) = self.ops.last_mut() {
            if try_merge(&mut last.op, last.len, &op) {
                last.len += len;
                return;
            }
        }
        self.by_replica
            .entry(op.id.replica)
            .or_default()
            .push((op.id.counter, self.ops.len()));
        self.ops.push(Entry { op, len });
    }

    /// Every op (or part of an op) whose ids `v` lacks, in log order.
    pub fn ops_since(&self, v: &VersionVector) -> Vec<Op> {
        let mut picks: Vec<(usize, u64)> = Vec::new();
        for (&replica, entries) in &self.by_replica {
            let have = v.get(replica);
            // First entry that ends after `have`: entries are sorted by start and
            // contiguous, so it is the last one starting at or before `have`.
            let first = entries.partition_point(|&(start, _)| start <= have);
            let first = first.saturating_sub(1);
            for &(start, index) in &entries[first..] {
                let end = start + self.ops[index].len;
                if end > have {
                    picks.push((index, have.saturating_sub(start)));
                }
            }
        }
        picks.sort_unstable();
        picks
            .into_iter()
            .map(|(index, from)| {
                let entry = &self.ops[index];
                if from == 0 {
                    entry.op.clone()
                } else {
                    entry.op.slice(from, entry.len)
                }
            })
            .collect()
    }

    /// Checks that `op`'s ids in `0..known` (offsets into the op, all of
    /// which this log has) carry the same content as the log has for them.
    pub fn check_same(&self, op: &Op, known: u64) -> Result<(), Error> {
        let entries = match self.by_replica.get(&op.id.replica) {
            Some(e) => e,
            None => return Err(Error::Conflict(op.id)),
        };
        let (lo, hi) = (op.id.counter, op.id.counter + known);
        let first = entries
            .partition_point(|&(start, _)| start <= lo)
            .saturating_sub(1);
        for &(start, index) in &entries[first..] {
            if start >= hi {
                break;
            }
            let have = &self.ops[index];
            let end = start + have.len;
            let (a, b) = (lo.max(start), hi.min(end));
            if a >= b {
                continue;
            }
            let theirs = op.slice(a - lo, b - lo);
            let ours = have.op.slice(a - start, b - start);
            if !same_content(&theirs, &ours) {
                return Err(Error::Conflict(op.id.add(a - lo)));
            }
        }
        Ok(())
    }
}

/// Equal ops, with delete target lists compared after merging adjacent spans.
fn same_content(a: &Op, b: &Op) -> bool {
    match (&a.kind, &b.kind) {
        (OpKind::Delete { targets: x }, OpKind::Delete { targets: y }) => {
            a.id == b.id && merged_spans(x) == merged_spans(y)
        }
        _ => a == b,
    }
}

fn merged_spans(spans: &[IdSpan]) -> Vec<IdSpan> {
    let mut out: Vec<IdSpan> = Vec::with_capacity(spans.len());
    for &s in spans {
        push_span(&mut out, s);
    }
    out
}

/// Appends a span, extending the last one when `s` continues it.
pub(crate) fn push_span(out: &mut Vec<IdSpan>, s: IdSpan) {
    if let Some(last) = out.last_mut() {
        if last.start.replica == s.start.replica && last.end_counter() == s.start.counter {
            last.len += s.len;
            return;
        }
    }
    out.push(s);
}

/// Merges `next` into `last` when it is the same replica's very next op and
/// the two read as one: a run of typing, or consecutive deletes.
fn try_merge(last: &mut Op, last_len: u64, next: &Op) -> bool {
    if last.id.replica != next.id.replica || last.id.counter + last_len != next.id.counter {
        return false;
    }
    let previous = Some(Id::new(next.id.replica, next.id.counter - 1));
    match (&mut last.kind, &next.kind) {
        (
            OpKind::Insert { right, text, .. },
            OpKind::Insert {
                left: nl,
                right: nr,
                text: nt,
            },
        ) if *nl == previous && nr == right => {
            text.push_str(nt);
            true
        }
        (OpKind::Delete { targets }, OpKind::Delete { targets: nt }) => {
            for &s in nt {
                push_span(targets, s);
            }
            true
        }
        _ => false,
    }
}
