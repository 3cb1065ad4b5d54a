//! The editor protocol (teamtype's): a scripted editor talks JSON-RPC
//! through `rumor client` to a real `rumor --file`, with a second real
//! peer on 127.0.0.1 making remote edits.
//!
//! The scripted editor keeps its own buffer and the two revision counters
//! as the protocol says an editor must: it applies rumor's edit only when
//! its revision is the editor's own count, and ignores it otherwise.

mod program_support;

use std::collections::VecDeque;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use program_support::*;
use serde_json::{json, Value};

const CONVERGE: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);

fn file_spec(name: &str, file: &Path) -> Spec {
    Spec::new(name).arg("--file").arg(file.to_str().unwrap())
}

/// Peer `a` serving `name` (created with `content`) and peer `b` joined to
/// it, both holding `content`.
fn file_bound_pair(dir: &Path, name: &str, content: &str) -> (PathBuf, Peer, Peer) {
    let file = dir.join(name);
    fs::write(&file, content).unwrap();
    let mut a = Peer::start(file_spec("a", &file), dir);
    let mut b = Peer::start(Spec::new("b").peer(a.addr), dir);
    converge(&mut [&mut a, &mut b], CONVERGE, dir, |t| t == content);
    (file, a, b)
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend(body.as_bytes());
    out
}

/// Reads LSP-framed messages from `from` until it ends.
fn read_frames(mut from: impl Read + Send + 'static) -> Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let header = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = header
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|n| n.trim().parse().ok())
                    .expect("a Content-Length header from rumor");
                if buf.len() < end + 4 + len {
                    break;
                }
                let body: Vec<u8> = buf.drain(..end + 4 + len).skip(end + 4).collect();
                let value = serde_json::from_slice(&body).expect("JSON from rumor");
                if tx.send(value).is_err() {
                    return;
                }
            }
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    rx
}

