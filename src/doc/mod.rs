//! The text CRDT: one replica of the shared document.
//!
//! (Design notes on the merge rule are written with the implementation.)

mod error;
mod id;
mod op;
mod version;

pub use error::Error;
pub use id::{Id, IdSpan, ReplicaId};
pub use op::{Op, OpKind};
pub use version::VersionVector;

/// What `Doc::apply` did with an op.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Ops (this one and any it released from the holding area) now part of the document.
    pub ops_applied: usize,
    /// The op waits for ops it depends on; it is applied when they arrive.
    pub held: bool,
    /// The visible changes, in the order they happened, for an editor to follow.
    pub patches: Vec<Patch>,
}

/// A visible change: `deleted` chars removed at `pos`, then `inserted` chars put there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub pos: usize,
    pub deleted: usize,
    pub inserted: usize,
}

/// One replica of the shared text.
#[derive(Debug, Clone)]
pub struct Doc {
    replica: ReplicaId,
}

impl Doc {
    pub fn new(replica: ReplicaId) -> Self {
        Doc { replica }
    }
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }
    /// Inserts `text` at char position `pos`.
    pub fn insert(&mut self, _pos: usize, _text: &str) -> Result<(), Error> {
        todo!()
    }
    /// Deletes `len` chars starting at char position `pos`.
    pub fn delete(&mut self, _pos: usize, _len: usize) -> Result<(), Error> {
        todo!()
    }
    pub fn text(&self) -> String {
        todo!()
    }
    /// Visible length in chars.
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn version(&self) -> VersionVector {
        todo!()
    }
    /// Every op `v` lacks, in an order `apply` accepts (causal).
    pub fn ops_since(&self, _v: &VersionVector) -> Vec<Op> {
        todo!()
    }
    /// Applies a remote op: idempotent, commutative; early ops are held.
    pub fn apply(&mut self, _op: Op) -> Result<Applied, Error> {
        todo!()
    }
    /// Number of ops held waiting for their dependencies.
    pub fn pending_len(&self) -> usize {
        todo!()
    }
}
