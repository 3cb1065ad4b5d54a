//! The data directory's files that keep the history of versions apart from
//! the document: `versions` (the order this replica applied ops, appended
//! a batch per record, see `host::Versions`) and `tags` (the named versions,
//! one record, replaced whole). Both are framed and checksummed as the log
//! is; a damaged or torn record ends what is read (the host rebuilds what
//! it can from the document).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::record::{self, HeaderProblem, HEADER_LEN};
use super::{io_err, write_atomic, StoreError};

/// Magic of the record of versions.
pub const VERSIONS_MAGIC: [u8; 8] = *b"RUMORVER";
/// Magic of the tags file.
pub const TAGS_MAGIC: [u8; 8] = *b"RUMORTAG";

/// The intact records of a file, up to the first damage (none if the file
/// is missing or of another format), and whether the file was whole (a
/// file that was not is replaced at the next write).
pub fn read_records(path: &Path, magic: [u8; 8]) -> (Vec<Vec<u8>>, bool) {
    let Ok(bytes) = fs::read(path) else {
        return (Vec::new(), true);
    };
    if let Err(HeaderProblem::Torn | HeaderProblem::WrongMagic | HeaderProblem::WrongVersion(_)) =
        record::check_header(&bytes, magic)
    {
        return (Vec::new(), false);
    }
    let scan = record::scan_records(&bytes[HEADER_LEN..]);
    let first_damage = scan.damaged.first().map_or(usize::MAX, |r| r.start);
    let whole = scan.damaged.is_empty() && scan.torn_at.is_none();
    let records = scan
        .records
        .into_iter()
        .take_while(|(at, _)| *at < first_damage)
        .map(|(_, payload)| payload.to_vec())
        .collect();
    (records, whole)
}

/// Appends one record to the file (created with its header if needed), or
/// replaces the file by that one record when `whole`. Not synced: the file
/// can be rebuilt from the document.
pub fn write_record(
    path: &Path,
    magic: [u8; 8],
    payload: &[u8],
    whole: bool,
) -> Result<(), StoreError> {
    let fresh = whole || !path.exists();
    if fresh {
        let mut bytes = record::header(magic).to_vec();
        record::encode_record(payload, &mut bytes);
        return write_atomic(path, &bytes).map_err(io_err(path));
    }
    let mut rec = Vec::new();
    record::encode_record(payload, &mut rec);
    let append = || -> io::Result<()> {
        let mut f = OpenOptions::new().append(true).open(path)?;
        f.write_all(&rec)
    };
    append().map_err(io_err(path))
}
