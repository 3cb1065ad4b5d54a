//! Ops that arrived before an op they depend on, parked by the first
//! missing id, and released as soon as that id is applied.

use std::collections::BTreeMap;

use super::id::{Id, ReplicaId};
use super::op::Op;

/// Most ops held at once; past it `apply` refuses new early ops.
pub(crate) const MAX_PENDING: usize = 1 << 16;

#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    waiting: BTreeMap<Id, Vec<Op>>,
    count: usize,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_full(&self) -> bool {
        self.count >= MAX_PENDING
    }

    /// Parks `op` until `missing` is applied. A copy of an op already
    /// parked (a retransmission) is not parked twice.
    pub fn hold(&mut self, missing: Id, op: Op) {
        let list = self.waiting.entry(missing).or_default();
        if list.iter().any(|held| held == &op) {
            return;
        }
        list.push(op);
        self.count += 1;
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
            if let Some(ops) = self.waiting.remove(&k) {
                self.count -= ops.len();
                out.extend(ops);
            }
        }
    }
}
