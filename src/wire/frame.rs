//! The frames a datagram carries.
//!
//! [`Frame`] is what the node works with. On the wire a frame is written
//! as a [`WireFrame`], where op ids are compacted: an id of the datagram's
//! sender is written without its 8-byte replica id, and an op's reference
//! to an earlier id of its own replica as a small backward distance (a
//! typed char's left neighbour is usually the char typed just before).
//!
//! Sequences are read with [`bounded_seq`], which never preallocates from
//! a length the sender claims: a hostile length prefix costs nothing,
//! because each element must still be present in the bytes. (postcard 1.x
//! also withholds a size hint larger than the bytes left; this keeps the
//! bound from depending on that.)

use std::marker::PhantomData;
use std::net::SocketAddr;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::doc::{Id, Op, OpKind, ReplicaId, TargetSpan, VersionVector};

use super::error::DecodeError;

/// One unit of a datagram. Every frame but `Ack` asks for an ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Which of the receiver's packets the sender has received.
    Ack(AckFrame),
    /// Asks for an ack at once (liveness, RTT).
    Ping,
    /// Starts a session: `session` is drawn at random when the sender's
    /// node starts, so a restart (which numbers packets from zero again)
    /// is told apart from a late copy. Also carries the sender's name.
    Hello { session: u64, name: String },
    /// What the sender has (anti-entropy).
    Digest(DigestFrame),
    /// Peers the sender knows (peer exchange).
    Peers(Vec<SocketAddr>),
    /// One op, or one piece of a split op.
    Op(Op),
    /// A piece of a snapshot of the sender's document (for a peer that
    /// lacks most of it: see `node::snapshot`).
    Snapshot(SnapshotChunk),
    /// A lazy announcement (gossip): the sender has at least these counts
    /// of these replicas; a receiver that lacks some may pull them.
    Have(Vec<(ReplicaId, u64)>),
    /// Ephemeral editor state (name, cursor); see `node::presence`.
    Presence(PresenceFrame),
    /// Members the sender declared gone (see `node::stability`), each with
    /// the counter its accepted ops end at: later ops of theirs are refused.
    /// Sorted by replica, each once.
    Gone(Vec<(ReplicaId, u64)>),
    /// Asks the receiver for a snapshot of its document: the sender must
    /// rejoin as a newcomer (see `node::stability`).
    Join,
    /// With a group key: a random number the receiver must echo, sealed,
    /// in a `Response` before the sender takes it for a live member at
    /// that address (see `node::handshake`).
    Challenge(u64),
    /// Echoes a `Challenge` the receiver sent to the sender's address.
    Response(u64),
    /// A named version (`tag NAME`), spread to every member. Added in wire
    /// version 7.
    Tag(TagFrame),
}

/// A tag: `name` names the document at `version`, made by `by` at
/// `unix_ms` (its wall clock; only used to pick one of two tags of one
/// name, the same way on every replica).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFrame {
    pub name: String,
    pub version: VersionVector,
    pub by: ReplicaId,
    pub unix_ms: u64,
}

impl TagFrame {
    /// Whether every replica keeps this tag rather than `other` of the same
    /// name: the later one, then the one of the higher replica, then the
    /// larger version (a total order, so all replicas agree).
    pub fn supersedes(&self, other: &TagFrame) -> bool {
        let key = |t: &TagFrame| (t.unix_ms, t.by, t.version.iter().collect::<Vec<_>>());
        key(self) > key(other)
    }
}

/// Bytes `offset .. offset + bytes.len()` of a snapshot `total` bytes long.
/// `id` tells one snapshot from another, so pieces of two never mix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub id: u64,
    pub total: u32,
    pub offset: u32,
    pub bytes: Vec<u8>,
}

