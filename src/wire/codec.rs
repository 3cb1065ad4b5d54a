//! Datagram framing: header, payload, and the seal/open seam.

use crate::doc::ReplicaId;

use super::auth::{BadTag, GroupKey, SealId, SealKeys, TAG_LEN};
use super::error::DecodeError;
use super::frame::{Frame, WireFrame};
use super::MAX_DATAGRAM;
use super::VERSION;

/// First bytes of every rumor datagram sent in the clear.
pub const MAGIC: [u8; 2] = *b"rM";
/// First bytes of every sealed rumor datagram (sent with a group secret).
pub const SEALED_MAGIC: [u8; 2] = *b"rS";
/// Magic, version, sender (8 bytes, fixed: replica ids are random, so a
/// varint would be longer), document (4 bytes, fixed, random too), then
/// the packet number as a varint.
pub const HEADER_LEN: usize = 2 + 1 + 8 + 4;
/// What sealing adds at most: epoch and sequence (varints), and the tag.
pub const SEAL_OVERHEAD: usize = 10 + 10 + TAG_LEN;

/// What every datagram says about itself.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The replica that sent the datagram.
    pub sender: ReplicaId,
    /// Per-destination packet number, for acknowledgement.
    pub packet: u64,
    /// The document the sender edits (made at random by its founder), or
    /// 0 while the sender is a newcomer that has not joined one yet: a
    /// replica refuses datagrams of another document.
    pub document: u32,
}

/// A datagram's header, how it was sealed (if it was), and its payload.
#[derive(Debug)]
pub struct Opened<'a> {
    pub header: Header,
    /// The sealing nonce's epoch and sequence: `None` in the clear.
    pub seal: Option<SealId>,
    /// Sealed and bound to the receiving replica (see `auth`): it cannot
    /// have been meant for another member.
    pub bound: bool,
    pub payload: &'a [u8],
}

/// Writes the datagram bytes for `header` and an encoded `payload`, in the
/// clear (no group secret).
pub fn seal(header: &Header, payload: &[u8], out: &mut Vec<u8>) {
    write_header(header, out);
    out.extend_from_slice(payload);
}

/// Writes a sealed datagram: the clear header (magic, version, sender,
/// epoch, sequence), then the packet number and `payload` encrypted under
/// `key`, then the tag. The clear header is authenticated too.
pub fn seal_with(key: &GroupKey, header: &Header, id: SealId, payload: &[u8], out: &mut Vec<u8>) {
    let clear = write_unsealed(header, id, payload, out);
    key.seal_in_place(header.sender.0, id, out, clear);
}

/// [`seal_with`] for a node, which keeps its epoch keys.
pub fn seal_with_keys(
    keys: &mut SealKeys,
    header: &Header,
    id: SealId,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let clear = write_unsealed(header, id, payload, out);
    keys.seal_in_place(header.sender.0, id, out, clear);
}

/// [`seal_with_keys`], bound to replica `to` (see `auth`): it opens only
/// with [`open_with_keys_as`] at that replica.
pub fn seal_with_keys_to(
    keys: &mut SealKeys,
    header: &Header,
    id: SealId,
    to: ReplicaId,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let clear = write_unsealed(header, id, payload, out);
    keys.seal_in_place_to(header.sender.0, id, Some(to.0), out, clear);
}

/// A sealed datagram before sealing: returns where the encrypted part starts.
fn write_unsealed(header: &Header, id: SealId, payload: &[u8], out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&SEALED_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&header.sender.0.to_le_bytes());
    out.extend_from_slice(&header.document.to_le_bytes());
    push_varint(id.epoch, out);
    push_varint(id.seq, out);
    let clear = out.len();
    push_varint(header.packet, out);
    out.extend_from_slice(payload);
    clear
}

/// Reads the header of a datagram in the clear and returns its payload.
/// A sealed datagram is refused ([`DecodeError::Sealed`]): use [`open_with`].
pub fn open(bytes: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    let rest = check_prefix(bytes, MAGIC)?;
    let (sender, document, rest) = fixed_header(rest)?;
    let (packet, payload) = postcard::take_from_bytes::<u64>(rest)
        .map_err(|_| DecodeError::Malformed("packet number"))?;
    let header = Header {
        sender,
        packet,
        document,
    };
    Ok((header, payload))
}