/// The char offset of an LSP-style position in `text` (lines end at
/// `\n`, a `\r` before it is not content; characters are chars).
fn offset(text: &str, pos: &Value) -> usize {
    let line = pos["line"].as_u64().unwrap() as usize;
    let character = pos["character"].as_u64().unwrap() as usize;
    let chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    for _ in 0..line {
        let nl = chars[start..]
            .iter()
            .position(|&c| c == '\n')
            .expect("line in range");
        start += nl + 1;
    }
    let mut end = chars[start..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(chars.len(), |n| start + n);
    if end > start && chars[end - 1] == '\r' && end < chars.len() {
        end -= 1;
    }
    start + character.min(end - start)
}

fn apply(text: &str, delta: &Value) -> String {
    let mut edits: Vec<(usize, usize, String)> = delta
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                offset(text, &r["range"]["start"]),
                offset(text, &r["range"]["end"]),
                r["replacement"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    edits.sort_by_key(|e| e.0);
    let mut chars: Vec<char> = text.chars().collect();
    for (start, end, with) in edits.into_iter().rev() {
        chars.splice(start..end, with.chars());
    }
    chars.into_iter().collect()
}

fn range(l0: u64, c0: u64, l1: u64, c1: u64, with: &str) -> Value {
    json!({"range": {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}},
           "replacement": with})
}

/// A scripted editor behind `rumor client`.
struct Editor {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    /// Notifications read but not handled yet.
    notes: VecDeque<Value>,
    next_id: u64,
    uri: String,
    text: String,
    editor_revision: u64,
    daemon_revision: u64,
}

impl Editor {
    fn start(dir: &Path) -> Editor {
        let mut child = Command::new(rumor_bin())
            .arg("client")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rumor client");
        let messages = read_frames(child.stdout.take().unwrap());
        let stdin = child.stdin.take();
        Editor {
            child,
            stdin,
            messages,
            notes: VecDeque::new(),
            next_id: 1,
            uri: String::new(),
            text: String::new(),
            editor_revision: 0,
            daemon_revision: 0,
        }
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&frame(message)).unwrap();
        stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if m.get("id") == Some(&json!(id)) {
                return m;
            }
            self.notes.push_back(m);
        }
    }

    fn open(&mut self, path: &Path, content: &str) -> Value {
        self.uri = uri(path);
        self.text = content.to_string();
        self.editor_revision = 0;
        self.daemon_revision = 0;
        let uri = self.uri.clone();
        self.request("open", json!({"uri": uri, "content": content}))
    }

    /// The user types `delta`; returns rumor's answer.
    fn edit(&mut self, delta: Value) -> Value {
        self.text = apply(&self.text, &delta);
        self.editor_revision += 1;
        let params = json!({"uri": self.uri, "revision": self.daemon_revision, "delta": delta});
        self.request("edit", params)
    }

    /// Handles one notification as an editor must.
    fn handle(&mut self, note: Value) {
        if note["method"] == "edit"
            && note["params"]["revision"].as_u64() == Some(self.editor_revision)
        {
            self.text = apply(&self.text, &note["params"]["delta"]);
            self.daemon_revision += 1;
        }
    }

    /// Handles notifications until the buffer satisfies `check`.
    fn wait_for(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + CONVERGE;
        while !check(&self.text) {
            let note = match self.notes.pop_front() {
                Some(n) => n,
                None => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.messages.recv_timeout(left) {
                        Ok(m) => m,
                        Err(_) => panic!("{what}: the editor holds {:?}", self.text),
                    }
                }
            };
            self.handle(note);
        }
    }

    /// Handles what has arrived within `quiet` of the last message.
    fn drain(&mut self, quiet: Duration) {
        while let Some(n) = self.notes.pop_front() {
            self.handle(n);
        }
        while let Ok(m) = self.messages.recv_timeout(quiet) {
            self.handle(m);
        }
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_of(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap().to_str().unwrap();
    file.parent()
        .unwrap()
        .join(".rumor")
        .join(format!("{name}.sock"))
}

/// Polls the file until it holds `want`.
fn wait_for_file(path: &Path, want: &str) {
    let start = Instant::now();
    loop {
        let now = fs::read_to_string(path).unwrap_or_default();
        if now == want {
            return;
        }
        assert!(
            start.elapsed() <= CONVERGE,
            "{} holds {now:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn edits_go_both_ways_with_non_ascii_astral_and_multi_range_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (file, mut a, mut b) = file_bound_pair(logs, "notes.txt", "hello\nworld\n");

    let mut ed = Editor::start(tmp.path());
    // Newer teamtype plugins greet first.
    let hello = ed.request("initialize", json!({"version": "0.9"}));
    assert_eq!(hello["result"]["name"], "rumor", "{hello}");
    let reply = ed.open(&file, "hello\nworld\n");
    assert_eq!(reply["result"], "ok", "{reply}");

    // The editor types: non-ASCII and astral chars, then a delta of
    // several ranges, each on the text before it.
    let r = ed.edit(json!([range(0, 0, 0, 0, "Grüße 😀 ")]));
    assert_eq!(r["result"], "ok", "{r}");
    let r = ed.edit(json!([
        range(1, 0, 1, 5, "WORLD"),
        range(0, 8, 0, 13, "HELLO"),
        range(2, 0, 2, 0, "ünd 🎉\n")
    ]));
    assert_eq!(r["result"], "ok", "{r}");
    let want = "Grüße 😀 HELLO\nWORLD\nünd 🎉\n";
    assert_eq!(ed.text, want);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == want);
    wait_for_file(&file, want);

    // A peer's edit reaches the editor's buffer, after the astral char.
    let at = "Grüße 😀".chars().count();
    b.insert(at, "💥");
    let want = "Grüße 😀💥 HELLO\nWORLD\nünd 🎉\n";
    ed.wait_for("b's edit to reach the editor", |t| t == want);
    assert_eq!(a.text(), want);
}

#[test]
fn an_editor_with_other_content_gets_the_document_and_crlf_lines_work() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("dos.txt");
    fs::write(&file, "one\r\ntwo\r\nthree\r\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    assert_eq!(a.text(), "one\r\ntwo\r\nthree\r\n");

    let mut ed = Editor::start(tmp.path());
    // The editor's buffer is stale: rumor sends what makes it the document.
    let reply = ed.open(&file, "one\r\n");
    assert_eq!(reply["result"], "ok", "{reply}");
    ed.wait_for("the document to reach the editor", |t| {
        t == "one\r\ntwo\r\nthree\r\n"
    });
    // A character past a line's end is its end, before the \r\n.
    let r = ed.edit(json!([
        range(0, 99, 0, 99, "!"),
        range(1, 0, 2, 0, ""),
        range(2, 5, 2, 5, " 3")
    ]));
    assert_eq!(r["result"], "ok", "{r}");
    assert_eq!(ed.text, "one!\r\nthree 3\r\n");
    wait_for_text(&mut a, CONVERGE, "the editor's edit", |t| {
        t == "one!\r\nthree 3\r\n"
    });
    // A line ending typed in the editor, and a peer's edit near one.
    let r = ed.edit(json!([range(0, 4, 0, 4, "\r\nnew")]));
    assert_eq!(r["result"], "ok", "{r}");
    wait_for_text(&mut a, CONVERGE, "the new line", |t| {
        t == "one!\r\nnew\r\nthree 3\r\n"
    });
    // Between the \r and the \n of the first line.
    a.insert(5, "x");
    ed.wait_for("the edit inside a line ending", |t| {
        t == "one!\rx\nnew\r\nthree 3\r\n"
    });
}

#[test]
fn a_buffer_without_cr_sees_a_crlf_document_without_it_and_its_line_breaks_become_crlf() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (file, mut a, mut b) = file_bound_pair(logs, "dos.txt", "one\r\ntwo\r\n");

    // Neovim reads a CRLF file as lines without \r and opens it so: the
    // same text, nothing to send.
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "one\ntwo\n")["result"], "ok");
    ed.drain(Duration::from_millis(300));
    assert_eq!(ed.text, "one\ntwo\n");

    // Enter typed after "one", then the line after joined to it.
    let r = ed.edit(json!([range(0, 3, 0, 3, "\nnew")]));
    assert_eq!(r["result"], "ok", "{r}");
    wait_for_text(&mut b, CONVERGE, "the typed line", |t| {
        t == "one\r\nnew\r\ntwo\r\n"
    });
    let r = ed.edit(json!([range(1, 3, 2, 0, " ")]));
    assert_eq!(r["result"], "ok", "{r}");
    let want = "one\r\nnew two\r\n";
    wait_for_text(&mut b, CONVERGE, "the joined line", |t| t == want);
    wait_for_file(&file, want);

    // A peer's CRLF lines reach the editor without \r, positions right.
    b.insert(3, "!\r\nfrom b");
    ed.wait_for("b's line", |t| t == "one!\nfrom b\nnew two\n");

    // An edit at a stale revision, crossing a peer's edit after a CRLF.
    let stale = ed.daemon_revision;
    b.insert("one!\r\nfrom b\r\n".chars().count(), ">");
    wait_for_text(&mut a, CONVERGE, "b's '>'", |t| t.contains('>'));
    ed.text = apply(&ed.text, &json!([range(0, 0, 1, 0, "")]));
    ed.editor_revision += 1;
    let uri = ed.uri.clone();
    let r = ed.request(
        "edit",
        json!({"uri": uri, "revision": stale, "delta": [range(0, 0, 1, 0, "")]}),
    );
    assert_eq!(r["result"], "ok", "{r}");
    let want = "from b\r\n>new two\r\n";
    wait_for_text(&mut b, CONVERGE, "both edits", |t| t == want);
    ed.wait_for("b's '>' moved past the deleted line", |t| {
        t == "from b\n>new two\n"
    });

    // A lone \r typed at a line's end is content: the document gets
    // `\r\r\n`, still a line ending for the editor, which keeps its \r.
    let r = ed.edit(json!([range(0, 6, 0, 6, "\r")]));
    assert_eq!(r["result"], "ok", "{r}");
    wait_for_text(&mut b, CONVERGE, "the lone \\r", |t| {
        t == "from b\r\r\n>new two\r\n"
    });
    ed.drain(Duration::from_millis(300));
    assert_eq!(ed.text, "from b\r\n>new two\n");
}

