//! Durable storage of one replica in a data directory.
//!
//! The directory holds:
//!
//! - `replica`: this replica's id, in hex. Created once; a restarted peer
//!   keeps its id, and its counter follows from the ops replayed (its own
//!   ops are in the log), so it never reuses an id it already sent.
//! - `log`: an append-only log, one checksummed record per op, each with the
//!   wall-clock time it was written. Appends are grouped: one `fsync` per
//!   batch ([`Store::append`]).
//! - `snapshot`: the whole document at the last compaction, in the form a
//!   newcomer receives it over the network (`Doc::encode_snapshot`: the
//!   history plus the document order, so it loads without replaying any
//!   op), cut into checksummed records. When the log has grown past the
//!   snapshot, the driver hands [`Store::compact`] a new snapshot; the log
//!   then starts again empty. Start-up time is thus bounded by the
//!   document, not by how long it has been edited.
//! - No lock file: a process using the directory holds an advisory lock
//!   (`flock`) on the directory itself, which no file deleted or renamed
//!   in it can release. Temporaries that a killed run left behind
//!   (`.snapshot.tmp.*` and the like) are removed when the lock is taken.
//! - `members`: what the replica knows of its group (`node::Membership`:
//!   whether it has joined, the members it knew, those declared gone), one
//!   checksummed record, replaced whole when it changes. A restarted
//!   replica must not forget a member: cleanup waits for every one.
//! - `epoch`: the sealing epoch of the last run (with a group secret), so
//!   the next run's is larger and sealing nonces never repeat.
//! - `bound-text` ([`BOUND_TEXT`]), with `--file`: the text last written
//!   to the bound file (see `net::file_binding`).
//! - `versions`: the order this replica applied ops in, with times (what
//!   names the versions `@N`, see `host::Versions`), appended after the
//!   log; `tags`: the named versions, with the text each names, so they
//!   outlive cleanup (see `host::Tags`). Both are rebuilt or dropped when
//!   damaged, never a reason to refuse the directory.
//!
//! On start, [`Store::open`] returns the snapshot and the log's ops. A torn tail (an
//! append cut short by a crash, never acknowledged) is cut off with a
//! warning. A damaged log record is skipped: records are checksummed, so
//! reading goes on at the next intact one, and every intact op is kept.
//! A damaged snapshot cannot be used in part (it is one encoded document),
//! so it is dropped; peers send the document again. Either way the file as
//! it was is first copied aside (`log.damaged`, `snapshot.damaged`, then
//! `.2`, ...), and since the lost ops might already have been sent, the
//! replica takes a fresh id, so that no id is ever used twice for different
//! content; then the file is repaired (the log rewritten with its intact
//! records, the snapshot removed), so the next start retires nothing.
//! Files of another format version are refused, never rewritten.

mod atomic;
mod epoch;
mod record;
mod records_file;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use atomic::{check_replaceable, sync_dir, write_atomic, write_user_file};
use record::{HeaderProblem, HEADER_LEN, LOG_MAGIC, MEMBERS_MAGIC, SNAPSHOT_MAGIC};

use crate::doc::{Op, ReplicaId};

/// Largest record of a snapshot file (a snapshot is cut into records).
const SNAPSHOT_RECORD_LEN: usize = 16 << 20;

/// The log is compacted once it is larger than this and than the snapshot.
pub const DEFAULT_COMPACT_MIN_BYTES: u64 = 4 << 20;

/// An op as stored, with the time it was written (milliseconds since the
/// Unix epoch; 0 when unknown, as for ops that come from a snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub unix_ms: u64,
    pub op: Op,
}

