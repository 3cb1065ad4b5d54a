//! `rumor client`: the bridge an editor plugin starts. It copies the
//! editor's JSON-RPC (LSP framing) from standard input to the socket of
//! the running `rumor` that shares a file here, and back to standard
//! output; the protocol itself is served by that rumor (`net::editor`).
//!
//! The socket is found by walking up from the current directory to the
//! first `.rumor/` directory and taking a `*.sock` in it that a rumor
//! answers on (`RUMOR_SOCKET` names one directly).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the bridge until either side closes.
pub fn run() -> ExitCode {
    let stream = match connect() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rumor client: {e}");
            return ExitCode::from(1);
        }
    };
    let Ok(mut to_rumor) = stream.try_clone() else {
        eprintln!("rumor client: cannot use the socket");
        return ExitCode::from(1);
    };
    std::thread::spawn(move || {
        let _ = copy(&mut io::stdin().lock(), &mut to_rumor);
        // The editor is done: rumor sees the end and forgets it.
        let _ = to_rumor.shutdown(std::net::Shutdown::Write);
    });
    let mut from_rumor = stream;
    match copy(&mut from_rumor, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumor client: {e}");
            ExitCode::from(1)
        }
    }
}

/// Copies until the end of `from`, flushing after every read.
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

fn connect() -> Result<UnixStream, String> {
    if let Some(path) = std::env::var_os("RUMOR_SOCKET") {
        let path = PathBuf::from(path);
        return UnixStream::connect(&path)
            .map_err(|e| format!("no rumor answers on {} (RUMOR_SOCKET): {e}", path.display()));
    }
    let here = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let dir = find_rumor_dir(&here).ok_or_else(|| {
        format!(
            "no .rumor directory in {} or above: start `rumor --file PATH` for a file here first",
            here.display()
        )
    })?;
    let mut sockets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    sockets.sort();
    for socket in &sockets {
        if let Ok(stream) = UnixStream::connect(socket) {
            return Ok(stream);
        }
    }
    Err(format!(
        "no rumor is running for the files in {} (start `rumor --file PATH` there)",
        dir.display()
    ))
}

/// The first `.rumor` directory in `from` or above.
fn find_rumor_dir(from: &Path) -> Option<PathBuf> {
    from.ancestors()
        .map(|d| d.join(".rumor"))
        .find(|d| d.is_dir())
}
