//! Ops that arrived before an op they depend on, parked by the first
//! missing id, and released as soon as that id is applied.
//!
//! Bounded in count and in bytes, so a peer that sends ops whose causes
//! never come cannot make a replica hold more than a fixed amount.

use std::collections::{BTreeMap, BTreeSet};

use super::id::{Id, ReplicaId};
use super::op::{Op, OpKind};

/// Most ops held at once; past it `apply` refuses new early ops.
pub(crate) const MAX_PENDING: usize = 1 << 16;
/// Most bytes (text and delete spans) held at once.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    waiting: BTreeMap<Id, Vec<Op>>,
    /// (first id, length in counters) of every held op: a retransmitted
    /// copy is held once (a conflicting op with the same span is refused
    /// when the first one applies, so keeping one is enough).
    held: BTreeSet<(Id, u64)>,
    count: usize,
    bytes: usize,
}

/// What holding `op` costs, roughly in bytes.
fn size(op: &Op) -> usize {
    match &op.kind {
        OpKind::Insert { text, .. } => text.len(),
        OpKind::Delete { targets } => targets.len() * std::mem::size_of::<super::id::TargetSpan>(),
    }
}

impl Pending {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether `op` would go past a bound.
    pub fn is_full_for(&self, op: &Op) -> bool {
        self.count >= MAX_PENDING || self.bytes + size(op) > MAX_PENDING_BYTES
    }

    /// Parks `op` until `missing` is applied. A copy of an op already
    /// parked (a retransmission) is not parked twice.
    pub fn hold(&mut self, missing: Id, op: Op) {
        if !self.held.insert((op.id, op.len())) {
            return;
        }
        self.count += 1;
        self.bytes += size(&op);
        self.waiting.entry(missing).or_default().push(op);
    }

    /// Copies of every held op.
    pub fn all(&self) -> Vec<Op> {
        self.waiting.values().flatten().cloned().collect()
    }

    /// Takes every op waiting for a counter of `replica` in `from..to`.
    pub fn release(&mut self, replica: ReplicaId, from: u64, to: u64, out: &mut Vec<Op>) {
        if self.count == 0 || from >= to {
            return;
        }
        let keys: Vec<Id> = self
            .waiting
            .range(Id::new(replica, from)..Id::new(replica, to))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            for op in self.waiting.remove(&k).unwrap_or_default() {
                self.held.remove(&(op.id, op.len()));
                self.count -= 1;
                self.bytes -= size(&op);
                out.push(op);
            }
        }
    }
}
