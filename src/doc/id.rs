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
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Id {
    pub replica: ReplicaId,
    pub counter: u64,
}

/// Ordered by replica, then counter (as derived), compared as one 128-bit
/// number: no branch between the two fields. The sequence's id index
/// compares ids more than anything else when a history loads.
impl Ord for Id {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Id {
    fn key(self) -> u128 {
        (self.replica.0 as u128) << 64 | self.counter as u128
    }

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

    /// The counter after the last one (saturating: no char has counter
    /// `u64::MAX`, since `Op::validate` refuses ops that reach it).
    pub fn end_counter(&self) -> u64 {
        self.start.counter.saturating_add(self.len)
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

/// The chars one delete op removes, in the order of its counters: `len`
/// ids of one replica walking up from `start` (`start`, `start + 1`, ...),
/// or, when `backward`, walking down (`start`, `start - 1`, ...). Repeated
/// Backspace deletes a run of typing from its end, so walking down keeps a
/// whole Backspace burst one span.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetSpan {
    pub start: Id,
    pub len: u64,
    pub backward: bool,
}

impl TargetSpan {
    pub fn forward(span: IdSpan) -> Self {
        TargetSpan {
            start: span.start,
            len: span.len,
            backward: false,
        }
    }

    /// The ids covered, as an ascending span (`None` if malformed: empty,
    /// or walking past counter 0 or `u64::MAX`).
    pub fn ids(&self) -> Option<IdSpan> {
        if self.len == 0 {
            return None;
        }
        let lowest = if self.backward {
            self.start.counter.checked_sub(self.len - 1)?
        } else {
            self.start.counter
        };
        // No char has counter `u64::MAX`: a span reaching it names none.
        lowest.checked_add(self.len)?;
        Some(IdSpan::new(Id::new(self.start.replica, lowest), self.len))
    }

    /// The targets of counters `from .. to` of this span (offsets, `from < to <= len`).
    pub fn slice(&self, from: u64, to: u64) -> Self {
        let start = if self.backward {
            Id::new(self.start.replica, self.start.counter - from)
        } else {
            self.start.add(from)
        };
        TargetSpan {
            start,
            len: to - from,
            backward: self.backward && to - from > 1,
        }
    }

    /// Appends `s` to a target list, extending the last span when `s`
    /// continues its walk (a one-char span may walk either way).
    pub fn push(list: &mut Vec<TargetSpan>, s: TargetSpan) {
        if list.last_mut().is_some_and(|last| last.extend(s)) {
            return;
        }
        list.push(TargetSpan {
            backward: s.backward && s.len > 1,
            ..s
        });
    }

    /// Extends this span by `s` if `s` continues its walk (a one-char
    /// span may walk either way); whether it did.
    pub fn extend(&mut self, s: TargetSpan) -> bool {
        if self.start.replica != s.start.replica {
            return false;
        }
        match joined_walk(self.start.counter, self.len, self.backward, &s) {
            Some(backward) => {
                self.len += s.len;
                self.backward = backward;
                true
            }
            None => false,
        }
    }
}

/// Whether `next` (of the same replica) continues a walk of `len` ids
/// from counter `start` (down when `backward`): the joined walk's
/// direction if it does.
pub(crate) fn joined_walk(start: u64, len: u64, backward: bool, next: &TargetSpan) -> Option<bool> {
    let up = |backward: bool, len: u64| !backward || len == 1;
    let down = |backward: bool, len: u64| backward || len == 1;
    if up(backward, len)
        && up(next.backward, next.len)
        && start.checked_add(len) == Some(next.start.counter)
    {
        return Some(false);
    }
    if down(backward, len)
        && down(next.backward, next.len)
        && start.checked_sub(len) == Some(next.start.counter)
    {
        return Some(true);
    }
    None
}
