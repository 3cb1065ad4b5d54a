//! Datagram framing: header, payload, and the seal/open seam.

use crate::doc::ReplicaId;

use super::frame::{Frame, WireFrame};
use super::MAX_DATAGRAM;

/// First bytes of every rumor datagram.
pub const MAGIC: [u8; 2] = *b"rM";
/// The protocol version this code speaks. A datagram of another version
/// is refused (and counted), never misread.
pub const VERSION: u8 = 1;
/// Magic, version, sender (8 bytes, fixed: replica ids are random, so a
/// varint would be longer), then the packet number as a varint.
pub const HEADER_LEN: usize = 2 + 1 + 8;

/// What every datagram says about itself.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The replica that sent the datagram.
    pub sender: ReplicaId,
    /// Per-destination packet number, for acknowledgement.
    pub packet: u64,
}

/// Why bytes are not a datagram this node can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a rumor datagram")]
    NotRumor,
    #[error("protocol version {0} (this node speaks {VERSION})")]
    WrongVersion(u8),
    #[error("datagram too large ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed datagram: {0}")]
    Malformed(&'static str),
}

/// Writes the datagram bytes for `header` and an encoded `payload`.
///
/// This is the seam where authenticated encryption will go: it will seal
/// `payload` with the group key, the header bytes as associated data.
pub fn seal(header: &Header, payload: &[u8], out: &mut Vec<u8>) {
    write_header(header, out);
    out.extend_from_slice(payload);
}

/// Reads the header and returns the (verified, some day) payload.
pub fn open(bytes: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if bytes.len() < 3 || bytes[..2] != MAGIC {
        return Err(DecodeError::NotRumor);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::WrongVersion(bytes[2]));
    }
    let rest = &bytes[3..];
    let Some((sender, rest)) = rest.split_first_chunk::<8>() else {
        return Err(DecodeError::Malformed("short header"));
    };
    let (packet, payload) = postcard::take_from_bytes::<u64>(rest)
        .map_err(|_| DecodeError::Malformed("packet number"))?;
    let header = Header {
        sender: ReplicaId(u64::from_le_bytes(*sender)),
        packet,
    };
    Ok((header, payload))
}

/// The header bytes alone (what `seal` writes before the payload).
pub fn write_header(header: &Header, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&header.sender.0.to_le_bytes());
    let mut buf = [0u8; 10];
    let n = postcard::to_slice(&header.packet, &mut buf).map_or(0, |s| s.len());
    out.extend_from_slice(&buf[..n]);
}

/// A whole datagram from a header and frames (tests and tools; the node
/// builds datagrams incrementally with [`super::DatagramBuilder`]).
pub fn encode(header: &Header, frames: &[Frame]) -> Vec<u8> {
    let mut payload = Vec::new();
    for frame in frames {
        let wire = WireFrame::new(frame, header.sender);
        payload = postcard::to_extend(&wire, payload).expect("encoding to a Vec cannot fail");
    }
    let mut out = Vec::with_capacity(HEADER_LEN + 10 + payload.len());
    seal(header, &payload, &mut out);
    out
}

/// Reads a datagram: its header and every frame, or an error. Never panics.
pub fn decode(bytes: &[u8]) -> Result<(Header, Vec<Frame>), DecodeError> {
    let (header, mut payload) = open(bytes)?;
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
    Ok((header, frames))
}