#[test]
fn an_editor_edit_racing_a_remote_edit_at_the_same_revision_both_survive_once() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (file, mut a, mut b) = file_bound_pair(logs, "race.txt", "abc\n");

    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "abc\n")["result"], "ok");
    for round in 0..5 {
        // The remote edit reaches rumor (and is sent to the editor), but
        // the editor has not read it when it makes its own edit.
        let remote = format!("R{round}");
        b.insert(0, &remote);
        wait_for_text(&mut a, CONVERGE, "the remote edit at a", |t| {
            t.contains(&remote)
        });
        let line_end = ed.text.lines().next().unwrap().chars().count() as u64;
        let mine = format!("E{round}");
        let r = ed.edit(json!([range(0, line_end, 0, line_end, &mine)]));
        assert_eq!(r["result"], "ok", "{r}");
        let doc = wait_until_stable(&mut a);
        ed.wait_for("the editor to match the document", |t| t == doc);
        assert_eq!(doc.matches(&remote).count(), 1, "{doc:?}");
        assert_eq!(doc.matches(&mine).count(), 1, "{doc:?}");
    }
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == ed.text.as_str()
    });
}

/// The document once two reads in a row agree.
fn wait_until_stable(peer: &mut Peer) -> String {
    let mut last = peer.text();
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = peer.text();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn garbage_and_truncated_frames_never_stop_rumor() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("g.txt");
    fs::write(&file, "keep me\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let socket = socket_of(&file);
    assert!(socket.exists(), "no socket at {}", socket.display());

    let read_all = |mut s: UnixStream| {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    };
    // Not framed at all: an error, then the connection is closed.
    let mut s = UnixStream::connect(&socket).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff")
        .unwrap();
    let got = read_all(s);
    assert!(got.contains("-32700"), "{got:?}");
    // Framed, but not JSON, not an object, not a method, bad params.
    let mut s = UnixStream::connect(&socket).unwrap();
    let mut bytes = b"Content-Length: 5\r\n\r\n{{{{{".to_vec();
    bytes.extend(frame(&json!([1, 2])));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 7, "method": "fly"})));
    bytes.extend(frame(
        &json!({"jsonrpc": "2.0", "id": 8, "method": "edit", "params": {"uri": 3}}),
    ));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 9, "method": "edit",
        "params": {"uri": uri(&file), "revision": 0, "delta": []}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 10, "method": "open",
        "params": {"uri": uri(&file), "content": "keep me\n"}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 11, "method": "edit",
        "params": {"uri": uri(&file), "revision": 99, "delta": []}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 12, "method": "edit",
        "params": {"uri": uri(&file), "revision": 0,
                   "delta": [range(0, 1, 0, 0, "x")]}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 13, "method": "edit",
        "params": {"uri": uri(&file), "revision": 0,
                   "delta": [range(5, 0, 5, 0, "x")]}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 14, "method": "edit",
        "params": {"uri": uri(&file), "revision": 0,
                   "delta": [range(0, 0, 0, 3, "x"), range(0, 2, 0, 4, "y")]}})));
    bytes.extend(frame(&json!({"jsonrpc": "2.0", "id": 15, "method": "edit",
        "params": {"uri": uri(&file), "revision": 0,
                   "delta": [{"range": {"start": {"line": -1, "character": 0}}}]}})));
    // A truncated frame, then the end.
    bytes.extend(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"");
    s.write_all(&bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let got = read_all(s);
    for code in ["-32700", "-32600", "-32601", "-32602"] {
        assert!(got.contains(code), "no {code} in {got:?}");
    }
    for id in 7..=15 {
        assert!(
            got.contains(&format!("\"id\":{id}")),
            "no answer to {id}: {got:?}"
        );
    }
    // Still running, the document untouched, and a new editor works.
    assert!(a.is_running());
    assert_eq!(a.text(), "keep me\n");
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "keep me\n")["result"], "ok");
    assert_eq!(ed.edit(json!([range(0, 0, 0, 0, "!")]))["result"], "ok");
    wait_for_text(&mut a, CONVERGE, "the edit", |t| t == "!keep me\n");
    // A file that is not shared is refused.
    let other = tmp.path().join("other.txt");
    fs::write(&other, "x").unwrap();
    let r = ed.request("open", json!({"uri": uri(&other), "content": "x"}));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not shared"),
        "{r}"
    );
}

