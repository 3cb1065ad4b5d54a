//! The byte layout of the store's files: a fixed header, then records.
//!
//! ```text
//! header:  magic (8 bytes) | format version (u32 LE) | reserved (u32 LE, 0)
//! record:  payload length (u32 LE) | crc32 of payload (u32 LE) | payload
//! ```
//!
//! A record is only trusted when its whole payload is there and its checksum
//! matches; reading stops at the first record that is not.

/// Version of the log's on-disk format. A file with another version is refused.
pub const FORMAT_VERSION: u32 = 1;
/// Version of the snapshot's format: 2 holds a document snapshot
/// (`Doc::encode_snapshot`), cut into records; 1 held one record per op.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
pub const HEADER_LEN: usize = 16;
pub const RECORD_HEADER_LEN: usize = 8;
/// Larger lengths can only come from corruption (ops are far smaller).
pub const MAX_RECORD_LEN: usize = 64 << 20;

/// Magic of the append-only log of ops.
pub const LOG_MAGIC: [u8; 8] = *b"RUMORLOG";
/// Magic of a snapshot (the whole document at compaction time).
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"RUMORSNP";

/// The format version files with this magic are written in.
pub fn format_version(magic: [u8; 8]) -> u32 {
    if magic == SNAPSHOT_MAGIC {
        SNAPSHOT_FORMAT_VERSION
    } else {
        FORMAT_VERSION
    }
}

pub fn header(magic: [u8; 8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&format_version(magic).to_le_bytes());
    h
}

/// What is wrong with a file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Shorter than a header, but what is there matches: a file whose
    /// creation was cut short. It holds no records.
    Torn,
    WrongMagic,
    WrongVersion(u32),
}

pub fn check_header(bytes: &[u8], magic: [u8; 8]) -> Result<(), HeaderProblem> {
    let expected = header(magic);
    if bytes.len() < HEADER_LEN {
        return if expected.starts_with(bytes) {
            Err(HeaderProblem::Torn)
        } else {
            Err(HeaderProblem::WrongMagic)
        };
    }
    if bytes[..8] != magic {
        return Err(HeaderProblem::WrongMagic);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != format_version(magic) {
        return Err(HeaderProblem::WrongVersion(version));
    }
    Ok(())
}

/// Appends one framed record to `out`.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why reading records stopped before the end of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadTail {
    /// The last record runs past the end: an append cut short by a crash.
    /// It was never synced, so it was never acknowledged or sent.
    Torn,
    /// A complete record whose checksum or content is wrong: damage.
    Corrupt,
}

/// The records of `body` (the bytes after the header), in order, as
/// payload slices; then, if the bytes do not end cleanly, the offset in
/// `body` where the good records end and why.
pub fn split_records(body: &[u8]) -> (Vec<&[u8]>, Option<(usize, BadTail)>) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        if rest.len() < RECORD_HEADER_LEN {
            return (records, Some((at, BadTail::Torn)));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_RECORD_LEN {
            return (records, Some((at, BadTail::Corrupt)));
        }
        if rest.len() - RECORD_HEADER_LEN < len {
            return (records, Some((at, BadTail::Torn)));
        }
        let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
        if crc32fast::hash(payload) != crc {
            return (records, Some((at, BadTail::Corrupt)));
        }
        records.push(payload);
        at += RECORD_HEADER_LEN + len;
    }
    (records, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_record(p, &mut out);
        }
        out
    }

    #[test]
    fn records_round_trip() {
        let body = framed(&[b"one", b"", b"three"]);
        let (records, bad) = split_records(&body);
        assert_eq!(records, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(bad, None);
    }

    #[test]
    fn every_cut_is_torn_and_keeps_whole_records() {
        let body = framed(&[b"one", b"three"]);
        let first_end = RECORD_HEADER_LEN + 3;
        for cut in 1..body.len() {
            let (records, bad) = split_records(&body[..cut]);
            if cut == first_end {
                assert_eq!((records.len(), bad), (1, None));
            } else if cut < first_end {
                assert_eq!((records.len(), bad), (0, Some((0, BadTail::Torn))));
            } else {
                assert_eq!((records.len(), bad), (1, Some((first_end, BadTail::Torn))));
            }
        }
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let body = framed(&[b"hello", b"world"]);
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x40;
            let (records, tail) = split_records(&bad);
            assert!(tail.is_some(), "flip at {i} went unnoticed");
            assert!(records.len() <= 1);
            if i >= RECORD_HEADER_LEN + 5 {
                assert_eq!(records, vec![&b"hello"[..]]);
            }
        }
    }

    #[test]
    fn headers() {
        let h = header(LOG_MAGIC);
        assert_eq!(check_header(&h, LOG_MAGIC), Ok(()));
        assert_eq!(check_header(&h[..5], LOG_MAGIC), Err(HeaderProblem::Torn));
        assert_eq!(check_header(&[], LOG_MAGIC), Err(HeaderProblem::Torn));
        assert_eq!(
            check_header(&h, SNAPSHOT_MAGIC),
            Err(HeaderProblem::WrongMagic)
        );
        let mut v2 = h;
        v2[8] = 2;
        assert_eq!(
            check_header(&v2, LOG_MAGIC),
            Err(HeaderProblem::WrongVersion(2))
        );
    }
}
