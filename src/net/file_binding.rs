//! `--file PATH`: the document bound to a plain text file.
//!
//! - At start, the file is checked (a regular file of UTF-8 text, at most
//!   [`MAX_FILE_BYTES`], that rumor can read and replace) and then:
//!   a replica whose document is empty takes the file's text as its first
//!   edit; a replica with a document and a record of what it last wrote
//!   (`bound-text` in the data directory) merges what another program
//!   changed in the file meanwhile (see `text_merge`); a newcomer waits for
//!   the group's text and, if the file held different text, keeps it beside
//!   it (`PATH.orig`, never over an existing one) before writing the
//!   group's text. A document that differs from a file it has no record of
//!   is handled as a newcomer's: the file's text is kept aside.
//! - While rumor runs, the file is rewritten (temporary file, fsync,
//!   rename: `store::write_atomic`) at most [`WRITE_DELAY`] after any
//!   change, local or remote, and at exit.
//! - Another program's save is noticed through the directory's change
//!   notifications (`notify`; editors and `sed -i` replace the file by a
//!   rename, so the directory is watched, not the file), with a cheap poll
//!   ([`POLL_EVERY`]: size, times, inode; now and then the content) for
//!   when notifications are unavailable or missed. The new text is merged
//!   as the few edits that turn the old text into it, so peers get only
//!   that change. What rumor wrote itself is told apart by content: the
//!   text last written or read is kept, and a file that holds it is not
//!   changed.
//! - Before a write, the file is looked at first: an outside save not yet
//!   merged is merged, never overwritten.
//! - A file that goes bad while bound (not text, too big, unreadable) gets
//!   a notice; the document is kept, the file is left alone until it holds
//!   text again. A removed file is written again.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Waker;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::text_merge::{self, Hunk};
use super::{unix_ms_now, Driver, StartError};
use crate::doc::VersionVector;
use crate::node::Time;
use crate::store::{self, check_replaceable, write_atomic, BOUND_TEXT};

/// Largest file rumor binds.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Longest wait between a change of the document and its write.
pub const WRITE_DELAY: Duration = Duration::from_millis(250);
/// How often the file's metadata is looked at, notifications or not.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// Every this many polls the content is compared too (for file systems
/// whose times are too coarse to show a quick second save).
const CONTENT_POLL: u64 = 10;
/// Files up to this size get the content poll.
const CONTENT_POLL_MAX_BYTES: u64 = 4 << 20;
/// After a notification, wait this long without another before reading
/// (a program writing in place may take several writes) ...
const QUIET: Duration = Duration::from_millis(50);
/// ... but no longer than this after the first.
const QUIET_MAX: Duration = Duration::from_millis(500);
/// Effort spent diffing before settling for a coarser diff.
const DIFF_BUDGET: Duration = Duration::from_millis(500);

/// What can be told about the binding (for `status`).
#[derive(Debug, Clone)]
pub struct FileStatus {
    pub path: PathBuf,
    /// Waiting for the group's text (a newcomer) before touching the file.
    pub joining: bool,
    /// The file cannot be used now (the document is kept).
    pub problem: Option<String>,
    /// When rumor last wrote the file (Unix ms), this run.
    pub last_written_unix_ms: Option<u64>,
    /// When the file was last modified, by anyone (Unix ms).
    pub modified_unix_ms: Option<u64>,
    /// Outside changes merged into the document, this run.
    pub merges: u64,
    /// Change notifications work (else only the poll notices changes).
    pub watching: bool,
}

