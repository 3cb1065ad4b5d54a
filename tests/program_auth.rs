//! Group secrets with real processes on 127.0.0.1: only members get in,
//! a replayed or altered datagram changes nothing, and members converge
//! through loss.

mod program_support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use program_support::*;
use rand::{RngExt, SeedableRng};
use rumor::doc::ReplicaId;
use rumor::wire::{self, Frame, Header};

const CONVERGE: Duration = Duration::from_secs(30);
/// How long a refused peer is given to get an edit through anyway.
const GRACE: Duration = Duration::from_secs(3);

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new(rumor_bin())
        .arg("keygen")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    path
}

fn with_secret(name: &str, secret: &Path) -> Spec {
    Spec::new(name)
        .arg("--secret-file")
        .arg(secret.to_str().unwrap())
}

/// The `auth` line of `status`: (bad tag, replayed, unsealed, sealed).
fn auth_drops(peer: &mut Peer) -> (u64, u64, u64, u64) {
    let status = peer.ok("status");
    let line = status
        .iter()
        .find(|l| l.starts_with("auth"))
        .unwrap_or_else(|| panic!("no auth line: {status:?}"));
    let count = |label: &str| -> u64 {
        let rest = &line[line
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {line}"))
            + label.len()..];
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        count("bad tag"),
        count("replayed"),
        count("unsealed"),
        count("sealed "),
    )
}