/// What [`Store::open`] found.
#[derive(Debug)]
pub struct Recovered {
    pub replica: ReplicaId,
    /// The directory had no replica yet: a new one was created.
    pub created: bool,
    /// The last snapshot (`Doc::encode_snapshot` bytes), if any: load it
    /// with `Doc::decode_history`, then apply `entries`.
    pub snapshot: Option<Vec<u8>>,
    /// The log's ops, in the order they were written (an order
    /// `Doc::apply` accepts; ops the snapshot has too are harmless, since
    /// applying an op twice does nothing).
    pub entries: Vec<Entry>,
    /// The stored membership (`node::Membership`, encoded), if any.
    pub membership: Option<Vec<u8>>,
    /// The ids this replica edited under in earlier runs (oldest first),
    /// so that `history` and `blame` can name them "me".
    pub former_ids: Vec<ReplicaId>,
    /// Things repaired on the way, one line each, for the user to see.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is not a rumor {what} file (unknown magic bytes); refusing to use it", path.display())]
    NotOurs { path: PathBuf, what: &'static str },
    #[error(
        "{} has on-disk format version {found}; this rumor reads version {expected} only",
        path.display()
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{}: not a replica id (expected hex digits)", path.display())]
    BadReplica { path: PathBuf },
    #[error("data directory {} is in use by another rumor process", dir.display())]
    Locked { dir: PathBuf },
}

/// Appends `op` as one record, or, when it is too big for one record (a
/// paste of tens of megabytes), as several records of consecutive slices:
/// the reader refuses records past `MAX_RECORD_LEN`, so the writer must
/// never make one.
fn encode_op(op: &Op, unix_ms: u64, out: &mut Vec<u8>) {
    let entry = Entry {
        unix_ms,
        op: op.clone(),
    };
    let payload = postcard::to_stdvec(&entry).expect("an op always encodes");
    let len = op.len();
    if payload.len() <= record::MAX_RECORD_LEN || len < 2 {
        record::encode_record(&payload, out);
        return;
    }
    let mid = len / 2;
    encode_op(&op.slice(0, mid), unix_ms, out);
    encode_op(&op.slice(mid, len), unix_ms, out);
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counters for `status` and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub ops_appended: u64,
    pub syncs: u64,
    pub compactions: u64,
    pub log_bytes: u64,
    pub snapshot_bytes: u64,
}

/// An open data directory. Appends go to the log; see the module docs.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    log: File,
    replica: ReplicaId,
    compact_min_bytes: u64,
    stats: StoreStats,
    /// Holds the directory's lock for as long as the store lives.
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the data directory and replays it.
    pub fn open(dir: &Path) -> Result<(Store, Recovered), StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // The lock is on the directory itself, not on a file in it: no
        // name in the directory can be deleted or replaced to drop it.
        let lock = File::open(dir).map_err(io_err(dir))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(dir)(e)),
        }
        // Only a run holding the lock writes temporaries here: any left
        // are from a run that was killed, and would stay for ever.
        remove_stale_temporaries(dir)?;

        let mut warnings = Vec::new();
        let (mut replica, created) = load_or_create_replica(dir)?;
        // Damaged files, as they were, to copy aside before any repair.
        let mut set_aside: Vec<(&str, Vec<u8>)> = Vec::new();

        let mut entries = Vec::new();
        let snapshot_path = dir.join("snapshot");
        let mut snapshot_bytes = 0;
        let mut snapshot = None;
        if snapshot_path.exists() {
            let replay = replay_file(&snapshot_path, SNAPSHOT_MAGIC, "snapshot")?;
            if replay.damaged {
                // A snapshot is one encoded document (cut into records):
                // a part of one cannot be decoded, so none of it is used.
                warnings.extend(replay.warnings);
                set_aside.push(("snapshot", replay.original));
            } else {
                snapshot_bytes = replay.good_len;
                snapshot = Some(replay.payload);
            }
        }

        let log_path = dir.join("log");
        let mut log_bytes = HEADER_LEN as u64;
        let mut log_rewrite = None;
        if log_path.exists() {
            let replay = replay_file(&log_path, LOG_MAGIC, "log")?;
            warnings.extend(replay.warnings);
            entries.extend(replay.entries);
            if replay.damaged {
                set_aside.push(("log", replay.original));
                log_rewrite = Some(replay.intact);
            } else if replay.header_torn {
                write_atomic(&log_path, &record::header(LOG_MAGIC)).map_err(io_err(&log_path))?;
            } else {
                log_bytes = replay.good_len;
                if replay.original.len() as u64 != replay.good_len {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&log_path)
                        .map_err(io_err(&log_path))?;
                    f.set_len(replay.good_len).map_err(io_err(&log_path))?;
                    f.sync_all().map_err(io_err(&log_path))?;
                }
            }
        } else {
            write_atomic(&log_path, &record::header(LOG_MAGIC)).map_err(io_err(&log_path))?;
        }

        if !set_aside.is_empty() {
            // In this order, each step durable before the next: the
            // damaged files are copied aside (nothing is ever lost), the
            // replica id is retired, and only then are the files repaired,
            // so that the next start finds nothing to repair and does not
            // retire the new id too. A crash in between repeats the repair.
            for (name, original) in &set_aside {
                let copy = damaged_copy_name(dir, name);
                write_atomic(&copy, original).map_err(io_err(&copy))?;
                warnings.push(match *name {
                    "snapshot" => format!(
                        "{}: damaged; set aside as {} and starting without it \
                         (peers will send the document again)",
                        snapshot_path.display(),
                        copy.display()
                    ),
                    _ => format!(
                        "{}: the file as it was is kept as {}",
                        dir.join(name).display(),
                        copy.display()
                    ),
                });
            }
            let old = replica;
            replica = new_replica_id();
            write_replica(dir, replica)?;
            warnings.push(format!(
                "replica id changed from {old} to {replica}: ops of the old id were lost to \
                 damage and might have been sent, so the old id is retired"
            ));
            if set_aside.iter().any(|(name, _)| *name == "snapshot") {
                fs::remove_file(&snapshot_path).map_err(io_err(&snapshot_path))?;
                atomic::sync_dir(dir).map_err(io_err(dir))?;
            }
            if let Some(intact) = log_rewrite {
                write_atomic(&log_path, &intact).map_err(io_err(&log_path))?;
                log_bytes = intact.len() as u64;
            }
        }

        let membership = load_membership(dir, &mut warnings)?;
        let former_ids = load_former_ids(dir);
        let log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let store = Store {
            dir: dir.to_path_buf(),
            log,
            replica,
            compact_min_bytes: DEFAULT_COMPACT_MIN_BYTES,
            stats: StoreStats {
                log_bytes,
                snapshot_bytes,
                ..StoreStats::default()
            },
            _lock: lock,
        };
        let recovered = Recovered {
            replica,
            created,
            snapshot,
            entries,
            membership,
            former_ids,
            warnings,
        };
        Ok((store, recovered))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// Takes this run's sealing epoch (see [`epoch::next_epoch`]), with a
    /// warning if the recorded one was damaged.
    pub fn next_epoch(&self, floor: u64) -> Result<(u64, Option<String>), StoreError> {
        epoch::next_epoch(&self.dir, floor)
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Sets how large the log must grow before compaction is considered.
    pub fn set_compact_min_bytes(&mut self, bytes: u64) {
        self.compact_min_bytes = bytes;
    }

    /// Appends `ops` and makes them durable with a single `fsync`: when this
    /// returns `Ok`, every op survives a crash. On error nothing of the
    /// batch is kept (the log is cut back), so the log stays well formed.
    pub fn append(&mut self, ops: &[Op], unix_ms: u64) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for op in ops {
            encode_op(op, unix_ms, &mut buf);
        }
        let path = self.dir.join("log");
        let result = self.log.write_all(&buf).and_then(|()| self.log.sync_data());
        if let Err(e) = result {
            // Cut back whatever part of the batch reached the file.
            let _ = self.log.set_len(self.stats.log_bytes);
            return Err(io_err(&path)(e));
        }
        self.stats.log_bytes += buf.len() as u64;
        self.stats.ops_appended += ops.len() as u64;
        self.stats.syncs += 1;
        Ok(())
    }

    /// True when the log has grown enough that [`Store::compact`] pays off:
    /// past the minimum size and larger than the snapshot.
    pub fn needs_compaction(&self) -> bool {
        let log_body = self.stats.log_bytes - HEADER_LEN as u64;
        log_body > self.compact_min_bytes && log_body > self.stats.snapshot_bytes
    }

    /// Replaces snapshot and log with `snapshot` (`doc.encode_snapshot()`
    /// of the document, which holds every op in the log) and an empty log.
    /// A crash at any point leaves a directory that replays to the same
    /// document: the new snapshot is in place before the log is emptied,
    /// and ops found in both are simply applied twice.
    pub fn compact(&mut self, snapshot: &[u8]) -> Result<(), StoreError> {
        let mut snap = record::header(SNAPSHOT_MAGIC).to_vec();
        for part in snapshot.chunks(SNAPSHOT_RECORD_LEN) {
            record::encode_record(part, &mut snap);
        }
        let snapshot_path = self.dir.join("snapshot");
        write_atomic(&snapshot_path, &snap).map_err(io_err(&snapshot_path))?;
        self.stats.snapshot_bytes = snap.len() as u64;

        let log_path = self.dir.join("log");
        write_atomic(&log_path, &record::header(LOG_MAGIC)).map_err(io_err(&log_path))?;
        self.log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        self.stats.log_bytes = HEADER_LEN as u64;
        self.stats.compactions += 1;
        Ok(())
    }

    /// The node rejoined as replica `replica` with document `snapshot`
    /// (`Event::Rejoined`): records the new id, then replaces snapshot and
    /// log. In that order, so a crash in between restarts under the new id
    /// with the old document (the old id is never used again).
    /// A retry after a failed compaction finds the id stored already.
    pub fn rejoin(&mut self, replica: ReplicaId, snapshot: &[u8]) -> Result<(), StoreError> {
        if replica != self.replica {
            write_replica(&self.dir, replica)?;
            note_former_id(&self.dir, self.replica);
            self.replica = replica;
        }
        self.compact(snapshot)
    }

    /// The replica makes its edits under `replica` from now on; the log
    /// keeps every op as it is (see `node::Config::id_used_before`).
    pub fn set_replica(&mut self, replica: ReplicaId) -> Result<(), StoreError> {
        write_replica(&self.dir, replica)?;
        note_former_id(&self.dir, self.replica);
        self.replica = replica;
        Ok(())
    }

    /// The record of versions as stored (see `host::Versions`): its
    /// batches, and whether the file was whole.
    pub fn load_versions(&self) -> (Vec<Vec<u8>>, bool) {
        records_file::read_records(&self.dir.join("versions"), records_file::VERSIONS_MAGIC)
    }

    /// Appends a batch to the record of versions, or replaces the record
    /// by it (`whole`). Not synced: the host rebuilds a lost tail.
    pub fn save_versions(&mut self, batch: &[u8], whole: bool) -> Result<(), StoreError> {
        let path = self.dir.join("versions");
        records_file::write_record(&path, records_file::VERSIONS_MAGIC, batch, whole)
    }

    /// The tags as stored (one record), if any.
    pub fn load_tags(&self) -> Option<Vec<u8>> {
        let (records, _) =
            records_file::read_records(&self.dir.join("tags"), records_file::TAGS_MAGIC);
        records.into_iter().next()
    }

    /// Replaces the tags file, durably (a tag is something a user asked for).
    pub fn save_tags(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.dir.join("tags");
        records_file::write_record(&path, records_file::TAGS_MAGIC, bytes, true)
    }

    /// Replaces the membership file with `bytes` (see the module docs).
    pub fn save_membership(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let mut file = record::header(MEMBERS_MAGIC).to_vec();
        record::encode_record(bytes, &mut file);
        let path = self.dir.join("members");
        write_atomic(&path, &file).map_err(io_err(&path))
    }
}

