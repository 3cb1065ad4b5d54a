//! Identifiers: who made a change, and which of their changes it was.

use serde::{Deserialize, Serialize};

/// One replica of the document (one peer, one run of `rumor` with its data
/// directory). Chosen at random when a replica is created; never reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaId(pub u64);

impl std::fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// The id of one inserted char or one deleted char: the replica that made
/// the change and that replica's counter for it. A replica's counter only
/// grows, so an id is never made twice.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id {
    pub replica: ReplicaId,
    pub counter: u64,
}

impl Id {
    pub const fn new(replica: ReplicaId, counter: u64) -> Self {
        Id { replica, counter }
    }

    /// The id `n` counters later, from the same replica.
    pub const fn add(self, n: u64) -> Self {
        Id {
            replica: self.replica,
            counter: self.counter + n,
        }
    }
}

/// A run of consecutive ids of one replica: `start.counter .. start.counter + len`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdSpan {
    pub start: Id,
    pub len: u64,
}

impl IdSpan {
    pub const fn new(start: Id, len: u64) -> Self {
        IdSpan { start, len }
    }

    pub fn end_counter(&self) -> u64 {
        self.start.counter + self.len
    }

    pub fn contains(&self, id: Id) -> bool {
        id.replica == self.start.replica
            && id.counter >= self.start.counter
            && id.counter < self.end_counter()
    }

    /// The last id of the span. Only meaningful for non-empty spans.
    pub fn last(&self) -> Id {
        self.start.add(self.len - 1)
    }
}