#[test]
fn a_client_that_disconnects_without_close_gives_the_file_back() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("own.txt");
    fs::write(&file, "base\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "base\n")["result"], "ok");

    // While the editor has it open, an outside save is not merged: the
    // file gets the document back.
    fs::write(&file, "outside\n").unwrap();
    wait_for_file(&file, "base\n");
    assert_eq!(a.text(), "base\n");
    assert!(a.stderr().contains("not merged"), "{}", a.stderr());

    // The editor goes away without `close`.
    ed.drain(Duration::from_millis(50));
    drop(ed);
    thread::sleep(Duration::from_millis(300));
    assert!(a.is_running());
    // The file is rumor's again: an outside save is merged.
    fs::write(&file, "base\nmerged\n").unwrap();
    wait_for_text(&mut a, CONVERGE, "the outside save", |t| {
        t == "base\nmerged\n"
    });
}

#[test]
fn rumor_client_without_a_running_rumor_says_so_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |dir: &Path| {
        Command::new(rumor_bin())
            .arg("client")
            .current_dir(dir)
            .env_remove("RUMOR_SOCKET")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(tmp.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(".rumor"),
        "{out:?}"
    );
    // A stale socket left by a rumor that is gone.
    fs::create_dir(tmp.path().join(".rumor")).unwrap();
    let stale = tmp.path().join(".rumor/x.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = run(tmp.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no rumor is running"),
        "{out:?}"
    );
    // And a rumor started there replaces a stale socket of its own name.
    let file = tmp.path().join("x");
    fs::write(&file, "t").unwrap();
    let mut a = Peer::start(file_spec("a", &file), tmp.path());
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "t")["result"], "ok");
    a.exit();
    assert!(!stale.exists(), "the socket is removed on exit");
}