/// The membership file's one record, if the file is there and whole. A
/// damaged one is reported and not used (it is replaced at the next
/// change); one of another format is refused, as every file is.
fn load_membership(dir: &Path, warnings: &mut Vec<String>) -> Result<Option<Vec<u8>>, StoreError> {
    let path = dir.join("members");
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    match record::check_header(&bytes, MEMBERS_MAGIC) {
        Ok(()) => {}
        Err(HeaderProblem::Torn) => {}
        Err(HeaderProblem::WrongMagic) => {
            return Err(StoreError::NotOurs {
                path,
                what: "members",
            })
        }
        Err(HeaderProblem::WrongVersion(found)) => {
            return Err(StoreError::Version {
                path,
                found,
                expected: record::format_version(MEMBERS_MAGIC),
            })
        }
    }
    let scan = record::scan_records(bytes.get(HEADER_LEN..).unwrap_or_default());
    match scan.records.as_slice() {
        [(_, payload)] if scan.damaged.is_empty() && scan.torn_at.is_none() => {
            Ok(Some(payload.to_vec()))
        }
        _ => {
            warnings.push(format!(
                "{}: damaged; starting without it (the members this replica knew are \
                 learned again from peers)",
                path.display()
            ));
            Ok(None)
        }
    }
}

/// The files the store replaces whole (with [`write_atomic`]).
const REPLACED_FILES: [&str; 8] = [
    "snapshot", "log", "replica", "epoch", "members", BOUND_TEXT, "versions", "tags",
];

