//! `rumor client`: the bridge an editor plugin starts. It copies the
//! editor's JSON-RPC (LSP framing) from standard input to the socket of
//! the running `rumor` that shares a file here, and back to standard
//! output; the protocol itself is served by that rumor (`net::editor`).
//!
//! The socket is found by walking up from the current directory to the
//! first `.rumor/` directory and taking the `*.sock` in it that a rumor
//! answers on (`RUMOR_SOCKET` names one directly). When several rumors
//! answer there (several files of one directory shared), each message
//! goes to the rumor that shares the file its `uri` names (messages
//! without one, and files none shares, to the first), and their messages
//! are passed back whole.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use crate::net::editor::{self, framing};

/// Runs the bridge until either side closes.
pub fn run() -> ExitCode {
    let mut streams = match connect() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rumor client: {e}");
            return ExitCode::from(1);
        }
    };
    if streams.len() > 1 {
        return route(streams);
    }
    let Some((_, stream)) = streams.pop() else {
        return ExitCode::from(1);
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

/// Several rumors: each message to the one sharing its `uri`.
fn route(streams: Vec<(PathBuf, UnixStream)>) -> ExitCode {
    let stdout = Arc::new(Mutex::new(io::stdout()));
    let mut writers = Vec::with_capacity(streams.len());
    for (path, stream) in streams {
        let Ok(reader) = stream.try_clone() else {
            eprintln!("rumor client: cannot use {}", path.display());
            return ExitCode::from(1);
        };
        let stdout = Arc::clone(&stdout);
        std::thread::spawn(move || {
            pass_frames(reader, &stdout);
            // That rumor is gone: so is the editor's connection.
            std::process::exit(0);
        });
        writers.push((std::fs::canonicalize(&path).unwrap_or(path), stream));
    }
    let mut inbox = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let mut stdin = io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => inbox.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        loop {
            match framing::take_frame(&mut inbox) {
                Ok(Some(body)) => {
                    let at = target(&body, &writers);
                    let (_, stream) = &mut writers[at];
                    if stream.write_all(&framing::frame(&body)).is_err() {
                        return ExitCode::SUCCESS;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("rumor client: the editor sent {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    for (_, stream) in &writers {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    ExitCode::SUCCESS
}

/// Which of `writers` gets the message `body`: the rumor sharing the
/// file of its `uri`, else the first.
fn target(body: &[u8], writers: &[(PathBuf, UnixStream)]) -> usize {
    let uri = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|m| m.get("params")?.get("uri")?.as_str().map(str::to_string));
    let Some(path) = uri.and_then(|u| editor::uri_path(&u)) else {
        return 0;
    };
    let socket = editor::socket_path(&path);
    let socket = std::fs::canonicalize(&socket).unwrap_or(socket);
    writers.iter().position(|(p, _)| *p == socket).unwrap_or(0)
}

/// Copies whole frames from `from` to `to` until `from` ends.
fn pass_frames(mut from: UnixStream, to: &Mutex<io::Stdout>) {
    let mut inbox = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => inbox.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        while let Ok(Some(body)) = framing::take_frame(&mut inbox) {
            let Ok(mut out) = to.lock() else {
                return;
            };
            if out.write_all(&framing::frame(&body)).is_err() || out.flush().is_err() {
                return;
            }
        }
    }
}

/// The sockets of the running rumors to bridge to, with their paths.
fn connect() -> Result<Vec<(PathBuf, UnixStream)>, String> {
    if let Some(path) = std::env::var_os("RUMOR_SOCKET") {
        let path = PathBuf::from(path);
        return match UnixStream::connect(&path) {
            Ok(s) => Ok(vec![(path, s)]),
            Err(e) => Err(format!(
                "no rumor answers on {} (RUMOR_SOCKET): {e}",
                path.display()
            )),
        };
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
    let live: Vec<(PathBuf, UnixStream)> = sockets
        .into_iter()
        .filter_map(|p| UnixStream::connect(&p).ok().map(|s| (p, s)))
        .collect();
    if live.is_empty() {
        return Err(format!(
            "no rumor is running for the files in {} (start `rumor --file PATH` there)",
            dir.display()
        ));
    }
    Ok(live)
}

/// The first `.rumor` directory in `from` or above.
fn find_rumor_dir(from: &Path) -> Option<PathBuf> {
    from.ancestors()
        .map(|d| d.join(".rumor"))
        .find(|d| d.is_dir())
}
