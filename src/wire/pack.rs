//! Packing frames into datagrams under an MTU, and cutting ops that are
//! too big for one datagram into pieces that fit.

use serde::Serialize;

use crate::doc::{Op, ReplicaId};

use super::auth::{GroupKey, SealId, SealKeys};
use super::codec::{
    seal, seal_with, seal_with_keys, seal_with_keys_to, Header, HEADER_LEN, SEAL_OVERHEAD,
};
use super::frame::{Frame, WireFrame};

fn serialized_len<T: Serialize>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX)
}

/// The encoded size of `frame` in a datagram from `sender`, in bytes.
pub fn encoded_len(frame: &Frame, sender: ReplicaId) -> usize {
    serialized_len(&WireFrame::new(frame, sender))
}

/// The encoded size of `Frame::Op(op)` in a datagram from `sender`.
pub fn op_frame_len(op: &Op, sender: ReplicaId) -> usize {
    serialized_len(&WireFrame::op(op, sender))
}

/// The payload buffer a datagram starts with, in bytes.
const PAYLOAD_START: usize = 128;

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
            // Most datagrams (acks, a few typed chars) fit this without
            // regrowing; bigger ones double from here.
            payload: Vec::with_capacity(PAYLOAD_START),
            capacity: mtu.saturating_sub(Self::overhead()),
            ack_eliciting: false,
        }
    }

    /// Bytes of every datagram that are not frames (header, longest packet
    /// number, and what sealing adds: a node may have a group key).
    pub const fn overhead() -> usize {
        HEADER_LEN + 10 + SEAL_OVERHEAD
    }

    /// Appends `frame` if it fits; returns whether it did.
    pub fn push(&mut self, frame: &Frame) -> bool {
        let wire = WireFrame::new(frame, self.header.sender);
        self.push_wire(&wire, frame.is_ack_eliciting())
    }

    /// Appends `Frame::Op(op)` if it fits (without copying the op).
    pub fn push_op(&mut self, op: &Op) -> bool {
        let wire = WireFrame::op(op, self.header.sender);
        self.push_wire(&wire, true)
    }

    fn push_wire(&mut self, wire: &WireFrame<&str>, ack_eliciting: bool) -> bool {
        let before = self.payload.len();
        let payload = std::mem::take(&mut self.payload);
        self.payload = match postcard::to_extend(wire, payload) {
            Ok(p) => p,
            Err(_) => return false,
        };
        if self.payload.len() > self.capacity {
            self.payload.truncate(before);
            return false;
        }
        self.ack_eliciting |= ack_eliciting;
        true
    }

    /// Payload bytes still free.
    pub fn remaining(&self) -> usize {
        self.capacity - self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The datagram's size in the clear, as [`Self::finish`] makes it.
    pub fn len_in_clear(&self) -> usize {
        let packet = postcard::experimental::serialized_size(&self.header.packet).unwrap_or(10);
        HEADER_LEN + packet + self.payload.len()
    }

    /// Whether any frame asks for an ack.
    pub fn is_ack_eliciting(&self) -> bool {
        self.ack_eliciting
    }

    /// The datagram bytes, in the clear.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 10 + self.payload.len());
        seal(&self.header, &self.payload, &mut out);
        out
    }

    /// The datagram bytes, sealed under `key` with nonce parts `id`.
    pub fn finish_sealed(self, key: &GroupKey, id: SealId) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::overhead() + self.payload.len());
        seal_with(key, &self.header, id, &self.payload, &mut out);
        out
    }

    /// [`DatagramBuilder::finish_sealed`] for a node, which keeps its epoch keys.
    pub fn finish_sealed_with(self, keys: &mut SealKeys, id: SealId) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::overhead() + self.payload.len());
        seal_with_keys(keys, &self.header, id, &self.payload, &mut out);
        out
    }

    /// [`DatagramBuilder::finish_sealed_with`], bound to replica `to` (see
    /// `auth`).
    pub fn finish_sealed_to(self, keys: &mut SealKeys, id: SealId, to: ReplicaId) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::overhead() + self.payload.len());
        seal_with_keys_to(keys, &self.header, id, to, &self.payload, &mut out);
        out
    }
}

/// Cuts `op` into consecutive pieces (with [`Op::slice`]) whose `Frame::Op`
/// encoding (from `sender`) is at most `max_frame` bytes. Pieces are as large as fit, in
/// counter order; concatenated, they are the op. `max_frame` must leave room
/// for one char or one delete span (about 64 bytes); a piece that still
/// does not fit is returned alone rather than looping.
pub fn split_to_fit(op: &Op, max_frame: usize, sender: ReplicaId) -> Vec<Op> {
    let mut out = Vec::new();
    split_into(op, max_frame, sender, &mut out);
    out
}

fn split_into(op: &Op, max_frame: usize, sender: ReplicaId, out: &mut Vec<Op>) {
    let len = op.len();
    let size = op_frame_len(op, sender);
    if size <= max_frame || len <= 1 {
        out.push(op.clone());
        return;
    }
    // Cut where the first piece is about as large as fits; pieces far too
    // big are halved first so each cut copies little.
    let cut = if size > 4 * max_frame {
        len / 2
    } else {
        largest_prefix(op, max_frame, sender).max(1)
    };
    split_into(&op.slice(0, cut), max_frame, sender, out);
    if cut < len {
        split_into(&op.slice(cut, len), max_frame, sender, out);
    }
}

/// The largest `k` such that `op.slice(0, k)` encodes within `max_frame`
/// (0 if none), by binary search: the size grows with `k`.
fn largest_prefix(op: &Op, max_frame: usize, sender: ReplicaId) -> u64 {
    let (mut lo, mut hi) = (0u64, op.len());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if op_frame_len(&op.slice(0, mid), sender) <= max_frame {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}
