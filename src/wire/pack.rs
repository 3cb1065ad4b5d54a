//! Packing frames into datagrams under an MTU, and cutting ops that are
//! too big for one datagram into pieces that fit.

use serde::Serialize;

use crate::doc::Op;

use super::codec::{seal, Header, HEADER_LEN};
use super::frame::Frame;

/// The encoded size of a value, in bytes.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX)
}

/// The encoded size of `Frame::Op(op)`, without cloning the op.
pub fn op_frame_len(op: &Op) -> usize {
    // One byte of variant tag, then the op.
    1 + encoded_len(op)
}

/// Builds one datagram frame by frame, refusing frames that would push it
/// over the MTU.
pub struct DatagramBuilder {
    header: Header,
    payload: Vec<u8>,
    /// Room for the payload: the MTU less the header (packet number at its longest).
    capacity: usize,
    ack_eliciting: bool,
}

impl DatagramBuilder {
    pub fn new(header: Header, mtu: usize) -> Self {
        DatagramBuilder {
            header,
            payload: Vec::new(),
            capacity: mtu.saturating_sub(Self::overhead()),
            ack_eliciting: false,
        }
    }

    /// Bytes of every datagram that are not frames (header, longest packet number).
    pub const fn overhead() -> usize {
        HEADER_LEN + 10
    }

    /// Appends `frame` if it fits; returns whether it did.
    pub fn push(&mut self, frame: &Frame) -> bool {
        let before = self.payload.len();
        let payload = std::mem::take(&mut self.payload);
        self.payload = match postcard::to_extend(frame, payload) {
            Ok(p) => p,
            Err(_) => return false,
        };
        if self.payload.len() > self.capacity {
            self.payload.truncate(before);
            return false;
        }
        self.ack_eliciting |= frame.is_ack_eliciting();
        true
    }

    /// Payload bytes still free.
    pub fn remaining(&self) -> usize {
        self.capacity - self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Whether any frame asks for an ack.
    pub fn is_ack_eliciting(&self) -> bool {
        self.ack_eliciting
    }

    /// The datagram bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 10 + self.payload.len());
        seal(&self.header, &self.payload, &mut out);
        out
    }
}

/// Cuts `op` into consecutive pieces (with [`Op::slice`]) whose `Frame::Op`
/// encoding is at most `max_frame` bytes. Pieces are as large as fit, in
/// counter order; concatenated, they are the op. `max_frame` must leave room
/// for one char or one delete span (about 64 bytes); a piece that still
/// does not fit is returned alone rather than looping.
pub fn split_to_fit(op: &Op, max_frame: usize) -> Vec<Op> {
    let mut out = Vec::new();
    split_into(op, max_frame, &mut out);
    out
}

fn split_into(op: &Op, max_frame: usize, out: &mut Vec<Op>) {
    let len = op.len();
    let size = op_frame_len(op);
    if size <= max_frame || len <= 1 {
        out.push(op.clone());
        return;
    }
    // Cut where the first piece is about as large as fits; pieces far too
    // big are halved first so each cut copies little.
    let cut = if size > 4 * max_frame {
        len / 2
    } else {
        largest_prefix(op, max_frame).max(1)
    };
    split_into(&op.slice(0, cut), max_frame, out);
    if cut < len {
        split_into(&op.slice(cut, len), max_frame, out);
    }
}

/// The largest `k` such that `op.slice(0, k)` encodes within `max_frame`
/// (0 if none), by binary search: the size grows with `k`.
fn largest_prefix(op: &Op, max_frame: usize) -> u64 {
    let (mut lo, mut hi) = (0u64, op.len());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if op_frame_len(&op.slice(0, mid)) <= max_frame {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}
