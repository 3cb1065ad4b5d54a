//! Ops that arrived before an op they depend on, parked by the first
//! missing id, and released as soon as that id is applied.
//!
//! Bounded in count and in bytes (the ops' text and spans, and what
//! holding each one costs besides), so a peer that sends ops whose causes
//! never come cannot make a replica hold more than a fixed amount; and
//! held only for a while: [`Pending::expire`] drops what has waited since
//! before its previous call (an honest sender's digest brings it again,
//! with its causes), so a flood does not keep its memory forever.

use std::collections::{BTreeMap, BTreeSet};

use super::id::{Id, ReplicaId};
use super::op::{Op, OpKind};

/// Most ops held at once; past it `apply` refuses new early ops.
pub(crate) const MAX_PENDING: usize = 1 << 16;
/// Most bytes held at once, as [`held_cost`] counts them.
pub(crate) const MAX_PENDING_BYTES: usize = 64 << 20;
/// What holding one op costs besides its text or spans: the op itself,
/// and its entries in the two ordered maps (with about half again for
/// the maps' own nodes).
const PER_OP: usize =
    (std::mem::size_of::<(Key, (u64, Op))>() + std::mem::size_of::<(Id, u64)>()) * 3 / 2;

/// Where a held op waits: (the id it waits for, its first id, its length).
type Key = (Id, Id, u64);

#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    /// Ops by the id each waits for, each with the age (`Pending::age`)
    /// at which it was parked. (One entry per op: no per-id list, whose
    /// spare room would cost more than the op.)
    waiting: BTreeMap<Key, (u64, Op)>,
    /// (first id, length in counters) of every held op: a retransmitted
    /// copy is held once (a conflicting op with the same span is refused
    /// when the first one applies, so keeping one is enough).
    held: BTreeSet<(Id, u64)>,
    count: usize,
    bytes: usize,
    /// How many times `expire` ran.
    age: u64,
}

/// What holding `op` costs, roughly in bytes.
pub(crate) fn held_cost(op: &Op) -> usize {
    PER_OP
        + match &op.kind {
            OpKind::Insert { text, .. } => text.len(),
            OpKind::Delete { targets } => {
                targets.len() * std::mem::size_of::<super::id::TargetSpan>()
            }
        }
}

impl Pending {
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether `op` would go past a bound.
    pub fn is_full_for(&self, op: &Op) -> bool {
        self.count >= MAX_PENDING || self.bytes + held_cost(op) > MAX_PENDING_BYTES
    }

    /// Whether an op starting at `id` is held.
    pub fn holds(&self, id: Id) -> bool {
        self.held.range((id, 0)..=(id, u64::MAX)).next().is_some()
    }

    /// Parks `op` until `missing` is applied. A copy of an op already
    /// parked (a retransmission) is not parked twice.
    pub fn hold(&mut self, missing: Id, op: Op) {
        if !self.held.insert((op.id, op.len())) {
            return;
        }
        self.count += 1;
        self.bytes += held_cost(&op);
        self.waiting
            .insert((missing, op.id, op.len()), (self.age, op));
    }

    /// Copies of every held op.
    pub fn all(&self) -> Vec<Op> {
        self.waiting.values().map(|(_, op)| op.clone()).collect()
    }

    /// Takes every op waiting for a counter of `replica` in `from..to`.
    pub fn release(&mut self, replica: ReplicaId, from: u64, to: u64, out: &mut Vec<Op>) {
        if self.count == 0 || from >= to {
            return;
        }
        let first = Id::new(ReplicaId(0), 0);
        let range = (Id::new(replica, from), first, 0)..(Id::new(replica, to), first, 0);
        let keys: Vec<Key> = self.waiting.range(range).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some((_, op)) = self.waiting.remove(&k) {
                self.forget(&op);
                out.push(op);
            }
        }
    }

    /// Drops every op parked before the previous call (so each is held
    /// for at least the interval between two calls, at most two).
    /// Returns how many were dropped. O(held).
    pub fn expire(&mut self) -> usize {
        self.age += 1;
        if self.count == 0 {
            return 0;
        }
        let before = self.count;
        let age = self.age;
        let old: Vec<Key> = self
            .waiting
            .iter()
            .filter(|(_, (parked, _))| parked + 1 < age)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            if let Some((_, op)) = self.waiting.remove(&k) {
                self.forget(&op);
            }
        }
        before - self.count
    }

    fn forget(&mut self, op: &Op) {
        self.held.remove(&(op.id, op.len()));
        self.count -= 1;
        self.bytes -= held_cost(op);
    }
}
