//! Writing a whole file so that a reader (or a crash) sees either the old
//! file or the new one, never a mix; without harm to what the name stands
//! for when it is not a plain file.
//!
//! - A symbolic link is followed: its target is written, the link stays.
//! - A device, FIFO or socket is opened and written in place (replacing
//!   `/dev/null` with a regular file would be a disaster; there is nothing
//!   to be atomic about).
//! - A regular file is replaced by a temporary file beside it, renamed over
//!   it; the temporary gets the old file's mode (and, where the OS lets us,
//!   its owner and group). Temporaries have an unpredictable name and are
//!   created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a link planted under
//!   a guessed name cannot redirect the write.
//! - For a file the user named ([`write_user_file`]): when the directory
//!   cannot take a temporary (no write permission) but the file itself can
//!   be written, it is written in place.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Marks a temporary file: `.NAME` + this + random hex digits.
pub const TEMP_INFIX: &str = ".tmp.";

/// Symbolic links followed at most, as the kernel does (`ELOOP`).
const MAX_LINKS: usize = 40;

/// Writes `bytes` to `path` as described in the module docs and makes it
/// durable (the file, and for a replacement the directory entry).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write(path, bytes, false)
}

/// [`write_atomic`] for a file the user named (`save FILE`): when the
/// directory cannot take a temporary (no write permission) but the file
/// itself can be written, it is written in place, not atomically, since
/// the user asked for the file's contents. The store never wants that.
pub fn write_user_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write(path, bytes, true)
}

/// Whether [`write_atomic`] could replace `path`: a temporary can be
/// made beside what it names (after links). The temporary is removed.
pub fn check_replaceable(path: &Path) -> io::Result<()> {
    let target = resolve_links(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let (tmp, f) = create_temp(dir, name, None)?;
    drop(f);
    fs::remove_file(&tmp)
}

fn write(path: &Path, bytes: &[u8], in_place_fallback: bool) -> io::Result<()> {
    let target = resolve_links(path)?;
    match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            if meta.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                ));
            }
            write_in_place(&target, bytes)
        }
        Ok(meta) => match replace(&target, bytes, Some(&meta)) {
            Err(e) if in_place_fallback && e.kind() == io::ErrorKind::PermissionDenied => {
                write_in_place(&target, bytes).map_err(|_| e)
            }
            r => r,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => replace(&target, bytes, None),
        Err(e) => Err(e),
    }
}

/// `path` with every symbolic link in its last component followed (the
/// target need not exist: a dangling link names the file to create).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Opening a FIFO to write waits for a reader, for ever if none comes
    // (and `save` runs on the thread that serves the network): ask first
    // without waiting, and say so if nobody reads.
    #[cfg(unix)]
    let _probe = {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        if fs::metadata(path)?.file_type().is_fifo() {
            let probe = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
            match probe {
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "a FIFO that no process is reading",
                    ))
                }
                r => Some(r?),
            }
        } else {
            None
        }
    };
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(bytes)?;
    // A device or FIFO may not support syncing; its data is already gone.
    match f.sync_all() {
        Ok(()) => Ok(()),
        Err(_) if !f.metadata()?.is_file() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a temporary beside `path` and renames it over `path`. `old` is
/// the file being replaced, whose mode and owner the new one takes.
fn replace(path: &Path, bytes: &[u8], old: Option<&fs::Metadata>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let (tmp, mut f) = create_temp(dir, name, old)?;
    let result = (|| {
        #[cfg(unix)]
        if let Some(old) = old {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            // Owner first: changing it clears set-id bits, which the mode
            // then puts back. Only root (or the owner, for a group it is
            // in) may do this; otherwise the new file is ours.
            let _ = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid()));
            f.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `.NAME.tmp.RANDOM` in `dir`, never following or reusing an
/// existing entry. Readable by the owner only until its mode is set when
/// it replaces a file; with the usual default mode otherwise.
fn create_temp(
    dir: &Path,
    name: &std::ffi::OsStr,
    old: Option<&fs::Metadata>,
) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..16 {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!("{TEMP_INFIX}{:016x}", rand::random::<u64>()));
        let tmp = dir.join(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .custom_flags(libc::O_NOFOLLOW)
                .mode(if old.is_some() { 0o600 } else { 0o666 });
        }
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// True for a name [`write_atomic`] gives its temporaries when writing
/// `of` (`.of.tmp.` then hex digits).
pub fn is_temp_of(name: &std::ffi::OsStr, of: &str) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(of))
        .and_then(|n| n.strip_prefix(TEMP_INFIX))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Makes a directory's entries (created, renamed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Opening a directory read-only and fsyncing it is how POSIX makes a
    // rename durable; elsewhere this is a harmless no-op.
    match File::open(dir) {
        Ok(d) => d.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = crate::store::tests::temp_dir("atomic");
        let path = dir.join("out.txt");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&dir), vec![OsString::from("out.txt")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");

        // A dangling link names the file to create.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.path().join("made.txt")).unwrap(), b"made");
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_file_keeps_its_mode_and_owner() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.txt");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let root = fs::metadata(&path).unwrap().uid() == 0;
        if root {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        if root {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        }
        assert_eq!(fs::read(&path).unwrap(), b"new");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        write_atomic(&path, b"newer").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o664, "not cut by the umask");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Nobody reading: an error at once, not a write that waits for ever.
        let err = write_atomic(&fifo, b"lost").unwrap_err();
        assert!(err.to_string().contains("no process is reading"), "{err}");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        // The reader may not have opened its end yet.
        while let Err(e) = write_atomic(&fifo, b"through the pipe") {
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Checked before joining: a reader of a FIFO that was replaced
        // would wait for ever.
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(
            &fs::symlink_metadata(&fifo).unwrap().file_type()
        ));
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert_eq!(names(dir.path()), vec![OsString::from("fifo")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_device_stays_a_device() {
        use std::os::unix::fs::FileTypeExt;
        // A node of the null device made for the test (root only), never
        // /dev/null itself: a broken write_atomic would replace it for
        // everyone on the machine.
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .stderr(std::process::Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            return; // not root: nothing to test
        }
        write_atomic(&null, b"gone").unwrap();
        let after = fs::symlink_metadata(&null).unwrap();
        assert!(after.file_type().is_char_device(), "{after:?}");
        assert_eq!(names(dir.path()), vec![OsString::from("null")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_under_a_guessable_temp_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("out.txt");
        fs::write(&path, b"old").unwrap();
        // The names an attacker could guess: the old scheme (pid), and
        // the prefix of the new one.
        let planted = dir
            .path()
            .join(format!(".out.txt.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, planted).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn temp_names_are_recognised() {
        assert!(is_temp_of(".snapshot.tmp.00ff".as_ref(), "snapshot"));
        assert!(!is_temp_of(".snapshot.tmp.".as_ref(), "snapshot"));
        assert!(!is_temp_of(".snapshot.tmp.xyz".as_ref(), "snapshot"));
        assert!(!is_temp_of("snapshot".as_ref(), "snapshot"));
        assert!(!is_temp_of(".log.tmp.12".as_ref(), "snapshot"));
    }
}
