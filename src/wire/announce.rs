//! LAN announcements: "a member of document D listens on port P", sealed
//! under the group key, sent to a multicast group (see `node::discovery`).
//!
//! Byte layout (sealed like a datagram, `auth`; the magic differs, and it
//! is authenticated, so neither form can pass for the other):
//!
//! ```text
//! "rA"  version  sender (8)  document (4)  flags (1)  epoch (varint)  seq (varint)   clear, authenticated
//! port (2, little endian)                                                            encrypted
//! tag (16)
//! ```
//!
//! The document is in the clear so that a member of another document
//! drops the announcement unopened; the port is sealed, so only members
//! learn where a member listens. One flag is defined, [`FOUNDING`]: the
//! sender is a newcomer that founds a document unless it meets a member
//! first (see `node::join`, "Founding alone"). Other bits are refused. The address comes from the datagram's
//! source: an announcement says nothing a member could not check by
//! probing that address (which the node does, see `node::handshake`).

use crate::doc::ReplicaId;

use super::auth::{SealId, SealKeys, TAG_LEN};
use super::error::DecodeError;
use super::{MAX_DATAGRAM, VERSION};

/// First bytes of every announcement.
pub const ANNOUNCE_MAGIC: [u8; 2] = *b"rA";
/// Bytes of the sealed payload: the port.
const PAYLOAD_LEN: usize = 2;
/// The largest announcement: clear header with the longest varints,
/// payload and tag. Anything longer is not one.
pub const MAX_ANNOUNCE_LEN: usize = 2 + 1 + 8 + 4 + 1 + 10 + 10 + PAYLOAD_LEN + TAG_LEN;
/// Flag: the sender is a newcomer that founds a document if no member
/// lets it join first ([`Announcement::founding`]).
pub const FOUNDING: u8 = 1;

/// What a member announces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub sender: ReplicaId,
    /// The sender's document (0: a newcomer that has none yet).
    pub document: u32,
    /// The port the sender listens on for datagrams.
    pub port: u16,
    /// The sender is a newcomer about to found a document of its own
    /// (see `node::join`, "Founding alone").
    pub founding: bool,
}

/// Whether `bytes` claim to be an announcement (by their magic alone).
pub fn is_announcement(bytes: &[u8]) -> bool {
    bytes.starts_with(&ANNOUNCE_MAGIC)
}

/// The bytes of `a`, sealed under `keys` with the sender's `id` (a nonce
/// of the sender's run, never used for anything else).
pub fn seal_announcement(keys: &mut SealKeys, a: &Announcement, id: SealId) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_ANNOUNCE_LEN);
    out.extend_from_slice(&ANNOUNCE_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&a.sender.0.to_le_bytes());
    out.extend_from_slice(&a.document.to_le_bytes());
    out.push(if a.founding { FOUNDING } else { 0 });
    push_varint(id.epoch, &mut out);
    push_varint(id.seq, &mut out);
    let clear = out.len();
    out.extend_from_slice(&a.port.to_le_bytes());
    keys.seal_in_place(a.sender.0, id, &mut out, clear);
    out
}

/// An announcement whose clear header has been read, not yet opened.
#[derive(Debug)]
pub struct SealedAnnouncement<'a> {
    pub sender: ReplicaId,
    pub document: u32,
    pub founding: bool,
    pub id: SealId,
    clear: &'a [u8],
    sealed: &'a [u8],
}

/// Reads an announcement's clear header (no cryptography: a receiver can
/// drop another document's announcement for free). Never panics.
pub fn read_announcement(bytes: &[u8]) -> Result<SealedAnnouncement<'_>, DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    if bytes.len() < 3 || !is_announcement(bytes) {
        return Err(DecodeError::NotRumor);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::WrongVersion(bytes[2]));
    }
    if bytes.len() > MAX_ANNOUNCE_LEN {
        return Err(DecodeError::Malformed("announcement too long"));
    }
    let rest = &bytes[3..];
    let Some((sender, rest)) = rest.split_first_chunk::<8>() else {
        return Err(DecodeError::Malformed("short announcement"));
    };
    let Some((document, rest)) = rest.split_first_chunk::<4>() else {
        return Err(DecodeError::Malformed("short announcement"));
    };
    let Some((&flags, rest)) = rest.split_first() else {
        return Err(DecodeError::Malformed("short announcement"));
    };
    if flags & !FOUNDING != 0 {
        return Err(DecodeError::Malformed("announcement flags"));
    }
    let (epoch, rest) =
        postcard::take_from_bytes::<u64>(rest).map_err(|_| DecodeError::Malformed("epoch"))?;
    let (seq, sealed) =
        postcard::take_from_bytes::<u64>(rest).map_err(|_| DecodeError::Malformed("sequence"))?;
    if sealed.len() != PAYLOAD_LEN + TAG_LEN {
        return Err(DecodeError::Malformed("announcement length"));
    }
    Ok(SealedAnnouncement {
        sender: ReplicaId(u64::from_le_bytes(*sender)),
        document: u32::from_le_bytes(*document),
        founding: flags == FOUNDING,
        id: SealId { epoch, seq },
        clear: &bytes[..bytes.len() - sealed.len()],
        sealed,
    })
}

impl SealedAnnouncement<'_> {
    /// Checks the tag and reads the port: one AEAD open, whatever the
    /// bytes. [`DecodeError::BadTag`]: another group key, or altered.
    pub fn open(&self, keys: &mut SealKeys) -> Result<Announcement, DecodeError> {
        let mut port = Vec::with_capacity(PAYLOAD_LEN);
        keys.open_into(self.sender.0, self.id, self.clear, self.sealed, &mut port)
            .map_err(|_| DecodeError::BadTag)?;
        let port: [u8; PAYLOAD_LEN] = port
            .as_slice()
            .try_into()
            .map_err(|_| DecodeError::Malformed("announcement payload"))?;
        Ok(Announcement {
            sender: self.sender,
            document: self.document,
            port: u16::from_le_bytes(port),
            founding: self.founding,
        })
    }
}