/// In the data directory of a document bound to a file (`--file`): the
/// text rumor last wrote to that file, to tell what another program
/// changed in it while rumor was not running. Written by the driver.
pub const BOUND_TEXT: &str = "bound-text";

fn remove_stale_temporaries(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if REPLACED_FILES
            .iter()
            .any(|of| atomic::is_temp_of(&name, of))
        {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// A random replica id from the operating system (never 0).
pub fn new_replica_id() -> ReplicaId {
    loop {
        let id: u64 = rand::random();
        if id != 0 {
            return ReplicaId(id);
        }
    }
}

/// Most former ids kept (a few a day for years).
const MAX_FORMER_IDS: usize = 4096;

/// The ids this replica edited under before (the file `former-ids`, one
/// hex id a line). Only names for the user: a damaged or missing file
/// costs nothing but those names.
fn load_former_ids(dir: &Path) -> Vec<ReplicaId> {
    let text = fs::read_to_string(dir.join("former-ids")).unwrap_or_default();
    let mut ids: Vec<ReplicaId> = text
        .lines()
        .filter_map(|l| u64::from_str_radix(l.trim(), 16).ok())
        .filter(|&id| id != 0)
        .map(ReplicaId)
        .collect();
    let excess = ids.len().saturating_sub(MAX_FORMER_IDS);
    ids.drain(..excess);
    ids
}

/// Appends `former` to the file of former ids (not synced: see above).
fn note_former_id(dir: &Path, former: ReplicaId) {
    use std::io::Write;
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("former-ids"))
    {
        let _ = writeln!(f, "{:016x}", former.0);
    }
}

fn write_replica(dir: &Path, replica: ReplicaId) -> Result<(), StoreError> {
    let path = dir.join("replica");
    write_atomic(&path, format!("{:016x}\n", replica.0).as_bytes()).map_err(io_err(&path))
}

fn load_or_create_replica(dir: &Path) -> Result<(ReplicaId, bool), StoreError> {
    let path = dir.join("replica");
    match fs::read_to_string(&path) {
        Ok(text) => {
            let id = u64::from_str_radix(text.trim(), 16)
                .ok()
                .filter(|&id| id != 0)
                .ok_or_else(|| StoreError::BadReplica { path: path.clone() })?;
            Ok((ReplicaId(id), false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let replica = new_replica_id();
            write_replica(dir, replica)?;
            Ok((replica, true))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

struct Replay {
    /// The log's ops.
    entries: Vec<Entry>,
    /// The snapshot's records, joined.
    payload: Vec<u8>,
    warnings: Vec<String>,
    /// The file as it was read.
    original: Vec<u8>,
    /// The header and the intact records, as they were in the file: what
    /// the file is rewritten to after damage.
    intact: Vec<u8>,
    /// Length of the file up to the end of the last good record.
    good_len: u64,
    header_torn: bool,
    /// Records were damaged (or, in a snapshot, anything was wrong): ops
    /// that may have been sent were lost.
    damaged: bool,
}

/// `ranges` as `a..b, c..d` in file offsets, adjacent ones merged.
fn describe_ranges(ranges: &[Range<usize>]) -> String {
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => merged.push(r.clone()),
        }
    }
    merged
        .iter()
        .map(|r| format!("{}..{}", HEADER_LEN + r.start, HEADER_LEN + r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

fn replay_file(path: &Path, magic: [u8; 8], what: &'static str) -> Result<Replay, StoreError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let mut replay = Replay {
        entries: Vec::new(),
        payload: Vec::new(),
        warnings: Vec::new(),
        original: Vec::new(),
        intact: record::header(magic).to_vec(),
        good_len: HEADER_LEN as u64,
        header_torn: false,
        damaged: false,
    };
    match record::check_header(&bytes, magic) {
        Ok(()) => {}
        Err(HeaderProblem::Torn) => {
            replay.header_torn = true;
            // A snapshot is written whole (temp file + rename): if it is cut
            // short, something outside damaged it, and ops in it may have
            // been sent already, so its replica id must be retired.
            replay.damaged = magic == SNAPSHOT_MAGIC;
            replay.warnings.push(format!(
                "{}: header cut short ({} bytes); starting it afresh",
                path.display(),
                bytes.len()
            ));
            replay.original = bytes;
            return Ok(replay);
        }
        Err(HeaderProblem::WrongMagic) => {
            return Err(StoreError::NotOurs {
                path: path.to_path_buf(),
                what,
            })
        }
        Err(HeaderProblem::WrongVersion(found)) => {
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                found,
                expected: record::format_version(magic),
            })
        }
    }
    let body = &bytes[HEADER_LEN..];
    let scan = record::scan_records(body);
    let mut damaged = scan.damaged.clone();
    let mut good_end = 0;
    for &(at, payload) in &scan.records {
        let end = at + record::RECORD_HEADER_LEN + payload.len();
        if magic == SNAPSHOT_MAGIC {
            replay.payload.extend_from_slice(payload);
        } else {
            match postcard::from_bytes::<Entry>(payload) {
                Ok(entry) => replay.entries.push(entry),
                // Checksummed yet not an entry: damage all the same.
                Err(_) => {
                    damaged.push(at..end);
                    continue;
                }
            }
        }
        replay.intact.extend_from_slice(&body[at..end]);
        good_end = end;
    }
    damaged.sort_by_key(|r| r.start);
    replay.good_len = (HEADER_LEN + good_end) as u64;
    if !damaged.is_empty() {
        replay.damaged = true;
        let lost: usize = damaged.iter().map(|r| r.len()).sum();
        let kept = if magic == SNAPSHOT_MAGIC {
            String::new()
        } else {
            format!("; kept {} ops", replay.entries.len())
        };
        replay.warnings.push(format!(
            "{}: damaged record at bytes {}; skipped {lost} bytes{kept}",
            path.display(),
            describe_ranges(&damaged),
        ));
    }
    if let Some(at) = scan.torn_at {
        // A torn tail is harmless only in the log (an append cut short
        // before it was acknowledged); in a snapshot it is damage.
        replay.damaged |= magic == SNAPSHOT_MAGIC;
        replay.warnings.push(format!(
            "{}: torn tail (an append cut short) at byte {}; dropped the last {} bytes",
            path.display(),
            HEADER_LEN + at,
            body.len() - at,
        ));
    }
    replay.original = bytes;
    Ok(replay)
}

/// A name in `dir` for a damaged file's copy: `NAME.damaged`, or with
/// `.2`, `.3`, ... when earlier copies are there (they are never replaced).
fn damaged_copy_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(format!("{name}.damaged"));
    if !first.exists() {
        return first;
    }
    (2u64..)
        .map(|n| dir.join(format!("{name}.damaged.{n}")))
        .find(|p| !p.exists())
        .expect("some number is free")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::doc::{Doc, Id, OpKind};

    pub fn temp_dir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rumor-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn op(replica: u64, counter: u64, text: &str) -> Op {
        Op {
            id: Id::new(ReplicaId(replica), counter),
            kind: OpKind::Insert {
                left: counter
                    .checked_sub(1)
                    .map(|c| Id::new(ReplicaId(replica), c)),
                right: None,
                text: text.to_string(),
            },
        }
    }

    fn ops_of(rec: &Recovered) -> Vec<Op> {
        rec.entries.iter().map(|e| e.op.clone()).collect()
    }

    fn doc_of(ops: &[Op]) -> Doc {
        let mut doc = Doc::new(ReplicaId(7));
        for o in ops {
            doc.apply(o.clone()).unwrap();
        }
        doc
    }

    /// The document a driver rebuilds from what was recovered.
    fn rebuilt(rec: &Recovered) -> Doc {
        let mut doc = match &rec.snapshot {
            Some(bytes) => Doc::decode_history(ReplicaId(7), bytes).unwrap(),
            None => Doc::new(ReplicaId(7)),
        };
        for o in ops_of(rec) {
            doc.apply(o).unwrap();
        }
        doc
    }

    #[test]
    fn fresh_dir_then_replay_keeps_ops_and_replica() {
        let dir = temp_dir("replay");
        let (mut store, rec) = Store::open(&dir).unwrap();
        assert!(rec.created && rec.entries.is_empty() && rec.warnings.is_empty());
        let replica = rec.replica;
        let batch = vec![op(1, 0, "ab"), op(1, 2, "c")];
        store.append(&batch, 1234).unwrap();
        store.append(&[op(2, 0, "z")], 99).unwrap();
        assert_eq!(store.stats().syncs, 2);
        drop(store);

        let (_store, rec) = Store::open(&dir).unwrap();
        assert!(!rec.created);
        assert_eq!(rec.replica, replica);
        assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
        assert_eq!(
            ops_of(&rec),
            vec![op(1, 0, "ab"), op(1, 2, "c"), op(2, 0, "z")]
        );
        assert_eq!(rec.entries[0].unix_ms, 1234);
    }

    #[test]
    fn an_op_bigger_than_a_record_is_stored_in_slices_and_replays_whole() {
        let dir = temp_dir("huge");
        let (mut store, rec) = Store::open(&dir).unwrap();
        let replica = rec.replica;
        let big = "a".repeat(record::MAX_RECORD_LEN + 1000);
        store.append(&[op(1, 0, &big)], 1).unwrap();
        store.append(&[op(1, big.len() as u64, "b")], 2).unwrap();
        drop(store);
        let (_store, rec) = Store::open(&dir).unwrap();
        assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
        assert_eq!(rec.replica, replica);
        assert_eq!(rebuilt(&rec).len(), big.len() + 1);
    }

    #[test]
    fn a_cut_snapshot_retires_the_replica_id() {
        let dir = temp_dir("cutsnap");
        let (mut store, rec) = Store::open(&dir).unwrap();
        let replica = rec.replica;
        let doc = doc_of(&[op(1, 0, "hello"), op(1, 5, "world")]);
        store.compact(&doc.encode_snapshot()).unwrap();
        drop(store);
        let path = dir.join("snapshot");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();

        let (_store, rec) = Store::open(&dir).unwrap();
        assert_eq!(rec.snapshot, None, "a part of a snapshot is no use");
        assert!(rec.warnings.iter().any(|w| w.contains("damaged")));
        assert_ne!(
            rec.replica, replica,
            "ops of the lost snapshot may have been sent"
        );
        assert_eq!(
            fs::read(dir.join("snapshot.damaged")).unwrap().len(),
            bytes.len() - 3
        );
        drop(_store);
        let (_store, again) = Store::open(&dir).unwrap();
        assert_eq!(again.replica, rec.replica, "retired once");
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    }

    #[test]
    fn the_membership_survives_a_restart_and_a_damaged_one_is_reported_not_used() {
        let dir = temp_dir("members");
        {
            let (mut store, rec) = Store::open(&dir).unwrap();
            assert_eq!(rec.membership, None);
            store.save_membership(b"first").unwrap();
            store.save_membership(b"second").unwrap();
        }
        let (store, rec) = Store::open(&dir).unwrap();
        assert_eq!(rec.membership.as_deref(), Some(&b"second"[..]));
        assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
        drop(store);
        let path = dir.join("members");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let (_store, rec) = Store::open(&dir).unwrap();
        assert_eq!(rec.membership, None);
        assert!(
            rec.warnings
                .iter()
                .any(|w| w.contains("members") && w.contains("damaged")),
            "{:?}",
            rec.warnings
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn second_process_is_locked_out() {
        let dir = temp_dir("lock");
        let (_store, _) = Store::open(&dir).unwrap();
        assert!(matches!(Store::open(&dir), Err(StoreError::Locked { .. })));
    }

    #[test]
    fn deleting_the_lock_file_does_not_unlock_the_directory() {
        let dir = temp_dir("lock-deleted");
        let (_store, _) = Store::open(&dir).unwrap();
        let _ = fs::remove_file(dir.join("lock"));
        assert!(matches!(Store::open(&dir), Err(StoreError::Locked { .. })));
    }

    #[test]
    fn stale_temporaries_of_a_killed_run_are_removed_at_start() {
        let dir = temp_dir("stale-temp");
        drop(Store::open(&dir).unwrap());
        let stale = [".snapshot.tmp.4242", ".log.tmp.00ab12cd", ".epoch.tmp.7"];
        for name in stale {
            fs::write(dir.join(name), vec![7u8; 1000]).unwrap();
        }
        // Not ours: kept.
        fs::write(dir.join(".notes.tmp.1"), b"x").unwrap();
        let (_store, rec) = Store::open(&dir).unwrap();
        for name in stale {
            assert!(!dir.join(name).exists(), "{name} left behind");
        }
        assert!(dir.join(".notes.tmp.1").exists());
        assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
    }

    #[test]
    fn torn_tail_is_truncated_with_a_warning_and_keeps_the_replica() {
        let dir = temp_dir("torn");
        let (mut store, rec) = Store::open(&dir).unwrap();
        let replica = rec.replica;
        store.append(&[op(1, 0, "hello")], 1).unwrap();
        let first_end = store.stats().log_bytes as usize;
        store.append(&[op(1, 5, "world")], 2).unwrap();
        drop(store);
        let log = dir.join("log");
        let full = fs::read(&log).unwrap();
        // Every cut inside the second record keeps exactly the first op.
        for cut in first_end + 1..full.len() {
            fs::write(&log, &full[..cut]).unwrap();
            let (mut store, rec) = Store::open(&dir).unwrap();
            assert_eq!(ops_of(&rec), vec![op(1, 0, "hello")], "cut at {cut}");
            assert_eq!(rec.warnings.len(), 1, "{:?}", rec.warnings);
            assert!(rec.warnings[0].contains("torn tail"));
            assert_eq!(rec.replica, replica, "a torn append was never sent");
            assert_eq!(fs::metadata(&log).unwrap().len(), first_end as u64);
            // Appending after the repair gives a clean log.
            store.append(&[op(1, 5, "again")], 3).unwrap();
            drop(store);
            let (_s, rec) = Store::open(&dir).unwrap();
            assert!(rec.warnings.is_empty());
            assert_eq!(ops_of(&rec), vec![op(1, 0, "hello"), op(1, 5, "again")]);
            drop(_s);
            fs::write(&log, &full).unwrap();
        }
    }

    #[test]
    fn flipped_byte_skips_the_record_and_retires_the_replica_id() {
        let dir = temp_dir("flip");
        let (mut store, rec) = Store::open(&dir).unwrap();
        let replica = rec.replica;
        store.append(&[op(1, 0, "hello")], 1).unwrap();
        let first_end = store.stats().log_bytes as usize;
        store.append(&[op(1, 5, "world")], 2).unwrap();
        store.append(&[op(1, 10, "again")], 3).unwrap();
        drop(store);
        let log = dir.join("log");
        let mut bytes = fs::read(&log).unwrap();
        bytes[first_end + 10] ^= 1; // inside the second record
        fs::write(&log, &bytes).unwrap();

        let (_store, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 0, "hello"), op(1, 10, "again")]);
        assert_ne!(rec.replica, replica);
        assert!(rec.warnings.iter().any(|w| w.contains("damaged record")));
        assert!(rec
            .warnings
            .iter()
            .any(|w| w.contains("replica id changed")));
        drop(_store);
        let (_store, again) = Store::open(&dir).unwrap();
        assert_eq!(again.replica, rec.replica, "the new id is kept");
        assert!(again.warnings.is_empty());
    }

    /// The bytes of the log after `n` appends of one op each, and the
    /// offsets where each record starts.
    fn log_of_three(dir: &Path) -> (ReplicaId, Vec<usize>) {
        let (mut store, rec) = Store::open(dir).unwrap();
        let mut starts = Vec::new();
        for (i, text) in ["hello", "world", "again"].iter().enumerate() {
            starts.push(store.stats().log_bytes as usize);
            store
                .append(&[op(1, i as u64 * 5, text)], i as u64)
                .unwrap();
        }
        (rec.replica, starts)
    }

    #[test]
    fn a_flipped_bit_in_the_first_record_keeps_the_later_ones_and_retires_once() {
        let dir = temp_dir("flip-first");
        let (replica, starts) = log_of_three(&dir);
        let log = dir.join("log");
        let mut bytes = fs::read(&log).unwrap();
        bytes[starts[0] + 12] ^= 1; // inside the first payload
        fs::write(&log, &bytes).unwrap();

        let (store, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 5, "world"), op(1, 10, "again")]);
        assert_ne!(rec.replica, replica, "the lost op may have been sent");
        assert!(rec.warnings.iter().any(|w| w.contains("damaged")));
        assert!(rec.warnings.iter().any(|w| w.contains("log.damaged")));
        assert_eq!(fs::read(dir.join("log.damaged")).unwrap(), bytes);
        drop(store);

        let (_store, again) = Store::open(&dir).unwrap();
        assert_eq!(
            again.replica, rec.replica,
            "retired once, not at every start"
        );
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        assert_eq!(ops_of(&again), ops_of(&rec));
    }

    #[test]
    fn a_damaged_length_is_skipped_by_finding_the_next_intact_record() {
        for flip in [0usize, 1, 3] {
            let dir = temp_dir("flip-len");
            let (_, starts) = log_of_three(&dir);
            let log = dir.join("log");
            let mut bytes = fs::read(&log).unwrap();
            bytes[starts[0] + flip] ^= 0x10; // the first record's length
            fs::write(&log, &bytes).unwrap();
            let (_store, rec) = Store::open(&dir).unwrap();
            assert_eq!(
                ops_of(&rec),
                vec![op(1, 5, "world"), op(1, 10, "again")],
                "flip in length byte {flip}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_in_the_middle_keeps_both_sides() {
        let dir = temp_dir("flip-mid");
        let (_, starts) = log_of_three(&dir);
        let log = dir.join("log");
        let mut bytes = fs::read(&log).unwrap();
        bytes[starts[1] + 10] ^= 1;
        fs::write(&log, &bytes).unwrap();
        let (_store, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 0, "hello"), op(1, 10, "again")]);
    }

    #[test]
    fn a_damaged_snapshot_is_moved_aside_the_log_kept_and_the_id_retired_once() {
        let dir = temp_dir("flip-snap");
        let (mut store, rec) = Store::open(&dir).unwrap();
        let replica = rec.replica;
        let doc = doc_of(&[op(1, 0, "hello"), op(1, 5, "world")]);
        store.compact(&doc.encode_snapshot()).unwrap();
        store.append(&[op(2, 0, "later")], 9).unwrap();
        drop(store);
        let path = dir.join("snapshot");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();

        let (store, rec) = Store::open(&dir).unwrap();
        assert_eq!(rec.snapshot, None);
        assert_eq!(ops_of(&rec), vec![op(2, 0, "later")], "the log is kept");
        assert_ne!(rec.replica, replica);
        assert!(rec.warnings.iter().any(|w| w.contains("snapshot.damaged")));
        assert_eq!(fs::read(dir.join("snapshot.damaged")).unwrap(), bytes);
        drop(store);

        let (_store, again) = Store::open(&dir).unwrap();
        assert_eq!(
            again.replica, rec.replica,
            "retired once, not at every start"
        );
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        assert_eq!(ops_of(&again), vec![op(2, 0, "later")]);
    }

    #[test]
    fn a_second_repair_keeps_the_first_damaged_copy() {
        let dir = temp_dir("flip-twice");
        let (_, starts) = log_of_three(&dir);
        let log = dir.join("log");
        let mut first = fs::read(&log).unwrap();
        first[starts[0] + 12] ^= 1;
        fs::write(&log, &first).unwrap();
        drop(Store::open(&dir).unwrap());
        let mut second = fs::read(&log).unwrap();
        let at = second.len() - 2;
        second[at] ^= 1;
        fs::write(&log, &second).unwrap();
        drop(Store::open(&dir).unwrap());
        assert_eq!(fs::read(dir.join("log.damaged")).unwrap(), first);
        assert_eq!(fs::read(dir.join("log.damaged.2")).unwrap(), second);
    }

    #[test]
    fn other_versions_and_foreign_files_are_refused_untouched() {
        let dir = temp_dir("version");
        let (mut store, _) = Store::open(&dir).unwrap();
        store.append(&[op(1, 0, "x")], 1).unwrap();
        drop(store);
        let log = dir.join("log");
        let mut bytes = fs::read(&log).unwrap();
        bytes[8] = 7;
        fs::write(&log, &bytes).unwrap();
        let err = Store::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::Version { found: 7, .. }));
        assert!(err.to_string().contains("format version 7"), "{err}");
        assert_eq!(
            fs::read(&log).unwrap(),
            bytes,
            "refused files are not rewritten"
        );

        fs::write(&log, b"some other file entirely").unwrap();
        assert!(matches!(
            Store::open(&dir),
            Err(StoreError::NotOurs { what: "log", .. })
        ));
    }

    #[test]
    fn a_checksummed_record_that_is_not_an_entry_is_damage_never_misread() {
        // As a buggy or future writer with the same format number might
        // leave it: the checksum is right, the contents are not an entry.
        let dir = temp_dir("not-an-entry");
        let (mut store, _) = Store::open(&dir).unwrap();
        store.append(&[op(1, 0, "kept")], 1).unwrap();
        let replica = store.replica();
        drop(store);
        let log = dir.join("log");
        let mut bytes = fs::read(&log).unwrap();
        let good = bytes.len();
        record::encode_record(&[0xff; 40], &mut bytes);
        fs::write(&log, &bytes).unwrap();
        let (_, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 0, "kept")]);
        assert!(
            rec.warnings.iter().any(|w| w.contains("damaged record")),
            "{:?}",
            rec.warnings
        );
        assert_ne!(rec.replica, replica, "possibly sent ops were lost: new id");
        assert_eq!(
            fs::read(&log).unwrap().len(),
            good,
            "cut at the last good record"
        );
    }

    #[test]
    fn a_damaged_replica_file_is_refused_with_its_path() {
        let dir = temp_dir("bad-replica");
        drop(Store::open(&dir).unwrap());
        fs::write(dir.join("replica"), "not hex\n").unwrap();
        let err = Store::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::BadReplica { .. }));
        assert!(err.to_string().contains("replica"), "{err}");
        assert_eq!(
            fs::read_to_string(dir.join("replica")).unwrap(),
            "not hex\n"
        );
    }

    #[test]
    fn torn_header_starts_afresh() {
        let dir = temp_dir("torn-header");
        drop(Store::open(&dir).unwrap());
        fs::write(dir.join("log"), &LOG_MAGIC[..3]).unwrap();
        let (mut store, rec) = Store::open(&dir).unwrap();
        assert!(rec.entries.is_empty());
        assert_eq!(rec.warnings.len(), 1);
        store.append(&[op(1, 0, "x")], 1).unwrap();
        drop(store);
        let (_s, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 0, "x")]);
    }

    #[test]
    fn compaction_keeps_everything_and_empties_the_log() {
        let dir = temp_dir("compact");
        let (mut store, _) = Store::open(&dir).unwrap();
        store.set_compact_min_bytes(100);
        let mut all = Vec::new();
        for i in 0..20u64 {
            let o = op(1, i * 3, "abc");
            store.append(std::slice::from_ref(&o), i).unwrap();
            all.push(o);
        }
        assert!(store.needs_compaction());
        // The driver would pass the document's snapshot here.
        store
            .compact(&doc_of(&all[..10]).encode_snapshot())
            .unwrap();
        assert!(!store.needs_compaction());
        assert_eq!(store.stats().log_bytes, HEADER_LEN as u64);
        store.append(&all[10..], 5).unwrap();
        drop(store);
        let (_s, rec) = Store::open(&dir).unwrap();
        assert!(rec.warnings.is_empty());
        assert_eq!(ops_of(&rec), all[10..]);
        assert_eq!(rebuilt(&rec).text(), doc_of(&all).text());
        assert_eq!(rebuilt(&rec).version(), doc_of(&all).version());
    }

    #[test]
    fn crash_between_snapshot_and_log_reset_replays_duplicates() {
        let dir = temp_dir("compact-crash");
        let (mut store, _) = Store::open(&dir).unwrap();
        store.append(&[op(1, 0, "abc")], 1).unwrap();
        let old_log = fs::read(dir.join("log")).unwrap();
        store
            .compact(&doc_of(&[op(1, 0, "abc")]).encode_snapshot())
            .unwrap();
        drop(store);
        // As if the process died after the snapshot rename.
        fs::write(dir.join("log"), &old_log).unwrap();
        let (_s, rec) = Store::open(&dir).unwrap();
        assert_eq!(ops_of(&rec), vec![op(1, 0, "abc")]);
        assert_eq!(rebuilt(&rec).text(), "abc");
    }
}