/// Reads a datagram as a node with `key` (or none) must: with a key only
/// sealed datagrams whose tag verifies, decrypted into `scratch`; without
/// one only datagrams in the clear. Never panics.
pub fn open_with<'a>(
    bytes: &'a [u8],
    key: Option<&GroupKey>,
    scratch: &'a mut Vec<u8>,
) -> Result<Opened<'a>, DecodeError> {
    let Some(key) = key else {
        return open_clear(bytes);
    };
    open_sealed(bytes, scratch, |sender, id, clear, sealed, out| {
        key.open_into(sender, id, clear, sealed, out)
            .map(|()| false)
    })
}

/// [`open_with`] for a node, which keeps its epoch keys.
pub fn open_with_keys<'a>(
    bytes: &'a [u8],
    keys: Option<&mut SealKeys>,
    scratch: &'a mut Vec<u8>,
) -> Result<Opened<'a>, DecodeError> {
    let Some(keys) = keys else {
        return open_clear(bytes);
    };
    open_sealed(bytes, scratch, |sender, id, clear, sealed, out| {
        keys.open_into(sender, id, clear, sealed, out)
            .map(|()| false)
    })
}

/// [`open_with_keys`] at a replica that is (or was) each of `me`: a
/// datagram bound to one of them or unbound (tried in that order);
/// [`Opened::bound`] says which.
pub fn open_with_keys_as<'a>(
    bytes: &'a [u8],
    keys: Option<&mut SealKeys>,
    me: &[ReplicaId],
    scratch: &'a mut Vec<u8>,
) -> Result<Opened<'a>, DecodeError> {
    let Some(keys) = keys else {
        return open_clear(bytes);
    };
    open_sealed(bytes, scratch, |sender, id, clear, sealed, out| {
        for r in me {
            if keys
                .open_into_to(sender, id, Some(r.0), clear, sealed, out)
                .is_ok()
            {
                return Ok(true);
            }
        }
        keys.open_into(sender, id, clear, sealed, out)
            .map(|()| false)
    })
}

fn open_clear(bytes: &[u8]) -> Result<Opened<'_>, DecodeError> {
    let (header, payload) = open(bytes)?;
    Ok(Opened {
        header,
        seal: None,
        bound: false,
        payload,
    })
}

/// Reads a sealed datagram's clear header, then has `open_into` (sender,
/// seal id, clear bytes, sealed bytes, output) check and decrypt the rest
/// into `scratch` (and say whether it was bound to this replica).
fn open_sealed<'a>(
    bytes: &'a [u8],
    scratch: &'a mut Vec<u8>,
    open_into: impl FnOnce(u64, SealId, &[u8], &[u8], &mut Vec<u8>) -> Result<bool, BadTag>,
) -> Result<Opened<'a>, DecodeError> {
    let rest = match check_prefix(bytes, SEALED_MAGIC) {
        Err(DecodeError::NotRumor) if bytes.starts_with(&MAGIC) => {
            return Err(DecodeError::Unsealed)
        }
        other => other?,
    };
    let (sender, document, rest) = fixed_header(rest)?;
    let sender = sender.0;
    let (epoch, rest) =
        postcard::take_from_bytes::<u64>(rest).map_err(|_| DecodeError::Malformed("epoch"))?;
    let (seq, sealed) =
        postcard::take_from_bytes::<u64>(rest).map_err(|_| DecodeError::Malformed("sequence"))?;
    let id = SealId { epoch, seq };
    let clear = &bytes[..bytes.len() - sealed.len()];
    let bound = open_into(sender, id, clear, sealed, scratch).map_err(|_| DecodeError::BadTag)?;
    // Authentic from here on: a member wrote it.
    let (packet, payload) = postcard::take_from_bytes::<u64>(scratch)
        .map_err(|_| DecodeError::Malformed("packet number"))?;
    Ok(Opened {
        header: Header {
            sender: ReplicaId(sender),
            packet,
            document,
        },
        seal: Some(id),
        bound,
        payload,
    })
}