/// What the file looked like: enough to notice most changes without
/// reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    changed: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: (meta.dev(), meta.ino()),
        #[cfg(unix)]
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The file's text; `None` when there is no such file.
pub fn read_text(path: &Path) -> Result<Option<String>, String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    if meta.is_dir() {
        return Err("is a directory, not a text file".into());
    }
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let too_big = |len: u64| {
        format!(
            "is {:.1} MiB; rumor binds text files of at most {} MiB",
            len as f64 / (1 << 20) as f64,
            MAX_FILE_BYTES >> 20
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let read = File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {e}")),
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map(Some).map_err(|e| {
        format!(
            "is not UTF-8 text (an invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Whether `path` can be bound: what [`read_text`] accepts (or no file
/// yet), and a file rumor can replace. The reason when not.
pub fn check_bindable(path: &Path) -> Result<(), String> {
    let exists = read_text(path)?.is_some();
    if exists {
        // Opening to append writes nothing: it only asks for permission.
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot be written: {e}"))?;
    }
    check_replaceable(path).map_err(|e| {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
            _ => ".".into(),
        };
        format!("cannot be replaced safely (no temporary file can be made in {dir}: {e})")
    })
}

/// The data directory used for `--file PATH` without `--data`:
/// `.rumor/NAME/` beside the file.
pub fn default_data_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("file"));
    dir.join(".rumor").join(name)
}

/// Copies `text` beside `path` as `PATH.orig` (or `PATH.orig.2`, ...:
/// never over an existing file), durably. Returns the name used.
pub fn keep_aside(path: &Path, text: &str) -> io::Result<PathBuf> {
    let mut last = None;
    for n in 1..1000 {
        let mut name = path.as_os_str().to_owned();
        name.push(".orig");
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let aside = PathBuf::from(name);
        match OpenOptions::new().write(true).create_new(true).open(&aside) {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                if let Some(dir) = aside.parent().filter(|d| !d.as_os_str().is_empty()) {
                    store::sync_dir(dir)?;
                }
                return Ok(aside);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free name")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// A newcomer waiting for the group's text.
    Joining,
    Bound,
    /// The file cannot be used (why); nothing is written until it can.
    Problem(String),
}

/// The binding's state, owned by the driver.
pub struct FileBinding {
    path: PathBuf,
    /// Where the text last written is recorded (in the data directory).
    record: Option<PathBuf>,
    state: State,
    /// What the file is known to hold: last written or read.
    base: String,
    /// The file's stamp when `base` was written or read.
    stamp: Option<Stamp>,
    /// The document version whose text is `base` (`None`: to be written).
    written: Option<VersionVector>,
    write_due: Option<Time>,
    check_due: Option<Time>,
    first_event: Option<Time>,
    /// The next check reads the file even if its stamp did not move.
    forced: bool,
    poll_due: Time,
    polls: u64,
    /// Names in the watched directories that are this file.
    names: Vec<OsString>,
    watcher: Option<RecommendedWatcher>,
    events: Receiver<notify::Result<notify::Event>>,
    last_write_error: Option<String>,
    last_written_unix_ms: Option<u64>,
    merges: u64,
}

impl FileBinding {
    fn new(path: PathBuf, record: Option<PathBuf>, waker: Arc<Waker>, now: Time) -> FileBinding {
        let mut names = Vec::new();
        let mut dirs = Vec::new();
        let mut add = |p: &Path| {
            if let Some(name) = p.file_name() {
                names.push(name.to_owned());
            }
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        };
        add(&path);
        // A symbolic link: its target is what gets replaced.
        if let Ok(target) = fs::canonicalize(&path) {
            add(&target);
        }
        let (tx, events) = mpsc::channel();
        let watcher = notify::recommended_watcher(move |event| {
            if tx.send(event).is_ok() {
                let _ = waker.wake();
            }
        })
        .ok()
        .and_then(|mut w| {
            for dir in &dirs {
                w.watch(dir, RecursiveMode::NonRecursive).ok()?;
            }
            Some(w)
        });
        FileBinding {
            path,
            record,
            state: State::Bound,
            base: String::new(),
            stamp: None,
            written: None,
            write_due: None,
            check_due: None,
            first_event: None,
            forced: false,
            poll_due: now + POLL_EVERY,
            polls: 0,
            names,
            watcher,
            events,
            last_write_error: None,
            last_written_unix_ms: None,
            merges: 0,
        }
    }

    pub fn status(&self) -> FileStatus {
        FileStatus {
            path: self.path.clone(),
            joining: self.state == State::Joining,
            problem: match &self.state {
                State::Problem(p) => Some(p.clone()),
                _ => self.last_write_error.clone(),
            },
            last_written_unix_ms: self.last_written_unix_ms,
            modified_unix_ms: fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            merges: self.merges,
            watching: self.watcher.is_some(),
        }
    }

    /// When the binding wants the loop back at the latest.
    fn next_due(&self) -> Option<Time> {
        [Some(self.poll_due), self.check_due, self.write_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Takes in the change notifications; true when one concerns the file.
    fn drain_events(&mut self) -> bool {
        let mut ours = false;
        while let Ok(event) = self.events.try_recv() {
            let Ok(event) = event else {
                // An overflow or a watch error: look at the file.
                ours = true;
                continue;
            };
            let relevant_kind = match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                EventKind::Access(_) => false,
                _ => true,
            };
            if relevant_kind
                && (event.paths.is_empty()
                    || event.paths.iter().any(|p| {
                        p.file_name()
                            .is_some_and(|n| self.names.iter().any(|m| m == n))
                    }))
            {
                ours = true;
            }
        }
        ours
    }
}

fn diff_deadline() -> Option<Instant> {
    Some(Instant::now() + DIFF_BUDGET)
}

impl Driver {
    /// Binds the document to `path` (see the module docs). Called once the
    /// host has booted. The file was checked by [`check_bindable`] or is
    /// checked here.
    pub(super) fn bind_file(&mut self, path: PathBuf) -> Result<(), StartError> {
        check_bindable(&path).map_err(|e| StartError::File(format!("{}: {e}", path.display())))?;
        let record = self.host.store().map(|s| s.dir().join(BOUND_TEXT));
        let now = self.now();
        let mut binding = FileBinding::new(path, record, self.waker(), now);
        if !self.host.node().is_joined() {
            binding.state = State::Joining;
            self.file = Some(binding);
            return Ok(());
        }
        let file = read_text(&binding.path)
            .map_err(|e| StartError::File(format!("{}: {e}", binding.path.display())))?;
        self.take_in_file(&mut binding, file, false);
        self.file = Some(binding);
        self.tend_file();
        Ok(())
    }

    /// Brings the document and the file together once the document is the
    /// group's (at start, or when a newcomer has joined): what was changed
    /// in the file while rumor was stopped is merged; a founder's empty
    /// document takes the file's text (never a `newcomer`'s: it gets the
    /// group's); other text in the file is kept aside.
    fn take_in_file(&mut self, binding: &mut FileBinding, file: Option<String>, newcomer: bool) {
        binding.stamp = stamp(&binding.path);
        let ours = self.host.node().doc().text();
        let recorded = binding
            .record
            .as_deref()
            .and_then(|r| fs::read_to_string(r).ok());
        let shown = binding.path.display().to_string();
        match file {
            None => self.host.push_notice(format!(
                "{shown} does not exist: writing the document to it"
            )),
            Some(text) if text == ours => {
                binding.base = text;
                binding.written = Some(self.host.node().doc().version());
                if recorded.as_deref() != Some(binding.base.as_str()) {
                    self.record_base(binding);
                }
            }
            Some(text) if recorded.is_some() || (ours.is_empty() && !newcomer) => {
                // Changed while rumor was not running (or a first import:
                // an empty document merges the file's text whole).
                let base = recorded.unwrap_or_default();
                let first = ours.is_empty() && base.is_empty();
                let hunks = text_merge::merge(&base, &ours, &text, diff_deadline());
                binding.base = text;
                let made = self.apply_hunks(&hunks);
                let (ins, del) = text_merge::size(&hunks);
                // No hunks: the file is as rumor last saw it (the document
                // moved on, and is written below).
                let notice = match (made, first) {
                    (Ok(()), _) if hunks.is_empty() => None,
                    (Err(e), _) => Some(format!("cannot take in the text of {shown}: {e}")),
                    (Ok(()), true) => Some(format!(
                        "took the text of {shown} as the document ({ins} chars)"
                    )),
                    (Ok(()), false) => Some(format!(
                        "merged what was changed in {shown} while rumor was not running \
                         (+{ins} -{del} chars)"
                    )),
                };
                if let Some(notice) = notice {
                    self.host.push_notice(notice);
                }
                if self.host.node().doc().text() == binding.base {
                    binding.written = Some(self.host.node().doc().version());
                }
                self.record_base(binding);
            }
            // An empty file has nothing to keep.
            Some(text) if text.is_empty() => binding.base = text,
            Some(text) => self.keep_file_aside(binding, text),
        }
    }

    /// Keeps the file's text aside (it differs from the document and
    /// cannot be merged); the document is then written to the file.
    fn keep_file_aside(&mut self, binding: &mut FileBinding, text: String) {
        let shown = binding.path.display().to_string();
        match keep_aside(&binding.path, &text) {
            Ok(aside) => {
                self.host.push_notice(format!(
                    "{shown} held other text than the group's document: it is kept in {}, \
                     and {shown} now holds the document",
                    aside.display()
                ));
                binding.base = text;
                binding.written = None;
            }
            Err(e) => {
                let problem = format!(
                    "holds other text than the document, and it cannot be kept aside ({e}): \
                     the file is left alone"
                );
                self.host.push_notice(format!("{shown} {problem}"));
                binding.state = State::Problem(problem);
            }
        }
    }

    /// Makes `hunks` (on the document's current text) as local edits.
    pub(super) fn apply_hunks(&mut self, hunks: &[Hunk]) -> Result<(), String> {
        if hunks.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let mut result = Ok(());
        for edit in text_merge::edits(hunks) {
            if let Err(e) = self.host.node_mut().edit(now, edit) {
                result = Err(e.to_string());
                break;
            }
        }
        self.file_edits += 1;
        self.settle();
        result
    }

    /// The loop's turn for the file: notifications, the poll, merges and
    /// writes that are due. Returns when it wants the loop back.
    pub(super) fn tend_file(&mut self) -> Option<Time> {
        let mut binding = self.file.take()?;
        let now = self.now();
        if binding.state == State::Joining {
            binding.drain_events();
            if self.host.node().is_joined() {
                binding.state = State::Bound;
                match read_text(&binding.path) {
                    Ok(file) => self.take_in_file(&mut binding, file, true),
                    Err(e) => self.file_problem(&mut binding, e),
                }
            }
        }
        if binding.drain_events() && binding.state != State::Joining {
            let first = *binding.first_event.get_or_insert(now);
            binding.check_due = Some((now + QUIET).min(first + QUIET_MAX));
        }
        if now >= binding.poll_due && binding.state != State::Joining {
            binding.poll_due = now + POLL_EVERY;
            binding.polls += 1;
            let current = stamp(&binding.path);
            if current != binding.stamp {
                binding.check_due = Some(now);
            } else if binding.polls % CONTENT_POLL == 0
                && current.is_some_and(|s| s.len <= CONTENT_POLL_MAX_BYTES)
            {
                // Same size and times: read anyway now and then.
                binding.check_due = Some(now);
                binding.forced = true;
            }
        }
        let forced = binding.forced;
        if binding.check_due.is_some_and(|t| t <= now) {
            binding.forced = false;
            binding.check_due = None;
            binding.first_event = None;
            self.check_file(&mut binding, forced);
        }
        if binding.state == State::Bound
            && binding.write_due.is_none()
            && binding.written.as_ref() != Some(self.host.node().doc().version_ref())
        {
            binding.write_due = Some(now + WRITE_DELAY);
        }
        if binding.write_due.is_some_and(|t| t <= now) {
            binding.write_due = None;
            self.write_file(&mut binding);
        }
        let due = binding.next_due();
        self.file = Some(binding);
        due
    }

    /// Writes what is not written yet, now (on the way out).
    pub(super) fn flush_file(&mut self) {
        let Some(mut binding) = self.file.take() else {
            return;
        };
        if binding.state == State::Bound
            && binding.written.as_ref() != Some(self.host.node().doc().version_ref())
        {
            self.write_file(&mut binding);
        }
        self.file = Some(binding);
    }

    fn file_problem(&mut self, binding: &mut FileBinding, problem: String) {
        if binding.state != State::Problem(problem.clone()) {
            self.host.push_notice(format!(
                "{} {problem}: the document is kept, and the file is left alone \
                 until it holds text again",
                binding.path.display()
            ));
            binding.state = State::Problem(problem);
        }
    }

    /// Reads the file if it may have changed (its stamp moved, or
    /// `forced`), and merges what another program changed.
    fn check_file(&mut self, binding: &mut FileBinding, forced: bool) {
        let current = stamp(&binding.path);
        if !forced && current.is_some() && current == binding.stamp && binding.state == State::Bound
        {
            return;
        }
        let text = match read_text(&binding.path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                if binding.state == State::Bound {
                    self.host.push_notice(format!(
                        "{} was removed: writing the document to it again",
                        binding.path.display()
                    ));
                }
                binding.state = State::Bound;
                binding.written = None;
                binding.stamp = None;
                return;
            }
            Err(e) => {
                binding.stamp = current;
                self.file_problem(binding, e);
                return;
            }
        };
        if stamp(&binding.path) != current {
            // Changed while read: another program is still writing it.
            // Read it again once it is quiet.
            binding.check_due = Some(self.now() + QUIET);
            return;
        }
        if let State::Problem(_) = binding.state {
            self.host.push_notice(format!(
                "{} holds text again: merging it",
                binding.path.display()
            ));
            binding.state = State::Bound;
        }
        binding.stamp = current;
        if text == binding.base {
            return;
        }
        if self.editor_owns_file() {
            // An editor's buffer is the truth while it has the file open:
            // this save is not merged, and the file gets the document again.
            self.host.push_notice(format!(
                "{} was changed by another program while an editor has it open: \
                 the change is not merged, and the file is written over with the document",
                binding.path.display()
            ));
            binding.base = text;
            binding.written = None;
            return;
        }
        let ours = self.host.node().doc().text();
        let hunks = text_merge::merge(&binding.base, &ours, &text, diff_deadline());
        let (ins, del) = text_merge::size(&hunks);
        binding.base = text;
        match self.apply_hunks(&hunks) {
            Ok(()) if hunks.is_empty() => {}
            Ok(()) => {
                binding.merges += 1;
                self.host.push_notice(format!(
                    "merged a change to {} made by another program (+{ins} -{del} chars)",
                    binding.path.display()
                ));
            }
            Err(e) => self.host.push_notice(format!(
                "cannot merge the change to {}: {e}",
                binding.path.display()
            )),
        }
        let doc = self.host.node().doc();
        binding.written = (doc.text() == binding.base).then(|| doc.version());
        self.record_base(binding);
    }

    /// Writes the document to the file (after merging an outside change
    /// not merged yet), and records what was written.
    fn write_file(&mut self, binding: &mut FileBinding) {
        if stamp(&binding.path) != binding.stamp {
            self.check_file(binding, false);
            if binding.state == State::Bound && stamp(&binding.path) != binding.stamp {
                // Another program is writing it: never write over that;
                // merge it first, once it is quiet.
                binding.write_due = Some(self.now() + QUIET);
                return;
            }
        }
        if binding.state != State::Bound {
            return;
        }
        let version = self.host.node().doc().version();
        let text = self.host.node().doc().text();
        if text == binding.base && binding.stamp.is_some() {
            binding.written = Some(version);
            return;
        }
        let shown = binding.path.display().to_string();
        // (The notice that it did not exist stays on a status line until
        // another replaces it: say when it does.)
        let created = binding.stamp.is_none();
        if let Err(e) = write_atomic(&binding.path, text.as_bytes()) {
            let e = format!("cannot write {shown}: {e}");
            if binding.last_write_error.as_ref() != Some(&e) {
                self.host.push_notice(format!(
                    "{e}; the document is kept, and writing is tried again"
                ));
                binding.last_write_error = Some(e);
            }
            binding.write_due = Some(self.now() + POLL_EVERY * 2);
            return;
        }
        if binding.last_write_error.take().is_some() {
            self.host.push_notice(format!("{shown} is written again"));
        } else if created {
            self.host.push_notice(format!(
                "created {shown} with the document ({} chars)",
                text.chars().count()
            ));
        }
        binding.stamp = stamp(&binding.path);
        binding.base = text;
        binding.written = Some(version);
        binding.last_written_unix_ms = Some(unix_ms_now());
        // After the file: a crash between the two leaves a record older
        // than the file, and a file equal to the document, which is
        // taken as it is at the next start.
        self.record_base(binding);
    }

    /// Records `binding.base`, which the file holds now, as what rumor
    /// last saw in it: what was changed in the file while rumor was
    /// stopped is told from it at the next start.
    fn record_base(&mut self, binding: &FileBinding) {
        let Some(record) = &binding.record else {
            return;
        };
        if let Err(e) = write_atomic(record, binding.base.as_bytes()) {
            self.host.push_notice(format!(
                "cannot record what {} holds ({}: {e}): changes made to it while rumor \
                 is stopped may be taken as new",
                binding.path.display(),
                record.display()
            ));
        }
    }

    /// The bound file, if any (for `status`).
    pub fn file_status(&self) -> Option<FileStatus> {
        self.file.as_ref().map(FileBinding::status)
    }

    /// Counts the times the document was changed from the file (an editor
    /// showing the text takes it whole again when this moves: such
    /// changes come as no event).
    pub fn file_edits(&self) -> u64 {
        self.file_edits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = tmp();
        assert!(check_bindable(dir.path())
            .unwrap_err()
            .contains("is a directory"));
        let binary = dir.path().join("bin");
        fs::write(&binary, b"ok\xff\xfe").unwrap();
        let e = check_bindable(&binary).unwrap_err();
        assert!(e.contains("not UTF-8") && e.contains("offset 2"), "{e}");
        let missing = dir.path().join("new.txt");
        assert_eq!(check_bindable(&missing), Ok(()));
        assert!(!missing.exists(), "checking creates nothing");
        let nowhere = dir.path().join("no/such/dir/x.txt");
        assert!(check_bindable(&nowhere).is_err());
    }

    #[test]
    fn kept_aside_never_replaces_an_earlier_copy() {
        let dir = tmp();
        let path = dir.path().join("notes.txt");
        assert_eq!(
            keep_aside(&path, "one").unwrap(),
            dir.path().join("notes.txt.orig")
        );
        assert_eq!(
            keep_aside(&path, "two").unwrap(),
            dir.path().join("notes.txt.orig.2")
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("notes.txt.orig")).unwrap(),
            "one"
        );
    }

    #[test]
    fn the_default_data_directory_is_beside_the_file() {
        assert_eq!(
            default_data_dir(Path::new("notes.txt")),
            Path::new("./.rumor/notes.txt")
        );
        assert_eq!(
            default_data_dir(Path::new("/a/b/c.md")),
            Path::new("/a/b/.rumor/c.md")
        );
    }
}