fn push_varint(n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let n = postcard::to_slice(&n, &mut buf).map_or(0, |s| s.len());
    out.extend_from_slice(&buf[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{open_with_keys, GroupKey};

    fn keys(seed: u64) -> SealKeys {
        SealKeys::new(GroupKey::from_seed(seed))
    }

    fn sample() -> Announcement {
        Announcement {
            sender: ReplicaId(0x0123_4567_89ab_cdef),
            document: 0xd0c5_0001,
            port: 7001,
            founding: false,
        }
    }

    fn id() -> SealId {
        SealId {
            epoch: 1_765_000_000_000,
            seq: 300,
        }
    }

    #[test]
    fn round_trips_under_the_group_key() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        assert!(is_announcement(&bytes));
        assert!(bytes.len() <= MAX_ANNOUNCE_LEN);
        let read = read_announcement(&bytes).unwrap();
        assert_eq!(
            (read.sender, read.document, read.founding, read.id),
            (sample().sender, sample().document, false, id())
        );
        assert_eq!(read.open(&mut keys(1)).unwrap(), sample());
        let founding = Announcement {
            document: 0,
            founding: true,
            ..sample()
        };
        let bytes = seal_announcement(&mut keys(1), &founding, id());
        let read = read_announcement(&bytes).unwrap();
        assert!(read.founding);
        assert_eq!(read.open(&mut keys(1)).unwrap(), founding);
    }

    #[test]
    fn the_founding_flag_is_authenticated_and_unknown_flags_refused() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        let mut flipped = bytes.clone();
        flipped[15] = FOUNDING;
        let read = read_announcement(&flipped).unwrap();
        assert!(read.founding);
        assert_eq!(read.open(&mut keys(1)), Err(DecodeError::BadTag));
        for bit in 1..8 {
            let mut unknown = bytes.clone();
            unknown[15] = 1 << bit;
            assert_eq!(
                read_announcement(&unknown).unwrap_err(),
                DecodeError::Malformed("announcement flags")
            );
        }
    }

    #[test]
    fn another_key_does_not_open_it() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        let read = read_announcement(&bytes).unwrap();
        assert_eq!(read.open(&mut keys(2)), Err(DecodeError::BadTag));
    }

    #[test]
    fn another_document_is_read_without_opening() {
        let other = Announcement {
            document: 0xbeef,
            ..sample()
        };
        let bytes = seal_announcement(&mut keys(1), &other, id());
        // The document is readable without the key, and authenticated:
        // changed in transit, the announcement no longer opens.
        assert_eq!(read_announcement(&bytes).unwrap().document, 0xbeef);
        let mut forged = bytes.clone();
        forged[11..15].copy_from_slice(&sample().document.to_le_bytes());
        let read = read_announcement(&forged).unwrap();
        assert_eq!(read.document, sample().document);
        assert_eq!(read.open(&mut keys(1)), Err(DecodeError::BadTag));
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        for n in 0..bytes.len() {
            let cut = &bytes[..n];
            let refused = match read_announcement(cut) {
                Err(_) => true,
                Ok(read) => read.open(&mut keys(1)).is_err(),
            };
            assert!(refused, "cut to {n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_announcement(&longer).is_err());
        let mut other_version = bytes.clone();
        other_version[2] = VERSION + 1;
        assert_eq!(
            read_announcement(&other_version).unwrap_err(),
            DecodeError::WrongVersion(VERSION + 1)
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let opened = read_announcement(&bad).and_then(|r| r.open(&mut keys(1)));
            assert!(opened.is_err(), "bit {i}");
        }
    }

    proptest::proptest! {
        /// Any bytes after the magic and version: refused or read, never a
        /// panic; and never opened without the key.
        #[test]
        fn any_bytes_are_refused_without_a_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let mut bytes = ANNOUNCE_MAGIC.to_vec();
            bytes.push(VERSION);
            bytes.extend_from_slice(&tail);
            if let Ok(read) = read_announcement(&bytes) {
                proptest::prop_assert_eq!(read.open(&mut keys(1)), Err(DecodeError::BadTag));
            }
        }
    }

    #[test]
    fn an_announcement_is_no_datagram_and_a_datagram_no_announcement() {
        let bytes = seal_announcement(&mut keys(1), &sample(), id());
        let mut scratch = Vec::new();
        assert!(open_with_keys(&bytes, Some(&mut keys(1)), &mut scratch).is_err());
        // A sealed datagram with its magic swapped for ours does not open
        // as an announcement: the magic is authenticated.
        let header = crate::wire::Header {
            sender: sample().sender,
            packet: 0,
            document: sample().document,
        };
        // (Epoch 1 reads as the founding flag, the sequence as the epoch,
        // the encrypted packet number as the sequence: one payload length
        // makes the rest as long as a port and a tag.)
        let id = SealId { epoch: 1, seq: 300 };
        let read_as_announcement = (0..12).find_map(|len| {
            let mut datagram = Vec::new();
            let payload = vec![0; len];
            crate::wire::seal_with(
                &GroupKey::from_seed(1),
                &header,
                id,
                &payload,
                &mut datagram,
            );
            datagram[..2].copy_from_slice(&ANNOUNCE_MAGIC);
            read_announcement(&datagram)
                .is_ok()
                .then(|| read_announcement(&datagram).and_then(|read| read.open(&mut keys(1))))
        });
        assert_eq!(read_as_announcement, Some(Err(DecodeError::BadTag)));
    }
}