#[test]
fn an_editors_cursor_reaches_another_peers_editor() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    fs::create_dir(&dir_a).unwrap();
    fs::create_dir(&dir_b).unwrap();
    let (file_a, file_b) = (dir_a.join("c.txt"), dir_b.join("c.txt"));
    fs::write(&file_a, "one\ntwo 😀 two\n").unwrap();
    let mut a = Peer::start(file_spec("alice", &file_a), logs);
    let mut b = Peer::start(file_spec("bob", &file_b).peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "one\ntwo 😀 two\n"
    });
    wait_for_file(&file_b, "one\ntwo 😀 two\n");

    let mut ed_a = Editor::start(&dir_a);
    assert_eq!(ed_a.open(&file_a, "one\ntwo 😀 two\n")["result"], "ok");
    let mut ed_b = Editor::start(&dir_b);
    assert_eq!(ed_b.open(&file_b, "one\ntwo 😀 two\n")["result"], "ok");
    // Alice's cursor after the astral char.
    let uri_a = uri(&file_a);
    let r = ed_a.request(
        "cursor",
        json!({"uri": uri_a, "ranges": [{"start": {"line": 1, "character": 5},
                                         "end": {"line": 1, "character": 5}}]}),
    );
    assert_eq!(r["result"], "ok", "{r}");
    let deadline = Instant::now() + CONVERGE;
    loop {
        let m = match ed_b.notes.pop_front() {
            Some(m) => m,
            None => ed_b
                .messages
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("a cursor notification at bob's editor"),
        };
        if m["method"] == "cursor" && m["params"]["name"] == "alice" {
            let p = &m["params"];
            if p["ranges"][0]["end"] == json!({"line": 1, "character": 5}) {
                assert_eq!(p["uri"], uri(&file_b));
                // A string: 64-bit ids do not survive Lua's numbers.
                let id = p["userid"].as_str().unwrap_or_else(|| panic!("{m}"));
                assert!(id.parse::<u64>().is_ok(), "{m}");
                break;
            }
        }
    }
    // A selection, made backwards: from the end of "two 😀 two" back to
    // its start. Bob's editor gets it with the cursor as the range's end.
    let r = ed_a.request(
        "cursor",
        json!({"uri": uri_a, "ranges": [{"start": {"line": 1, "character": 9},
                                         "end": {"line": 1, "character": 0}}]}),
    );
    assert_eq!(r["result"], "ok", "{r}");
    let want = json!([{"start": {"line": 1, "character": 9}, "end": {"line": 1, "character": 0}}]);
    let deadline = Instant::now() + CONVERGE;
    loop {
        let m = match ed_b.notes.pop_front() {
            Some(m) => m,
            None => ed_b
                .messages
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("alice's selection at bob's editor"),
        };
        if m["method"] == "cursor"
            && m["params"]["name"] == "alice"
            && m["params"]["ranges"] == want
        {
            break;
        }
    }
    // Two cursors at once (multi-cursor): an empty one on line 0 and a
    // selection after the astral char. Bob's editor gets both, in order.
    let two = json!([{"start": {"line": 0, "character": 1}, "end": {"line": 0, "character": 1}},
                     {"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 9}}]);
    let r = ed_a.request("cursor", json!({"uri": uri_a, "ranges": two}));
    assert_eq!(r["result"], "ok", "{r}");
    let deadline = Instant::now() + CONVERGE;
    loop {
        let m = match ed_b.notes.pop_front() {
            Some(m) => m,
            None => ed_b
                .messages
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("alice's two cursors at bob's editor"),
        };
        if m["method"] == "cursor" && m["params"]["name"] == "alice" && m["params"]["ranges"] == two
        {
            break;
        }
    }
}

#[test]
fn many_crossing_edits_from_an_editor_and_a_peer_are_all_kept_once() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (file, mut a, mut b) = file_bound_pair(logs, "busy.txt", "0123456789\n");
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&file, "0123456789\n")["result"], "ok");
    for i in 0..30u64 {
        // The editor reads nothing meanwhile: every edit of its is made
        // on a buffer that lacks the peer's latest.
        b.insert((i as usize * 7) % 11, "b");
        let first = ed.text.lines().next().unwrap().chars().count() as u64;
        let at = (i * 5) % (first + 1);
        let r = ed.edit(json!([range(0, at, 0, at, "e")]));
        assert_eq!(r["result"], "ok", "{r}");
        if i % 10 == 9 {
            ed.drain(Duration::from_millis(20));
        }
    }
    wait_for_text(&mut a, CONVERGE, "every edit at a", |t| {
        t.matches('b').count() >= 30 && t.matches('e').count() >= 30
    });
    let doc = a.text();
    ed.wait_for("the editor to match the document", |t| t == doc);
    assert_eq!(doc.matches('e').count(), 30, "{doc:?}");
    assert_eq!(doc.matches('b').count(), 30, "{doc:?}");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == doc);
    wait_for_file(&file, &doc);
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A request that is valid in shape but arbitrary in content: stale and
/// future revisions, positions past the end, reversed and overlapping
/// ranges, huge numbers, wrong types.
fn arbitrary_request(rng: &mut Rng, id: u64, uri: &str) -> Value {
    let number = |rng: &mut Rng| -> Value {
        match rng.below(6) {
            0 => json!(-1),
            1 => json!(u64::MAX),
            2 => json!(1.5),
            3 => json!("3"),
            _ => json!(rng.below(6)),
        }
    };
    let position = |rng: &mut Rng| json!({"line": number(rng), "character": number(rng)});
    let mut delta = Vec::new();
    for _ in 0..rng.below(4) {
        let text = ["", "x", "😀\r\n", "\n\n", "é"][rng.below(5) as usize];
        delta.push(
            json!({"range": {"start": position(rng), "end": position(rng)},
                          "replacement": text}),
        );
    }
    let params = match rng.below(6) {
        0 => {
            let content = ["", "a\r\nb", "zz\n"][rng.below(3) as usize];
            json!({"uri": uri, "content": content})
        }
        1 => json!({"uri": uri, "revision": number(rng), "delta": delta}),
        2 => json!({"uri": uri, "ranges": [{"start": position(rng), "end": position(rng)}]}),
        3 => json!({"uri": "file:///nowhere", "revision": 0, "delta": delta}),
        4 => json!({"uri": uri, "delta": {"revision": number(rng), "delta": delta}}),
        _ => json!(null),
    };
    let method = [
        "open",
        "edit",
        "edit",
        "edit",
        "cursor",
        "close",
        "initialize",
    ][rng.below(7) as usize];
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[test]
fn arbitrary_requests_get_answers_and_never_crash_rumor() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("h.txt");
    fs::write(&file, "one\r\ntwo 😀\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let socket = socket_of(&file);
    let file_uri = uri(&file);
    for seed in 1..=4u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut s = UnixStream::connect(&socket).unwrap();
        let mut bytes = frame(&json!({"jsonrpc": "2.0", "id": 0, "method": "open",
            "params": {"uri": file_uri, "content": "one\r\ntwo 😀\n"}}));
        for id in 1..=150 {
            bytes.extend(frame(&arbitrary_request(&mut rng, id, &file_uri)));
        }
        s.write_all(&bytes).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let answers = read_frames(std::io::Cursor::new(got));
        let mut answered = std::collections::BTreeSet::new();
        while let Ok(m) = answers.recv_timeout(Duration::from_secs(5)) {
            if let Some(id) = m.get("id").and_then(Value::as_u64) {
                answered.insert(id);
            }
        }
        assert_eq!(answered.len(), 151, "seed {seed}: every request answered");
        assert!(a.is_running(), "seed {seed}");
    }
    // The document is still one the file agrees with.
    let text = wait_until_stable(&mut a);
    wait_for_file(&file, &text);
}

