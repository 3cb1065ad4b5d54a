//! The wire: messages and their byte form.
//!
//! A datagram is a fixed header (magic, protocol version, sender replica,
//! document, packet number) followed by a run of postcard-encoded [`Frame`]s, all
//! within an MTU. [`seal`]/[`open`] (in the clear) and
//! [`seal_with`]/[`open_with`] (sealed under a [`GroupKey`], see [`auth`])
//! are the one place that turns a header and a payload into datagram bytes
//! and back.
//!
//! Decoding never trusts a length: every sequence is read element by
//! element without preallocating from the count it claims, so what a
//! decode allocates is bounded by the bytes it was given.
//!
//! Byte layout (version 8: version 7 had one cursor per presence; version 7: version 6 had no `Tag` frame; version 6: version 5 had no selection in presence and no
//! member list in digests, version 4 no document in the header, version 3 no `Challenge`/`Response` frames, version 2 no stability reports, `Gone` and `Join` frames, version 1 no snapshot, gossip, presence frames and no sealed
//! form; versions refuse each other, counted as `wrong_version`):
//!
//! ```text
//! "rM"  version(8)  sender replica (8, little endian)  document (4, little endian)
//! packet number (varint)
//! frame*            each a postcard-encoded WireFrame, until the end
//! ```
//!
//! Sealed (with a group secret), the payload is encrypted and the clear
//! header authenticated (XChaCha20-Poly1305, nonce = sender ‖ epoch ‖ seq;
//! associated data: the clear header, then the receiving replica (8 bytes,
//! not sent) once the sender knows it, see `auth`):
//!
//! ```text
//! "rS"  version(7)  sender (8)  document (4)  epoch (varint)  seq (varint)   clear, authenticated
//! packet number (varint)  frame*                                    encrypted
//! tag (16)
//! ```
//!
//! LAN announcements (`announce`, magic "rA") are sealed the same way, with
//! the document in the clear header and the sender's port encrypted.
//!
//! A typed char pushed alone is one `Op` frame of about 10 bytes (the
//! sender's ids are written without the replica), so a datagram carrying
//! it and an ack is about 34 bytes.

pub mod announce;
pub mod auth;
mod codec;
mod error;
mod frame;
mod pack;
pub mod ticket;

pub use announce::{
    is_announcement, read_announcement, seal_announcement, Announcement, SealedAnnouncement,
};
pub use auth::{EpochKey, GroupKey, KeyError, SealId, SealKeys};
pub use codec::{
    decode, decode_payload, decode_with, encode, encode_sealed, encode_sealed_to, open, open_with,
    open_with_keys, open_with_keys_as, seal, seal_with, seal_with_keys, seal_with_keys_to, Header,
    Opened, HEADER_LEN, MAGIC, SEALED_MAGIC, SEAL_OVERHEAD,
};
pub use error::DecodeError;
pub use frame::{
    AckFrame, AckRange, CursorRange, DigestFrame, Frame, PresenceFrame, SnapshotChunk, TagFrame,
    WireFrame, MAX_PRESENCE_RANGES,
};
pub use pack::{encoded_len, op_frame_len, split_to_fit, DatagramBuilder};
pub use ticket::{Ticket, TicketError};

/// The protocol version this code speaks (the byte layout above). A
/// datagram of another version is refused (and counted), never misread.
/// 6: `PresenceFrame::anchor` (a peer's selection); 7: `Frame::Tag`;
/// 8: `PresenceFrame::more` (several cursors and selections); 9: snapshot
/// chunks carry a snapshot in columns (`RMS3`, see `doc::history`), which
/// a version-8 peer could not read.
pub const VERSION: u8 = 9;

/// Default datagram size limit: safe for IPv6 and common tunnels.
pub const DEFAULT_MTU: usize = 1200;
/// Smallest MTU the node accepts: a header plus a few frames.
pub const MIN_MTU: usize = 200;
/// Largest datagram the decoder looks at (the UDP limit).
pub const MAX_DATAGRAM: usize = 65_507;

#[cfg(test)]
mod tests;
