//! The frames a datagram carries.
//!
//! Frames serialize with serde's derive. They deserialize through mirror
//! types whose sequences are read with [`bounded_seq`], which never
//! preallocates from a length the sender claims: a hostile length prefix
//! costs nothing, because each element must still be present in the bytes.
//! (postcard 1.x also withholds a size hint larger than the bytes left; the
//! mirrors keep the bound from depending on that, and check digest order.)

use std::marker::PhantomData;
use std::net::SocketAddr;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::doc::{Id, IdSpan, Op, OpKind, ReplicaId, VersionVector};

use super::codec::DecodeError;

/// One unit of a datagram. Every frame but `Ack` asks for an ack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireFrame")]
pub enum Frame {
    /// Which of the receiver's packets the sender has received.
    Ack(AckFrame),
    /// Asks for an ack at once (liveness, RTT).
    Ping,
    /// The sender's human name.
    Hello { name: String },
    /// What the sender has (anti-entropy).
    Digest(DigestFrame),
    /// Peers the sender knows (peer exchange).
    Peers(Vec<SocketAddr>),
    /// One op, or one piece of a split op.
    Op(Op),
    /// Anything the decoder did not understand (never sent; refused by `check`).
    #[serde(skip)]
    Invalid,
}

/// A cumulative, compact acknowledgement: ranges of received packet
/// numbers, newest first. `largest - first ..= largest` are received; each
/// `AckRange` then skips `gap` numbers and covers the `len` numbers below.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckFrame {
    pub largest: u64,
    /// How long the receiver held the ack back, in microseconds.
    pub delay_us: u64,
    /// Count of received numbers just below `largest`.
    pub first: u64,
    #[serde(deserialize_with = "bounded_seq")]
    pub ranges: Vec<AckRange>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRange {
    /// Packet numbers not received (at least 1).
    pub gap: u64,
    /// Packet numbers received below the gap (at least 1).
    pub len: u64,
}

impl AckFrame {
    /// The acknowledged packet numbers as inclusive ranges, newest first.
    /// `None` if the frame is inconsistent (underflow, empty range).
    pub fn ranges_inclusive(&self) -> Option<Vec<(u64, u64)>> {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut low = self.largest.checked_sub(self.first)?;
        out.push((low, self.largest));
        for r in &self.ranges {
            if r.gap == 0 || r.len == 0 {
                return None;
            }
            let high = low.checked_sub(r.gap)?.checked_sub(1)?;
            low = high.checked_sub(r.len - 1)?;
            out.push((low, high));
        }
        Some(out)
    }
}

/// A version vector, or the part of it for replicas in `scope` (inclusive):
/// a big vector is sent as several digests that each stand on their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestFrame {
    /// `None`: every replica. Otherwise only replicas in `first..=last`
    /// are described (an absent one there has count 0).
    pub scope: Option<(ReplicaId, ReplicaId)>,
    pub version: VersionVector,
    /// Asks the receiver to answer with its own digest if it lacks something.
    pub reply: bool,
}

impl DigestFrame {
    /// Whether `replica` is described by this digest.
    pub fn covers(&self, replica: ReplicaId) -> bool {
        match self.scope {
            None => true,
            Some((first, last)) => first <= replica && replica <= last,
        }
    }
}

impl Frame {
    /// Whether the receiver must acknowledge the datagram carrying it.
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Ack(_))
    }

    /// Checks what the type system does not: ops are well formed, acks
    /// and digests consistent.
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Frame::Ack(ack) => ack
                .ranges_inclusive()
                .map(|_| ())
                .ok_or(DecodeError::Malformed("ack ranges")),
            Frame::Op(op) => op.validate().map_err(|_| DecodeError::Malformed("op")),
            Frame::Digest(d) => match d.scope {
                Some((first, last)) if first > last => Err(DecodeError::Malformed("digest scope")),
                _ => Ok(()),
            },
            Frame::Invalid => Err(DecodeError::Malformed("frame")),
            Frame::Ping | Frame::Hello { .. } | Frame::Peers(_) => Ok(()),
        }
    }
}

/// Reads a sequence one element at a time, never reserving space for
/// elements that are not there.
pub fn bounded_seq<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SeqVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(SeqVisitor(PhantomData))
}

// ---- decoding mirrors: same byte layout as the derived `Serialize` ----

#[derive(Deserialize)]
enum WireFrame {
    Ack(AckFrame),
    Ping,
    Hello { name: String },
    Digest(WireDigest),
    Peers(#[serde(deserialize_with = "bounded_seq")] Vec<SocketAddr>),
    Op(WireOp),
}

#[derive(Deserialize)]
struct WireDigest {
    scope: Option<(ReplicaId, ReplicaId)>,
    #[serde(deserialize_with = "bounded_seq")]
    version: Vec<(ReplicaId, u64)>,
    reply: bool,
}

#[derive(Deserialize)]
struct WireOp {
    id: Id,
    kind: WireOpKind,
}

#[derive(Deserialize)]
enum WireOpKind {
    Insert {
        left: Option<Id>,
        right: Option<Id>,
        text: String,
    },
    Delete {
        #[serde(deserialize_with = "bounded_seq")]
        targets: Vec<IdSpan>,
    },
}

impl From<WireFrame> for Frame {
    fn from(w: WireFrame) -> Frame {
        match w {
            WireFrame::Ack(a) => Frame::Ack(a),
            WireFrame::Ping => Frame::Ping,
            WireFrame::Hello { name } => Frame::Hello { name },
            WireFrame::Digest(d) => {
                // Entries must be strictly increasing: one per replica, in order.
                let ordered = d.version.windows(2).all(|w| w[0].0 < w[1].0);
                if !ordered {
                    return Frame::Invalid;
                }
                Frame::Digest(DigestFrame {
                    scope: d.scope,
                    version: d.version.into_iter().collect(),
                    reply: d.reply,
                })
            }
            WireFrame::Peers(p) => Frame::Peers(p),
            WireFrame::Op(op) => Frame::Op(Op {
                id: op.id,
                kind: match op.kind {
                    WireOpKind::Insert { left, right, text } => {
                        OpKind::Insert { left, right, text }
                    }
                    WireOpKind::Delete { targets } => OpKind::Delete { targets },
                },
            }),
        }
    }
}
