//! The byte layout of the store's files: a fixed header, then records.
//!
//! ```text
//! header:  magic (8 bytes) | format version (u32 LE) | reserved (u32 LE, 0)
//! record:  payload length (u32 LE) | crc32 of payload (u32 LE) | payload
//! ```
//!
//! A record is only trusted when its whole payload is there and its checksum
//! matches. Reading skips a damaged record and goes on at the next intact
//! one; a record that runs past the end of the file is an append cut short.

use std::ops::Range;

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
/// Magic of the membership file (one record: `node::Membership`).
pub const MEMBERS_MAGIC: [u8; 8] = *b"RUMORMEM";

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

/// What [`scan_records`] found in a file's body (the bytes after the header).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The intact records, in order: where each starts in the body (its
    /// record header), and its payload.
    pub records: Vec<(usize, &'a [u8])>,
    /// Ranges of the body, in order, that hold no intact record: damage
    /// (a complete record whose checksum is wrong, or bytes that do not
    /// frame a record, followed by intact records).
    pub damaged: Vec<Range<usize>>,
    /// Where an append cut short begins, if the body ends with one: a
    /// record that runs past the end, with no intact record after it.
    pub torn_at: Option<usize>,
}

/// Bytes checksummed at most while looking for the next intact record
/// after damage: whatever lies beyond is counted as damaged (and kept in
/// the copy of the file the store sets aside), so that a large damaged
/// file cannot make start-up quadratic.
const RESYNC_BUDGET: usize = 1 << 30;

/// The intact record at `at`, if one is there.
fn record_at(body: &[u8], at: usize, min_len: usize) -> Option<&[u8]> {
    let rest = body.get(at..)?;
    if rest.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len > MAX_RECORD_LEN || len < min_len || rest.len() - RECORD_HEADER_LEN < len {
        return None;
    }
    let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    (crc32fast::hash(payload) == crc).then_some(payload)
}

/// The claimed length of the record at `at`, if that much is there.
fn claimed_end(body: &[u8], at: usize) -> Option<usize> {
    let rest = &body[at..];
    if rest.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    (len <= MAX_RECORD_LEN && rest.len() - RECORD_HEADER_LEN >= len)
        .then_some(at + RECORD_HEADER_LEN + len)
}

/// Where the next intact record after the damaged one at `at` starts.
/// A record whose payload alone is damaged still has a good length: the
/// next record is right after it. Otherwise every later offset is tried
/// (empty records never occur in rumor's files, and an 8-byte run of zeros
/// would pass as one, so they are not taken as a resynchronisation point).
fn resync(body: &[u8], at: usize) -> Option<usize> {
    if let Some(end) = claimed_end(body, at) {
        if end < body.len() && record_at(body, end, 0).is_some() {
            return Some(end);
        }
    }
    let mut hashed = 0usize;
    for p in at + 1..body.len() {
        if hashed > RESYNC_BUDGET {
            return None;
        }
        if let Some(end) = claimed_end(body, p) {
            hashed += end - p;
            if record_at(body, p, 1).is_some() {
                return Some(p);
            }
        }
    }
    None
}

/// Reads the records of `body`, skipping damage: after a bad record,
/// reading goes on at the next intact one (records are checksummed, so
/// one is recognised wherever it starts).
pub fn scan_records(body: &[u8]) -> Scan<'_> {
    let mut scan = Scan::default();
    let mut at = 0;
    while at < body.len() {
        if let Some(payload) = record_at(body, at, 0) {
            scan.records.push((at, payload));
            at += RECORD_HEADER_LEN + payload.len();
            continue;
        }
        let complete = claimed_end(body, at).is_some();
        match resync(body, at) {
            Some(next) => {
                scan.damaged.push(at..next);
                at = next;
            }
            // A complete record that does not verify is damage even at
            // the end; one that runs past the end is an append cut short.
            None if complete => {
                scan.damaged.push(at..body.len());
                return scan;
            }
            None => {
                scan.torn_at = Some(at);
                return scan;
            }
        }
    }
    scan
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

    fn payloads<'a>(scan: &Scan<'a>) -> Vec<&'a [u8]> {
        scan.records.iter().map(|&(_, p)| p).collect()
    }

    #[test]
    fn records_round_trip() {
        let body = framed(&[b"one", b"", b"three"]);
        let scan = scan_records(&body);
        assert_eq!(payloads(&scan), vec![&b"one"[..], b"", b"three"]);
        assert!(scan.damaged.is_empty() && scan.torn_at.is_none());
    }

    #[test]
    fn every_cut_is_torn_and_keeps_whole_records() {
        let body = framed(&[b"one", b"three"]);
        let first_end = RECORD_HEADER_LEN + 3;
        for cut in 1..body.len() {
            let scan = scan_records(&body[..cut]);
            assert!(scan.damaged.is_empty(), "cut at {cut}");
            if cut == first_end {
                assert_eq!((scan.records.len(), scan.torn_at), (1, None));
            } else if cut < first_end {
                assert_eq!((scan.records.len(), scan.torn_at), (0, Some(0)));
            } else {
                assert_eq!((scan.records.len(), scan.torn_at), (1, Some(first_end)));
            }
        }
    }

    #[test]
    fn any_flipped_byte_is_caught_and_the_other_record_kept() {
        let body = framed(&[b"hello", b"world"]);
        let first_end = RECORD_HEADER_LEN + 5;
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x40;
            let scan = scan_records(&bad);
            assert!(
                !scan.damaged.is_empty() || scan.torn_at.is_some(),
                "flip at {i} went unnoticed"
            );
            let kept: &[u8] = if i < first_end { b"world" } else { b"hello" };
            assert_eq!(payloads(&scan), vec![kept], "flip at {i}");
        }
    }

    #[test]
    fn reading_resynchronises_after_damage_of_any_length() {
        let mut body = framed(&[b"first"]);
        let garbage_at = body.len();
        body.extend_from_slice(&[0xa5; 37]);
        let second_at = body.len();
        body.extend_from_slice(&framed(&[b"second", b"third"]));
        let scan = scan_records(&body);
        assert_eq!(payloads(&scan), vec![&b"first"[..], b"second", b"third"]);
        assert_eq!(scan.damaged, vec![garbage_at..second_at]);
        assert_eq!(scan.torn_at, None);
    }

    #[test]
    fn damage_at_the_end_is_damage_not_a_torn_append() {
        let mut body = framed(&[b"first", b"second"]);
        let last = body.len() - 1;
        body[last] ^= 1;
        let scan = scan_records(&body);
        assert_eq!(payloads(&scan), vec![&b"first"[..]]);
        assert_eq!(scan.damaged, vec![RECORD_HEADER_LEN + 5..body.len()]);
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