/// Who is editing and where their cursor is. Never stored or relayed: the
/// newest one from each replica is kept until it goes quiet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceFrame {
    /// The sender node's session (see `Frame::Hello`): a restart starts
    /// `seq` again.
    pub session: u64,
    /// Grows with each presence the session sends; older ones are ignored.
    pub seq: u64,
    pub name: String,
    /// The char the cursor is just before; `None`: the end of the text.
    pub cursor: Option<Id>,
    /// The editor is closing: forget this replica's presence now.
    pub leaving: bool,
    /// With text selected, the selection's other end (anchored as the
    /// cursor is); `None`: nothing selected. Added in wire version 6.
    pub anchor: Option<Option<Id>>,
    /// The editor's further cursors and selections (multi-cursor, block
    /// selections), at most [`MAX_PRESENCE_RANGES`] `- 1`: a frame with
    /// more is refused. Added in wire version 8.
    #[serde(deserialize_with = "more_ranges")]
    pub more: Vec<CursorRange>,
}

/// Most cursors (with their selections) one presence carries; an editor's
/// further ones are not sent.
pub const MAX_PRESENCE_RANGES: usize = 16;

/// One cursor and, with text selected, the selection's other end (as in
/// [`PresenceFrame`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorRange {
    pub cursor: Option<Id>,
    pub anchor: Option<Option<Id>>,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestFrame {
    /// `None`: every replica. Otherwise only replicas in `first..=last`
    /// are described (an absent one there has count 0).
    pub scope: Option<(ReplicaId, ReplicaId)>,
    pub version: VersionVector,
    /// Asks the receiver to answer with its own digest if it lacks something.
    pub reply: bool,
    /// In a whole digest (a member's report): the other members the sender
    /// counts for cleanup that `version` does not name (no op of theirs
    /// yet), sorted. A receiver that did not know one waits for its report
    /// too (see `node::stability`, "Newcomers"). Empty in scoped digests.
    pub members: Vec<ReplicaId>,
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
            Frame::Snapshot(c) => {
                let end = c.offset as u64 + c.bytes.len() as u64;
                if c.bytes.is_empty() || end > c.total as u64 {
                    Err(DecodeError::Malformed("snapshot chunk"))
                } else {
                    Ok(())
                }
            }
            Frame::Have(entries) if !entries.windows(2).all(|w| w[0].0 < w[1].0) => {
                Err(DecodeError::Malformed("have order"))
            }
            Frame::Gone(entries) if !entries.windows(2).all(|w| w[0].0 < w[1].0) => {
                Err(DecodeError::Malformed("gone order"))
            }
            Frame::Ping
            | Frame::Hello { .. }
            | Frame::Peers(_)
            | Frame::Have(_)
            | Frame::Gone(_)
            | Frame::Join
            | Frame::Challenge(_)
            | Frame::Response(_)
            | Frame::Presence(_)
            | Frame::Tag(_) => Ok(()),
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

/// [`PresenceFrame::more`]: refused past [`MAX_PRESENCE_RANGES`] `- 1`
/// elements, before reading another.
fn more_ranges<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<CursorRange>, D::Error> {
    struct AtMost;
    impl<'de> Visitor<'de> for AtMost {
        type Value = Vec<CursorRange>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "at most {} ranges", MAX_PRESENCE_RANGES - 1)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(range) = seq.next_element()? {
                if out.len() == MAX_PRESENCE_RANGES - 1 {
                    return Err(serde::de::Error::custom("too many presence ranges"));
                }
                out.push(range);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(AtMost)
}

// ---- the byte form ----

/// A frame as written in a datagram (see the module doc). `S` is the
/// string type: borrowed when writing (no copy of a long text), owned when
/// reading.
#[derive(Serialize, Deserialize)]
pub enum WireFrame<S = String> {
    Ack(AckFrame),
    Ping,
    Hello { session: u64, name: S },
    Digest(WireDigest),
    Peers(#[serde(deserialize_with = "bounded_seq")] Vec<SocketAddr>),
    Op(WireOp<S>),
    Snapshot(SnapshotChunk),
    Have(#[serde(deserialize_with = "bounded_seq")] Vec<(ReplicaId, u64)>),
    Presence(PresenceFrame),
    Gone(#[serde(deserialize_with = "bounded_seq")] Vec<(ReplicaId, u64)>),
    Join,
    Challenge(u64),
    Response(u64),
    Tag(WireTag<S>),
}

#[derive(Serialize, Deserialize)]
pub struct WireTag<S = String> {
    name: S,
    /// Strictly increasing by replica.
    #[serde(deserialize_with = "bounded_seq")]
    version: Vec<(ReplicaId, u64)>,
    by: ReplicaId,
    unix_ms: u64,
}

#[derive(Serialize, Deserialize)]
pub struct WireDigest {
    scope: Option<(ReplicaId, ReplicaId)>,
    /// Strictly increasing by replica.
    #[serde(deserialize_with = "bounded_seq")]
    version: Vec<(ReplicaId, u64)>,
    reply: bool,
    /// Strictly increasing.
    #[serde(deserialize_with = "bounded_seq")]
    members: Vec<ReplicaId>,
}

#[derive(Serialize, Deserialize)]
pub enum WireOp<S = String> {
    Insert {
        id: WireOpId,
        left: WireRef,
        right: WireRef,
        text: S,
    },
    Delete {
        id: WireOpId,
        /// Start of each span, its length, and whether it walks down.
        #[serde(deserialize_with = "bounded_seq")]
        targets: Vec<(WireRef, u64, bool)>,
    },
}

/// An op's own id.
#[derive(Serialize, Deserialize)]
pub enum WireOpId {
    /// Made by the datagram's sender.
    Sender(u64),
    Other(ReplicaId, u64),
}

/// An id an op refers to.
#[derive(Serialize, Deserialize)]
pub enum WireRef {
    None,
    /// Same replica as the op, this many counters before the op's id.
    Back(u64),
    /// The datagram's sender.
    Sender(u64),
    Other(ReplicaId, u64),
}

impl WireOpId {
    fn new(id: Id, sender: ReplicaId) -> Self {
        if id.replica == sender {
            WireOpId::Sender(id.counter)
        } else {
            WireOpId::Other(id.replica, id.counter)
        }
    }
    fn resolve(self, sender: ReplicaId) -> Id {
        match self {
            WireOpId::Sender(c) => Id::new(sender, c),
            WireOpId::Other(r, c) => Id::new(r, c),
        }
    }
}

impl WireRef {
    fn new(target: Option<Id>, op: Id, sender: ReplicaId) -> Self {
        match target {
            None => WireRef::None,
            Some(t) if t.replica == op.replica && t.counter < op.counter => {
                WireRef::Back(op.counter - t.counter)
            }
            Some(t) if t.replica == sender => WireRef::Sender(t.counter),
            Some(t) => WireRef::Other(t.replica, t.counter),
        }
    }
    /// `None` if the reference is invalid, `Some(None)` for no id.
    fn resolve(self, op: Id, sender: ReplicaId) -> Option<Option<Id>> {
        Some(match self {
            WireRef::None => None,
            WireRef::Back(n) if n >= 1 && n <= op.counter => {
                Some(Id::new(op.replica, op.counter - n))
            }
            WireRef::Back(_) => return None,
            WireRef::Sender(c) => Some(Id::new(sender, c)),
            WireRef::Other(r, c) => Some(Id::new(r, c)),
        })
    }
}

impl<'a> WireFrame<&'a str> {
    /// The byte form of `frame` in a datagram from `sender`.
    pub fn new(frame: &'a Frame, sender: ReplicaId) -> Self {
        match frame {
            Frame::Ack(a) => WireFrame::Ack(a.clone()),
            Frame::Ping => WireFrame::Ping,
            Frame::Hello { session, name } => WireFrame::Hello {
                session: *session,
                name,
            },
            Frame::Digest(d) => WireFrame::Digest(WireDigest {
                scope: d.scope,
                version: d.version.iter().collect(),
                reply: d.reply,
                members: d.members.clone(),
            }),
            Frame::Peers(p) => WireFrame::Peers(p.clone()),
            Frame::Op(op) => Self::op(op, sender),
            Frame::Snapshot(c) => WireFrame::Snapshot(c.clone()),
            Frame::Have(h) => WireFrame::Have(h.clone()),
            Frame::Gone(g) => WireFrame::Gone(g.clone()),
            Frame::Join => WireFrame::Join,
            Frame::Challenge(n) => WireFrame::Challenge(*n),
            Frame::Response(n) => WireFrame::Response(*n),
            Frame::Presence(p) => WireFrame::Presence(p.clone()),
            Frame::Tag(t) => WireFrame::Tag(WireTag {
                name: &t.name,
                version: t.version.iter().collect(),
                by: t.by,
                unix_ms: t.unix_ms,
            }),
        }
    }

    /// The byte form of `Frame::Op(op)`, without copying the op.
    pub fn op(op: &'a Op, sender: ReplicaId) -> Self {
        let id = WireOpId::new(op.id, sender);
        WireFrame::Op(match &op.kind {
            OpKind::Insert { left, right, text } => WireOp::Insert {
                id,
                left: WireRef::new(*left, op.id, sender),
                right: WireRef::new(*right, op.id, sender),
                text,
            },
            OpKind::Delete { targets } => WireOp::Delete {
                id,
                targets: targets
                    .iter()
                    .map(|t| {
                        (
                            WireRef::new(Some(t.start), op.id, sender),
                            t.len,
                            t.backward,
                        )
                    })
                    .collect(),
            },
        })
    }
}

impl WireFrame {
    /// The frame, in a datagram from `sender`; `None` if inconsistent.
    pub fn resolve(self, sender: ReplicaId) -> Option<Frame> {
        Some(match self {
            WireFrame::Ack(a) => Frame::Ack(a),
            WireFrame::Ping => Frame::Ping,
            WireFrame::Hello { session, name } => Frame::Hello { session, name },
            WireFrame::Digest(d) => {
                // One entry per replica, in order.
                if !d.version.windows(2).all(|w| w[0].0 < w[1].0)
                    || !d.members.windows(2).all(|w| w[0] < w[1])
                    || (d.scope.is_some() && !d.members.is_empty())
                {
                    return None;
                }
                Frame::Digest(DigestFrame {
                    scope: d.scope,
                    version: d.version.into_iter().collect(),
                    reply: d.reply,
                    members: d.members,
                })
            }
            WireFrame::Peers(p) => Frame::Peers(p),
            WireFrame::Snapshot(c) => Frame::Snapshot(c),
            WireFrame::Have(h) => Frame::Have(h),
            WireFrame::Gone(g) => Frame::Gone(g),
            WireFrame::Join => Frame::Join,
            WireFrame::Challenge(n) => Frame::Challenge(n),
            WireFrame::Response(n) => Frame::Response(n),
            WireFrame::Presence(p) => Frame::Presence(p),
            WireFrame::Tag(t) => {
                if !t.version.windows(2).all(|w| w[0].0 < w[1].0) {
                    return None;
                }
                Frame::Tag(TagFrame {
                    name: t.name,
                    version: t.version.into_iter().collect(),
                    by: t.by,
                    unix_ms: t.unix_ms,
                })
            }
            WireFrame::Op(WireOp::Insert {
                id,
                left,
                right,
                text,
            }) => {
                let id = id.resolve(sender);
                Frame::Op(Op {
                    id,
                    kind: OpKind::Insert {
                        left: left.resolve(id, sender)?,
                        right: right.resolve(id, sender)?,
                        text,
                    },
                })
            }
            WireFrame::Op(WireOp::Delete { id, targets }) => {
                let id = id.resolve(sender);
                let mut spans = Vec::with_capacity(targets.len());
                for (start, len, backward) in targets {
                    spans.push(TargetSpan {
                        start: start.resolve(id, sender)??,
                        len,
                        backward,
                    });
                }
                Frame::Op(Op {
                    id,
                    kind: OpKind::Delete { targets: spans },
                })
            }
        })
    }
}
