//! Starting real `rumor` processes on 127.0.0.1 and scripting them through
//! standard input, for the `program*` integration tests.
//!
//! Replies are read by the protocol the program promises: body lines start
//! with two spaces, the last line of a reply is `ok ...` or `error: ...`.
//! Waits are bounded loops that poll the program (`view`, `status`) until a
//! condition holds; nothing is proven by sleeping.

#![allow(dead_code)]

pub mod netns;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

pub fn rumor_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rumor")
}

/// A reply: body lines (without their indent) and the status line.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Vec<String>,
    pub status: String,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.status == "ok" || self.status.starts_with("ok ")
    }
}

/// How to start a peer.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub name: String,
    /// Default: 127.0.0.1:0 (any free port).
    pub listen: Option<SocketAddr>,
    pub peers: Vec<SocketAddr>,
    pub data: Option<PathBuf>,
    pub extra: Vec<String>,
    /// Run the program under this command prefix (e.g. `ip netns exec NS`).
    pub prefix: Vec<String>,
    /// Pass neither --listen nor --name (the program's defaults: `rumor
    /// --join TICKET` with nothing else).
    pub bare: bool,
    /// Leave LAN discovery on. Off by default (`--no-discovery`): a peer
    /// listening on 0.0.0.0 would announce itself on the host's network,
    /// and tests only send to loopback or namespaces they made.
    pub discovery: bool,
}

impl Spec {
    pub fn new(name: &str) -> Spec {
        Spec {
            name: name.to_string(),
            ..Spec::default()
        }
    }
    pub fn peer(mut self, addr: SocketAddr) -> Spec {
        self.peers.push(addr);
        self
    }
    pub fn listen(mut self, addr: SocketAddr) -> Spec {
        self.listen = Some(addr);
        self
    }
    pub fn data(mut self, dir: &Path) -> Spec {
        self.data = Some(dir.to_path_buf());
        self
    }
    pub fn arg(mut self, a: &str) -> Spec {
        self.extra.push(a.to_string());
        self
    }
    pub fn bare(mut self) -> Spec {
        self.bare = true;
        self
    }
    /// LAN discovery on (only inside a network namespace of the test's).
    pub fn discovery(mut self) -> Spec {
        self.discovery = true;
        self
    }
    pub fn prefix(mut self, p: &[&str]) -> Spec {
        self.prefix = p.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// One running `rumor` process.
pub struct Peer {
    pub spec: Spec,
    pub addr: SocketAddr,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr_path: PathBuf,
}

impl Peer {
    /// Starts the program and asks it (`status`) which address it bound.
    pub fn start(spec: Spec, logs: &Path) -> Peer {
        let stderr_path = logs.join(format!(
            "{}.{}.stderr",
            spec.name,
            std::process::id() as u64 * 1000 + unique()
        ));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let listen = spec
            .listen
            .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let mut cmd = match spec.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(rumor_bin());
                c
            }
            None => Command::new(rumor_bin()),
        };
        if !spec.bare {
            cmd.arg("--listen").arg(listen.to_string());
            cmd.arg("--name").arg(&spec.name);
        }
        for p in &spec.peers {
            cmd.arg("--peer").arg(p.to_string());
        }
        if let Some(d) = &spec.data {
            cmd.arg("--data").arg(d);
        }
        if !spec.discovery {
            cmd.arg("--no-discovery");
        }
        cmd.args(&spec.extra);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().expect("start rumor");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut peer = Peer {
            spec,
            addr: listen,
            child,
            stdin,
            lines,
            stderr_path,
        };
        let status = peer.ok("status");
        let listen_line = status
            .iter()
            .find_map(|l| l.strip_prefix("listen"))
            .unwrap_or_else(|| panic!("no listen line in {status:?}"));
        let addr = listen_line.split_whitespace().next().unwrap();
        peer.addr = addr.parse().expect("listen address");
        peer
    }