/// The bytes after magic and version, if `bytes` starts with `magic` and
/// this node's version.
fn check_prefix(bytes: &[u8], magic: [u8; 2]) -> Result<&[u8], DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if bytes.len() >= 3 && bytes[..2] == SEALED_MAGIC && magic != SEALED_MAGIC {
        return Err(DecodeError::Sealed);
    }
    if bytes.len() < 3 || bytes[..2] != magic {
        return Err(DecodeError::NotRumor);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::WrongVersion(bytes[2]));
    }
    Ok(&bytes[3..])
}

/// Sender and document, after magic and version.
fn fixed_header(bytes: &[u8]) -> Result<(ReplicaId, u32, &[u8]), DecodeError> {
    let Some((sender, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(DecodeError::Malformed("short header"));
    };
    let Some((document, rest)) = rest.split_first_chunk::<4>() else {
        return Err(DecodeError::Malformed("short header"));
    };
    Ok((
        ReplicaId(u64::from_le_bytes(*sender)),
        u32::from_le_bytes(*document),
        rest,
    ))
}

fn push_varint(n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let n = postcard::to_slice(&n, &mut buf).map_or(0, |s| s.len());
    out.extend_from_slice(&buf[..n]);
}

/// The header bytes alone (what `seal` writes before the payload).
pub fn write_header(header: &Header, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&header.sender.0.to_le_bytes());
    out.extend_from_slice(&header.document.to_le_bytes());
    push_varint(header.packet, out);
}

/// A whole datagram from a header and frames (tests and tools; the node
/// builds datagrams incrementally with [`super::DatagramBuilder`]).
pub fn encode(header: &Header, frames: &[Frame]) -> Vec<u8> {
    let payload = encode_payload(header, frames);
    let mut out = Vec::with_capacity(HEADER_LEN + 10 + payload.len());
    seal(header, &payload, &mut out);
    out
}

/// A whole sealed datagram (tests and tools).
pub fn encode_sealed(key: &GroupKey, header: &Header, id: SealId, frames: &[Frame]) -> Vec<u8> {
    let payload = encode_payload(header, frames);
    let mut out = Vec::with_capacity(HEADER_LEN + SEAL_OVERHEAD + 10 + payload.len());
    seal_with(key, header, id, &payload, &mut out);
    out
}

/// A whole sealed datagram bound to replica `to` (tests and tools).
pub fn encode_sealed_to(
    key: &GroupKey,
    header: &Header,
    id: SealId,
    to: ReplicaId,
    frames: &[Frame],
) -> Vec<u8> {
    let payload = encode_payload(header, frames);
    let mut out = Vec::with_capacity(HEADER_LEN + SEAL_OVERHEAD + 10 + payload.len());
    let mut keys = SealKeys::new(key.clone());
    seal_with_keys_to(&mut keys, header, id, to, &payload, &mut out);
    out
}

fn encode_payload(header: &Header, frames: &[Frame]) -> Vec<u8> {
    let mut payload = Vec::new();
    for frame in frames {
        let wire = WireFrame::new(frame, header.sender);
        payload = postcard::to_extend(&wire, payload).expect("encoding to a Vec cannot fail");
    }
    payload
}

/// Reads a datagram in the clear: its header and every frame, or an error.
/// Never panics.
pub fn decode(bytes: &[u8]) -> Result<(Header, Vec<Frame>), DecodeError> {
    let (header, payload) = open(bytes)?;
    Ok((header, decode_payload(&header, payload)?))
}

/// Reads a datagram as a node with `key` (or none) does: header, seal, frames.
pub fn decode_with(
    bytes: &[u8],
    key: Option<&GroupKey>,
) -> Result<(Header, Option<SealId>, Vec<Frame>), DecodeError> {
    let mut scratch = Vec::new();
    let opened = open_with(bytes, key, &mut scratch)?;
    let frames = decode_payload(&opened.header, opened.payload)?;
    Ok((opened.header, opened.seal, frames))
}

/// The frames of an opened payload. Never panics.
pub fn decode_payload(header: &Header, mut payload: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut frames = Vec::new();
    while !payload.is_empty() {
        let (wire, rest) = postcard::take_from_bytes::<WireFrame>(payload)
            .map_err(|_| DecodeError::Malformed("frame"))?;
        let frame = wire
            .resolve(header.sender)
            .ok_or(DecodeError::Malformed("frame"))?;
        frame.check()?;
        frames.push(frame);
        payload = rest;
    }
    Ok(frames)
}