#[test]
fn one_client_reaches_two_rumors_sharing_two_files_of_one_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let (f1, f2) = (tmp.path().join("one.txt"), tmp.path().join("two.txt"));
    fs::write(&f1, "first\n").unwrap();
    fs::write(&f2, "second\n").unwrap();
    let mut a = Peer::start(file_spec("a", &f1), logs);
    let mut b = Peer::start(file_spec("b", &f2), logs);
    let mut ed = Editor::start(tmp.path());
    assert_eq!(ed.open(&f2, "second\n")["result"], "ok");
    assert_eq!(ed.edit(json!([range(0, 0, 0, 0, "2:")]))["result"], "ok");
    let (uri1, uri2) = (uri(&f1), uri(&f2));
    let r = ed.request("open", json!({"uri": uri1, "content": "first\n"}));
    assert_eq!(r["result"], "ok", "{r}");
    let r = ed.request(
        "edit",
        json!({"uri": uri1, "revision": 0, "delta": [range(0, 0, 0, 0, "1:")]}),
    );
    assert_eq!(r["result"], "ok", "{r}");
    wait_for_text(&mut a, CONVERGE, "the edit of one.txt", |t| {
        t == "1:first\n"
    });
    wait_for_text(&mut b, CONVERGE, "the edit of two.txt", |t| {
        t == "2:second\n"
    });
    // A file neither shares.
    let r = ed.request(
        "open",
        json!({"uri": uri(&tmp.path().join("three.txt")), "content": ""}),
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not shared"),
        "{r}"
    );
    assert_eq!(uri2, ed.uri);
}