    /// Stops this process (SIGKILL) and starts it again with the same
    /// flags and address.
    pub fn restart(&mut self, logs: &Path) {
        self.kill9();
        let spec = self.spec.clone().listen(self.addr);
        *self = Peer::start(spec, logs);
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends one line without waiting for a reply (for lines that get none).
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("process is running");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            panic!(
                "{}: cannot send {line:?}: {e}\n--- stderr ---\n{}",
                self.spec.name,
                self.stderr()
            );
        }
    }

    /// Sends one line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_line(line);
        let mut body = Vec::new();
        loop {
            match self.lines.recv_timeout(REPLY_TIMEOUT) {
                Ok(l) => match l.strip_prefix("  ") {
                    Some(b) => body.push(b.to_string()),
                    None => return Reply { body, status: l },
                },
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no reply to {line:?} in {REPLY_TIMEOUT:?}\n--- stderr ---\n{}",
                    self.spec.name,
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: exited while answering {line:?} ({:?})\n--- stderr ---\n{}",
                    self.spec.name,
                    self.child.try_wait(),
                    self.stderr()
                ),
            }
        }
    }

    /// Sends a command that must succeed; returns its body.
    pub fn ok(&mut self, line: &str) -> Vec<String> {
        let reply = self.cmd(line);
        assert!(
            reply.is_ok(),
            "{}: {line:?} failed: {}\n--- stderr ---\n{}",
            self.spec.name,
            reply.status,
            self.stderr()
        );
        reply.body
    }

    /// What `status` shows on its line named `key` (`replica`, `document`, ...).
    pub fn status_value(&mut self, key: &str) -> String {
        let status = self.ok("status");
        status
            .iter()
            .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with(' ')))
            .unwrap_or_else(|| panic!("no {key} line in {status:?}"))
            .trim()
            .to_string()
    }

    /// The document, as `view` shows it (unescaped).
    pub fn text(&mut self) -> String {
        let body = self.ok("view");
        assert_eq!(body.len(), 1, "view gives one escaped line: {body:?}");
        rumor::cli::command::unescape(&body[0]).expect("view output unescapes")
    }

    /// `save FILE` and the bytes it wrote.
    pub fn save(&mut self, path: &Path) -> Vec<u8> {
        self.ok(&format!("save {}", path.display()));
        std::fs::read(path).expect("saved file")
    }

    pub fn insert(&mut self, pos: usize, text: &str) {
        let escaped = rumor::cli::command::escape(text);
        self.ok(&format!("edit insert {pos} {escaped}"));
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin = None;
    }

    /// `exit`, then waits for the process.
    pub fn exit(&mut self) -> std::process::ExitStatus {
        let reply = self.cmd("exit");
        assert!(reply.is_ok(), "{reply:?}");
        self.stdin = None;
        self.child.wait().expect("wait")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Polls `peer`'s text until `check` accepts it or `timeout` passes.
pub fn wait_for_text(peer: &mut Peer, timeout: Duration, what: &str, check: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let text = peer.text();
        if check(&text) {
            return;
        }
        if start.elapsed() > timeout {
            panic!(
                "{}: timed out after {timeout:?} waiting for {what}; text {text:?}\n--- stderr tail\n{}",
                peer.spec.name,
                tail(&peer.stderr(), 20)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every peer shows the same text, which satisfies `check`;
/// then compares their `save` output byte for byte and returns the text.
pub fn converge(
    peers: &mut [&mut Peer],
    timeout: Duration,
    dir: &Path,
    check: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    let mut last;
    loop {
        last = peers.iter_mut().map(|p| p.text()).collect::<Vec<_>>();
        if last.windows(2).all(|w| w[0] == w[1]) && check(&last[0]) {
            break;
        }
        if start.elapsed() > timeout {
            let mut report = format!("no convergence in {timeout:?}:\n");
            for (p, t) in peers.iter_mut().zip(&last) {
                let peers_table = p.ok("peers").join("\n");
                let status = p.ok("status").join("\n");
                report.push_str(&format!(
                    "--- {} text {t:?}\n{peers_table}\n--- status\n{status}\n--- stderr tail\n{}\n",
                    p.spec.name,
                    tail(&p.stderr(), 20)
                ));
            }
            panic!("{report}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let saved: Vec<Vec<u8>> = peers
        .iter_mut()
        .map(|p| {
            let path = dir.join(format!("{}.saved.txt", p.spec.name));
            p.save(&path)
        })
        .collect();
    for (p, s) in peers.iter().zip(&saved) {
        assert_eq!(s, &saved[0], "{}'s saved file differs", p.spec.name);
    }
    assert_eq!(saved[0], last[0].as_bytes(), "save writes the text exactly");
    last.swap_remove(0)
}

/// True when this process runs as root (the tests that mount a tmpfs or
/// make network namespaces need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
