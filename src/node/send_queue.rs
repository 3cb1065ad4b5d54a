//! The ops waiting to go to one peer, and what they weigh on the wire.
//!
//! The queue's byte count must stay the sum of its ops' frame sizes: only
//! this type changes either (as quinn-proto's `SendBuffer` keeps its own
//! counts).

use std::collections::VecDeque;

use crate::doc::{Op, OpKind, ReplicaId, TargetSpan};
use crate::wire;

use super::Time;

/// Room for this many ops stays in an emptied send queue.
const QUEUE_KEPT: usize = 32;

/// Ops to send to one peer, in an order the peer can apply, each small
/// enough for one datagram.
#[derive(Clone, Debug, Default)]
pub struct SendQueue {
    ops: VecDeque<Op>,
    /// Encoded size of `ops` (`wire::op_frame_len` as sent by this replica
    /// at the time each op was counted), roughly: for coalescing.
    bytes: usize,
    /// When the queue last became non-empty (coalescing holds ops at most so long).
    since: Option<Time>,
    /// Ops at the front are retransmissions: send them even while data is in flight.
    retransmit_pending: bool,
}

impl SendQueue {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Encoded size of the queued ops, roughly.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// When the queue last became non-empty, once [`SendQueue::mark_waiting`] saw it.
    pub fn since(&self) -> Option<Time> {
        self.since
    }

    /// Whether retransmissions wait at the front.
    pub fn retransmit_pending(&self) -> bool {
        self.retransmit_pending
    }

    /// Notes `now` as when ops started waiting, unless they already were.
    pub fn mark_waiting(&mut self, now: Time) {
        if !self.ops.is_empty() && self.since.is_none() {
            self.since = Some(now);
        }
    }

    /// Appends `op`, cut into pieces first if it does not fit a frame of
    /// `max_frame` bytes (see [`SendQueue::push_whole`]).
    pub fn push(&mut self, op: Op, max_frame: usize, me: ReplicaId) {
        if wire::op_frame_len(&op, me) <= max_frame {
            self.push_whole(op, max_frame, me);
        } else {
            for piece in wire::split_to_fit(&op, max_frame, me) {
                self.push_whole(piece, max_frame, me);
            }
        }
    }

    /// Appends `op`, merged into the last op when it continues it and the
    /// result still fits a frame of `max_frame` bytes.
    fn push_whole(&mut self, op: Op, max_frame: usize, me: ReplicaId) {
        let len = wire::op_frame_len(&op, me);
        if let Some(last) = self.ops.back_mut() {
            let last_len = wire::op_frame_len(last, me);
            if last_len + len <= max_frame && try_append(last, last.len(), &op) {
                self.bytes += wire::op_frame_len(last, me) - last_len;
                return;
            }
        }
        self.bytes += len;
        self.ops.push_back(op);
    }

    /// Puts `op` back at the front (it did not fit the datagram).
    pub fn push_front(&mut self, op: Op, me: ReplicaId) {
        self.bytes += wire::op_frame_len(&op, me);
        self.ops.push_front(op);
    }

    /// Puts a lost op back at the front, to go before anything else.
    pub fn requeue(&mut self, op: Op, me: ReplicaId) {
        self.push_front(op, me);
        self.retransmit_pending = true;
    }

    pub fn pop_front(&mut self, me: ReplicaId) -> Option<Op> {
        let op = self.ops.pop_front()?;
        self.bytes = self.bytes.saturating_sub(wire::op_frame_len(&op, me));
        Some(op)
    }

    /// Keeps only the ops `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&Op) -> bool, me: ReplicaId) {
        self.ops.retain(keep);
        self.bytes = self.ops.iter().map(|op| wire::op_frame_len(op, me)).sum();
    }

    /// The queue just emptied: it gives back the room a long catch-up or a
    /// relayed flood made it take (room for `QUEUE_KEPT` ops stays, for
    /// typing).
    pub fn emptied(&mut self) {
        self.retransmit_pending = false;
        self.bytes = 0;
        self.since = None;
        self.ops.shrink_to(QUEUE_KEPT);
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.ops.capacity()
    }
}

/// Appends `next` to `op` when `next` simply continues it (typing on, or
/// deleting on), so a run of keystrokes travels as one op.
fn try_append(op: &mut Op, op_len: u64, next: &Op) -> bool {
    if next.id.replica != op.id.replica || next.id.counter != op.id.counter + op_len {
        return false;
    }
    let last = op.id.add(op_len - 1);
    match (&mut op.kind, &next.kind) {
        (
            OpKind::Insert { right, text, .. },
            OpKind::Insert {
                left: next_left,
                right: next_right,
                text: next_text,
            },
        ) if *next_left == Some(last) && next_right == right => {
            text.push_str(next_text);
            true
        }
        (
            OpKind::Delete { targets },
            OpKind::Delete {
                targets: next_targets,
            },
        ) => {
            for &t in next_targets {
                TargetSpan::push(targets, t);
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Id;

    fn ins(counter: u64, left: Option<Id>, text: &str) -> Op {
        Op {
            id: Id::new(ReplicaId(1), counter),
            kind: OpKind::Insert {
                left,
                right: None,
                text: text.into(),
            },
        }
    }

    #[test]
    fn typing_runs_merge() {
        let mut a = ins(0, None, "ab");
        assert!(try_append(
            &mut a,
            2,
            &ins(2, Some(Id::new(ReplicaId(1), 1)), "c")
        ));
        assert_eq!(a, ins(0, None, "abc"));
        // Not a continuation: typed elsewhere.
        assert!(!try_append(
            &mut a,
            3,
            &ins(3, Some(Id::new(ReplicaId(1), 0)), "x")
        ));
    }

    #[test]
    fn the_byte_count_follows_the_ops() {
        let me = ReplicaId(1);
        let sum =
            |q: &SendQueue| -> usize { q.ops.iter().map(|op| wire::op_frame_len(op, me)).sum() };
        let mut q = SendQueue::default();
        q.push(ins(0, None, "ab"), 1000, me);
        // Typing on merges into the last op.
        q.push(ins(2, Some(Id::new(me, 1)), "c"), 1000, me);
        q.push(ins(3, None, "elsewhere"), 1000, me);
        assert_eq!(q.ops.len(), 2);
        assert_eq!(q.bytes(), sum(&q));
        let first = q.pop_front(me).unwrap();
        assert_eq!(q.bytes(), sum(&q));
        q.requeue(first, me);
        assert!(q.retransmit_pending());
        assert_eq!(q.bytes(), sum(&q));
        q.retain(|op| op.id.counter == 3, me);
        assert_eq!(q.bytes(), sum(&q));
        // Too big for one frame: cut into pieces that each fit.
        let mut q = SendQueue::default();
        q.push(ins(0, None, &"x".repeat(500)), 100, me);
        assert!(q.ops.len() > 1);
        assert!(q.ops.iter().all(|op| wire::op_frame_len(op, me) <= 100));
        assert_eq!(q.bytes(), sum(&q));
    }
}