/// Sum of every drop counter of the `drops` and `auth` lines.
fn all_drops(peer: &mut Peer) -> u64 {
    let status = peer.ok("status");
    status
        .iter()
        .filter(|l| l.starts_with("drops") || l.starts_with("auth"))
        .flat_map(|l| {
            l.split([',', ' ', ':'])
                .filter_map(|w| w.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn keygen_makes_a_private_secret_once_and_bad_secrets_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = keygen(tmp.path(), "group.secret");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("rumor-secret-v1 "), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = Command::new(rumor_bin())
        .arg("keygen")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not overwritten"
    );

    let start = |secret: &Path| {
        let out = Command::new(rumor_bin())
            .args(["--listen", "127.0.0.1:0", "--secret-file"])
            .arg(secret)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = start(&tmp.path().join("missing"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--secret-file") && err.contains("missing"),
        "{err}"
    );
    let short = tmp.path().join("short");
    std::fs::write(&short, "hunter2\n").unwrap();
    let (code, err) = start(&short);
    assert_eq!(code, Some(2));
    assert!(err.contains("too short"), "{err}");
    let damaged = tmp.path().join("damaged");
    std::fs::write(&damaged, "rumor-secret-v1 12zz\n").unwrap();
    let (code, err) = start(&damaged);
    assert_eq!(code, Some(2));
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn without_a_secret_the_program_warns_and_with_one_it_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut open = Peer::start(Spec::new("open"), tmp.path());
    let err = open.stderr();
    assert!(err.contains("WARNING") && err.contains("anyone"), "{err}");
    let secret = keygen(tmp.path(), "s");
    let mut sealed = Peer::start(with_secret("sealed", &secret), tmp.path());
    let err = sealed.stderr();
    assert!(err.contains("sealed") && !err.contains("WARNING"), "{err}");
    assert!(sealed
        .ok("status")
        .iter()
        .any(|l| l.contains("key fingerprint")));
    assert!(open.exit().success());
    assert!(sealed.exit().success());
}

#[test]
fn a_peer_with_another_secret_or_none_cannot_read_add_change_or_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let ours = keygen(logs, "ours");
    let theirs = keygen(logs, "theirs");
    let mut a = Peer::start(with_secret("a", &ours), logs);
    a.insert(0, "members only");
    let mut m = Peer::start(with_secret("m", &ours).peer(a.addr), logs);
    let mut x = Peer::start(with_secret("x", &theirs).peer(a.addr), logs);
    let mut o = Peer::start(Spec::new("o").peer(a.addr), logs);
    // a knows them too, so each side sees the other's datagrams refused.
    a.ok(&format!("add {}", x.addr));
    a.ok(&format!("add {}", o.addr));
    // A member gets the text; the others get nothing of it.
    wait_for_text(&mut m, CONVERGE, "the member's copy", |t| {
        t == "members only"
    });
    // The outsiders try to add, change and delete.
    for p in [&mut x, &mut o] {
        p.insert(0, "intruder ");
        p.ok("edit delete 0 3");
        p.insert(0, "XYZ");
        p.ok("sync");
    }
    a.ok("sync");
    thread::sleep(GRACE);
    x.ok("sync");
    o.ok("sync");
    thread::sleep(GRACE);
    assert_eq!(a.text(), "members only");
    assert_eq!(m.text(), "members only");
    assert!(!x.text().contains("members"), "x read the text");
    assert!(!o.text().contains("members"), "o read the text");
    let (bad_tag, _, unsealed, _) = auth_drops(&mut a);
    assert!(
        bad_tag > 0,
        "x's datagrams counted as failing authentication"
    );
    assert!(unsealed > 0, "o's datagrams counted as unsealed");
    // The nodes say why, in a log line on each side.
    let err = a.stderr();
    assert!(err.contains("failed authentication"), "{err}");
    assert!(err.contains("was not sealed"), "{err}");
    let (x_bad_tag, ..) = auth_drops(&mut x);
    assert!(x_bad_tag > 0);
    assert!(
        x.stderr().contains("failed authentication"),
        "{}",
        x.stderr()
    );
    assert!(
        o.stderr().contains("was sealed with a group secret"),
        "{}",
        o.stderr()
    );
    // No outsider became a live peer of a.
    let peers = a.ok("peers");
    for p in [&x, &o] {
        let port = format!(":{}", p.addr.port());
        assert!(
            !peers
                .iter()
                .any(|l| l.contains(&port) && l.contains("alive")),
            "{peers:?}"
        );
    }
    // The member still edits.
    m.insert(0, "only ");
    wait_for_text(&mut a, CONVERGE, "the member's edit", |t| {
        t == "only members only"
    });
}

/// Forwards datagrams between `a` (whoever first writes to the relay's
/// `left` socket) and `b`, recording every datagram b sends towards a.
struct Tap {
    left: SocketAddr,
    captured: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Tap {
    /// `a` talks to `left`; the relay talks to `b` from its `right` socket.
    fn start(b: SocketAddr) -> Tap {
        let left = UdpSocket::bind("127.0.0.1:0").unwrap();
        let right = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&left, &right] {
            s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        }
        let left_addr = left.local_addr().unwrap();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (cap, halt) = (Arc::clone(&captured), Arc::clone(&stop));
        let handle = thread::spawn(move || {
            let mut a: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            let deadline = Instant::now() + Duration::from_secs(120);
            while !halt.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((n, from)) = left.recv_from(&mut buf) {
                    a = Some(from);
                    let _ = right.send_to(&buf[..n], b);
                }
                if let Ok((n, _)) = right.recv_from(&mut buf) {
                    if let Some(a) = a {
                        cap.lock().unwrap().push(buf[..n].to_vec());
                        let _ = left.send_to(&buf[..n], a);
                    }
                }
            }
        });
        Tap {
            left: left_addr,
            captured,
            stop,
            handle: Some(handle),
        }
    }

    fn stop(&mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        self.captured.lock().unwrap().clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn captured_datagrams_replayed_or_altered_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let secret = keygen(logs, "s");
    let b_data = logs.join("b-data");
    let mut b = Peer::start(with_secret("b", &secret).data(&b_data), logs);
    let mut tap = Tap::start(b.addr);
    let mut a = Peer::start(with_secret("a", &secret).peer(tap.left), logs);
    b.insert(0, "hello world");
    wait_for_text(&mut a, CONVERGE, "b's insert", |t| t == "hello world");
    b.ok("edit delete 0 6");
    wait_for_text(&mut a, CONVERGE, "b's delete", |t| t == "world");
    // Let the last acks settle, then cut the relay.
    thread::sleep(Duration::from_millis(500));
    let captured = tap.stop();
    assert!(captured.len() >= 2, "captured {}", captured.len());
    assert!(
        captured.iter().all(|d| d.starts_with(&wire::SEALED_MAGIC)),
        "every datagram on the wire is sealed"
    );

    // Replayed as they were, from the relay's address and from another.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (_, replayed_before, _, _) = auth_drops(&mut a);
    for d in &captured {
        attacker.send_to(d, a.addr).unwrap();
    }
    wait_until(&mut a, "every replay counted", |a| {
        auth_drops(a).1 >= replayed_before + captured.len() as u64
    });
    assert_eq!(
        auth_drops(&mut a).1,
        replayed_before + captured.len() as u64
    );
    assert_eq!(a.text(), "world", "a replay changed the text");
    let peers = a.ok("peers");
    let port = format!(":{}", attacker.local_addr().unwrap().port());
    assert!(!peers.iter().any(|l| l.contains(&port)), "{peers:?}");

    // One bit flipped anywhere after the magic and version: refused.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let drops_before = all_drops(&mut a);
    let (bad_tag_before, ..) = auth_drops(&mut a);
    let mut flipped = 0u64;
    let mut in_tag = 0u64;
    for d in &captured {
        for _ in 0..4 {
            let mut m = d.clone();
            let i = rng.random_range(3..m.len());
            m[i] ^= 1 << rng.random_range(0..8);
            attacker.send_to(&m, a.addr).unwrap();
            flipped += 1;
            if i >= m.len() - 16 {
                in_tag += 1;
            }
        }
    }
    wait_until(&mut a, "every altered datagram counted", |a| {
        all_drops(a) >= drops_before + flipped
    });
    assert_eq!(all_drops(&mut a), drops_before + flipped);
    let (bad_tag_after, ..) = auth_drops(&mut a);
    assert!(bad_tag_after - bad_tag_before >= in_tag);
    assert_eq!(a.text(), "world", "an altered datagram changed the text");

    // b restarts with its data directory: the same replica, a new sealing
    // epoch (recorded there), so a accepts its new datagrams (they would
    // be refused as replays if the nonces started over) ...
    let read_epoch = || -> u64 {
        let text = std::fs::read_to_string(b_data.join("epoch")).unwrap();
        text.trim().parse().unwrap()
    };
    let first_epoch = read_epoch();
    b.restart(logs);
    assert!(read_epoch() > first_epoch, "a restart takes a new epoch");
    b.ok(&format!("add {}", a.addr));
    b.insert(0, "again ");
    wait_for_text(&mut a, CONVERGE, "b's edit after its restart", |t| {
        t == "again world"
    });
    // ... and b's datagrams from before the restart are still refused.
    let replayed_before = auth_drops(&mut a).1;
    for d in &captured {
        attacker.send_to(d, a.addr).unwrap();
    }
    wait_until(&mut a, "replays after a restart counted", |a| {
        auth_drops(a).1 >= replayed_before + captured.len() as u64
    });
    assert_eq!(a.text(), "again world");
}

fn wait_until(peer: &mut Peer, what: &str, mut check: impl FnMut(&mut Peer) -> bool) {
    let start = Instant::now();
    while !check(peer) {
        if start.elapsed() > CONVERGE {
            let status = peer.ok("status").join("\n");
            panic!(
                "timed out waiting for {what}\n{status}\n{}",
                tail(&peer.stderr(), 20)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn members_converge_under_heavy_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let secret = keygen(logs, "s");
    let lossy = |name: &str, seed: &str| {
        with_secret(name, &secret)
            .arg("--loss")
            .arg("0.3")
            .arg("--fault-seed")
            .arg(seed)
    };
    let mut a = Peer::start(lossy("a", "1"), logs);
    let mut b = Peer::start(lossy("b", "2").peer(a.addr), logs);
    for i in 0..10 {
        a.insert(0, &format!("a{i} "));
        b.insert(0, &format!("b{i} "));
    }
    // About 49% of datagrams survive each hop, and b, a newcomer that
    // typed, rejoins under a new id and proves itself to a again (a sealed
    // challenge round trip): that takes 20-25 s today (10-13 s before the
    // challenge), so the bound is 90 s. Convergence is the promise here;
    // how fast under loss is the loss-tail work (issue "Speed").
    let text = converge(&mut [&mut a, &mut b], Duration::from_secs(90), logs, |t| {
        (0..10).all(|i| t.contains(&format!("a{i} ")) && t.contains(&format!("b{i} ")))
    });
    assert_eq!(text.len(), 60);
    let (bad_tag, ..) = auth_drops(&mut a);
    assert_eq!(bad_tag, 0, "members never fail authentication");
}

#[test]
fn no_reply_to_a_sender_that_is_not_a_member() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = keygen(tmp.path(), "s");
    let mut a = Peer::start(with_secret("a", &secret), tmp.path());
    a.insert(0, "quiet");
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // A hello and ping in the clear, one sealed with another key, junk.
    let header = Header {
        document: 0,
        sender: ReplicaId(99),
        packet: 0,
    };
    let frames = [
        Frame::Hello {
            session: 1,
            name: "s".into(),
        },
        Frame::Ping,
    ];
    let other = rumor::wire::GroupKey::from_secret(&[1; 32]);
    let id = rumor::wire::SealId { epoch: 1, seq: 0 };
    let probes = [
        wire::encode(&header, &frames),
        wire::encode_sealed(&other, &header, id, &frames),
        vec![0u8; 40],
    ];
    for _ in 0..3 {
        for p in &probes {
            stranger.send_to(p, a.addr).unwrap();
        }
    }
    a.ok("sync");
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok((n, _)) = stranger.recv_from(&mut buf) {
            panic!("a answered a stranger with {n} bytes");
        }
    }
    assert!(!a
        .ok("peers")
        .iter()
        .any(|l| l.contains(&format!(":{}", stranger.local_addr().unwrap().port()))));
}

/// The `unproven` count of the `auth` line of `status`.
fn unproven(peer: &mut Peer) -> u64 {
    let status = peer.ok("status");
    let line = status
        .iter()
        .find(|l| l.starts_with("auth"))
        .unwrap_or_else(|| panic!("no auth line: {status:?}"));
    let rest = &line[line
        .find("unproven ")
        .unwrap_or_else(|| panic!("no unproven count in {line}"))
        + "unproven ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn replays_to_another_member_or_to_a_restarted_one_get_the_replayer_nowhere() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let secret = keygen(logs, "s");
    let mut b = Peer::start(with_secret("b", &secret), logs);
    let mut tap = Tap::start(b.addr);
    let a_data = logs.join("a-data");
    let mut a = Peer::start(with_secret("a", &secret).data(&a_data).peer(tap.left), logs);
    let mut c = Peer::start(with_secret("c", &secret).peer(b.addr), logs);
    b.insert(0, "hello");
    wait_for_text(&mut a, CONVERGE, "b's insert at a", |t| t == "hello");
    wait_for_text(&mut c, CONVERGE, "b's insert at c", |t| t == "hello");
    thread::sleep(Duration::from_millis(500));
    let captured = tap.stop();
    assert!(!captured.is_empty());

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port = format!(":{}", attacker.local_addr().unwrap().port());
    // b's datagrams to a replayed to c (b seals one sequence across its
    // destinations, so c's replay window has not seen them), then to a
    // after it restarts (its replay window starts empty).
    a.restart(logs);
    let (mut sent, mut got) = (0, 0);
    for (who, target) in [("c", &mut c), ("a", &mut a)] {
        let before = unproven(target);
        for d in &captured {
            sent += attacker.send_to(d, target.addr).unwrap();
        }
        wait_until(target, "the replays read", |p| unproven(p) > before);
        let mut buf = vec![0u8; 65536];
        while let Ok((n, _)) = attacker.recv_from(&mut buf) {
            got += n;
        }
        let peers = target.ok("peers");
        assert!(
            !peers.iter().any(|l| l.contains(&port)),
            "{who} took the replayer for a peer: {peers:?}"
        );
        assert_eq!(target.text(), "hello");
    }
    assert!(got <= sent, "the replayer got {got} bytes for {sent}");
}
