//! The op log: every op this replica has applied, in the order it applied
//! them (which is a causal order), run-length merged.

use std::collections::BTreeMap;

use super::error::Error;
use super::id::{Id, ReplicaId, TargetSpan};
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

    /// Appends an insert that was just applied. A run that continues its
    /// replica's last insert (typing) is merged into it, without allocating.
    /// Merging into an entry that is not the last one keeps the log causal:
    /// the new chars depend only on that entry's origins and its last char.
    pub fn push_insert(
        &mut self,
        id: Id,
        left: Option<Id>,
        right: Option<Id>,
        text: &str,
        len: u64,
    ) {
        if !self.extend_insert(id, left, right, text, len) {
            let kind = OpKind::Insert {
                left,
                right,
                text: text.to_string(),
            };
            self.push_new(Op { id, kind }, len);
        }
    }

    /// Appends a delete that was just applied, merged into the last entry
    /// when that is the same replica's previous delete.
    pub fn push_delete(&mut self, id: Id, targets: &[TargetSpan], len: u64) {
        if !self.extend_delete(id, targets, len) {
            let kind = OpKind::Delete {
                targets: targets.to_vec(),
            };
            self.push_new(Op { id, kind }, len);
        }
    }

    /// Appends an op that was just applied (either kind).
    pub fn push(&mut self, op: Op, len: u64) {
        let extended = match &op.kind {
            OpKind::Insert { left, right, text } => {
                self.extend_insert(op.id, *left, *right, text, len)
            }
            OpKind::Delete { targets } => self.extend_delete(op.id, targets, len),
        };
        if !extended {
            self.push_new(op, len);
        }
    }

    fn extend_insert(
        &mut self,
        id: Id,
        left: Option<Id>,
        right: Option<Id>,
        text: &str,
        len: u64,
    ) -> bool {
        if let Some(&(start, index)) = self.by_replica.get(&id.replica).and_then(|e| e.last()) {
            let entry = &mut self.ops[index];
            if let OpKind::Insert {
                right: r, text: t, ..
            } = &mut entry.op.kind
            {
                if start + entry.len == id.counter
                    && left == Some(Id::new(id.replica, id.counter - 1))
                    && *r == right
                {
                    t.push_str(text);
                    entry.len += len;
                    return true;
                }
            }
        }
        false
    }

    fn extend_delete(&mut self, id: Id, targets: &[TargetSpan], len: u64) -> bool {
        if let Some(last) = self.ops.last_mut() {
            if let OpKind::Delete { targets: t } = &mut last.op.kind {
                if last.op.id.replica == id.replica && last.op.id.counter + last.len == id.counter {
                    for &s in targets {
                        TargetSpan::push(t, s);
                    }
                    last.len += len;
                    return true;
                }
            }
        }
        false
    }

    fn push_new(&mut self, op: Op, len: u64) {
        self.by_replica
            .entry(op.id.replica)
            .or_default()
            .push((op.id.counter, self.ops.len()));
        self.ops.push(Entry { op, len });
    }

    /// The entry holding `id`, if any.
    fn entry_of(&self, id: Id) -> Option<&Entry> {
        let entries = self.by_replica.get(&id.replica)?;
        let i = entries.partition_point(|&(start, _)| start <= id.counter);
        let (start, index) = *entries.get(i.checked_sub(1)?)?;
        let entry = &self.ops[index];
        (id.counter < start + entry.len).then_some(entry)
    }

    /// The (left, right) origins of the inserted char `id`, if it is one.
    pub fn origins(&self, id: Id) -> Option<(Option<Id>, Option<Id>)> {
        let entry = self.entry_of(id)?;
        match &entry.op.kind {
            OpKind::Insert { left, right, .. } => {
                let left = if id == entry.op.id {
                    *left
                } else {
                    Some(Id::new(id.replica, id.counter - 1))
                };
                Some((left, *right))
            }
            OpKind::Delete { .. } => None,
        }
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

fn merged_spans(spans: &[TargetSpan]) -> Vec<TargetSpan> {
    let mut out = Vec::with_capacity(spans.len());
    for &s in spans {
        TargetSpan::push(&mut out, s);
    }
    out
}
