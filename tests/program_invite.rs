//! Invites with real processes on 127.0.0.1: `rumor --new`, `invite`,
//! then `rumor --join TICKET` with nothing else joins the private
//! document; a damaged ticket is refused before anything starts.

mod program_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use program_support::*;
use rumor::wire::Ticket;

const CONVERGE: Duration = Duration::from_secs(30);

/// A founder of a new private document, reached at 127.0.0.1 only.
fn founder(name: &str, data: Option<&Path>) -> Spec {
    let spec = Spec::new(name).arg("--new");
    match data {
        Some(dir) => spec.data(dir),
        None => spec,
    }
}

/// `invite`'s ticket (its one body line).
fn invite(peer: &mut Peer) -> String {
    let reply = peer.cmd("invite");
    assert!(reply.is_ok(), "invite: {reply:?}");
    assert!(
        reply.status.contains("password"),
        "says to keep it secret: {reply:?}"
    );
    assert_eq!(reply.body.len(), 1, "{reply:?}");
    reply.body[0].clone()
}

/// The value of a `status` line (`document`, `auth`, ...).
fn status_line(peer: &mut Peer, label: &str) -> String {
    let status = peer.ok("status");
    status
        .iter()
        .find_map(|l| l.strip_prefix(label))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} line in {status:?}"))
}

fn fingerprint(peer: &mut Peer) -> String {
    let auth = status_line(peer, "auth");
    let rest = auth
        .split("key fingerprint ")
        .nth(1)
        .unwrap_or_else(|| panic!("not sealed: {auth}"));
    rest.split(|c: char| !c.is_ascii_hexdigit())
        .next()
        .unwrap()
        .to_string()
}

/// Runs `rumor ARGS` with no input; its exit code and standard error.
fn run_rumor(args: &[&str]) -> (Option<i32>, String) {
    // (Listening on 0.0.0.0: no announcements on the host's network.)
    let out = Command::new(rumor_bin())
        .args(args)
        .arg("--no-discovery")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn new_invite_join_with_nothing_else_converges_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Peer::start(
        founder("alice", Some(&dir.path().join("alice"))),
        dir.path(),
    );
    alice.insert(0, "from alice. ");
    let ticket = invite(&mut alice);
    assert!(ticket.starts_with("rumor1"), "{ticket}");
    let decoded = Ticket::decode(&ticket).unwrap();
    assert_eq!(decoded.addrs, vec![alice.addr], "bound to 127.0.0.1 only");

    let mut bob = Peer::start(
        Spec::new("bob").bare().arg("--join").arg(&ticket),
        dir.path(),
    );
    assert!(
        bob.addr.ip().is_unspecified(),
        "listens on 0.0.0.0: {}",
        bob.addr
    );
    wait_for_text(&mut bob, CONVERGE, "alice's text", |t| t == "from alice. ");
    bob.insert(12, "from bob.");
    converge(&mut [&mut alice, &mut bob], CONVERGE, dir.path(), |t| {
        t == "from alice. from bob."
    });

    let document = status_line(&mut alice, "document");
    assert_eq!(document.len(), 8, "{document}");
    assert_eq!(status_line(&mut bob, "document"), document);
    assert_eq!(fingerprint(&mut bob), fingerprint(&mut alice));
    // A member that joined with a ticket can invite in turn.
    let again = Ticket::decode(&invite(&mut bob)).unwrap();
    assert_eq!(again.document, decoded.document);
    assert_eq!(again.secret, decoded.secret);
    // Never echoed where logs go.
    assert!(!alice.stderr().contains(&ticket));
    assert!(!bob.stderr().contains(&ticket));
}

#[test]
fn a_founder_bound_everywhere_lists_its_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Peer::start(founder("alice", None).bare(), dir.path());
    assert!(alice.stderr().contains("memory only"), "{}", alice.stderr());
    let ticket = Ticket::decode(&invite(&mut alice)).unwrap();
    let port = alice.addr.port();
    assert!(ticket.addrs.iter().all(|a| a.port() == port), "{ticket:?}");
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(ticket.addrs.last(), Some(&loopback), "{ticket:?}");
    assert!(ticket.addrs.iter().all(|a| !a.ip().is_unspecified()));
}

#[test]
fn a_damaged_ticket_exits_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Peer::start(founder("alice", None), dir.path());
    let ticket = invite(&mut alice);
    let truncated = &ticket[..ticket.len() - 3];
    let mut changed = ticket.clone().into_bytes();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'a' { b'b' } else { b'a' };
    let changed = String::from_utf8(changed).unwrap();
    for (bad, why) in [
        (truncated, "truncated or damaged"),
        (changed.as_str(), "truncated or damaged"),
        ("rumor1", "truncated or damaged"),
        ("hello", "not a rumor ticket"),
        ("rumor1abc!", "alphabet"),
        ("", "empty"),
    ] {
        let (code, stderr) = run_rumor(&["--join", bad]);
        assert_eq!(code, Some(2), "{bad:?}: {stderr}");
        assert!(stderr.contains("error: --join"), "{bad:?}: {stderr}");
        assert!(stderr.contains(why), "{bad:?}: {stderr}");
        if bad.len() > 10 {
            assert!(!stderr.contains(bad), "the ticket is not echoed: {stderr}");
        }
    }
    // A ticket names its own secret: another one is a contradiction.
    let secret = dir.path().join("other.secret");
    let out = Command::new(rumor_bin())
        .arg("keygen")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, _) = run_rumor(&["--join", &ticket, "--secret-file", secret.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    let (code, _) = run_rumor(&["--new", "--peer", "127.0.0.1:9"]);
    assert_eq!(code, Some(2));
}

#[test]
fn invite_needs_a_secret_and_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let open_dir = dir.path().join("open");
    let mut open = Peer::start(Spec::new("open").data(&open_dir), dir.path());
    let reply = open.cmd("invite");
    assert!(reply.status.starts_with("error:"), "{reply:?}");
    assert!(reply.status.contains("--new"), "{reply:?}");
    assert!(reply.status.contains("--secret-file"), "{reply:?}");
    assert!(reply.body.is_empty(), "{reply:?}");
    // `--new` on a directory another rumor holds fails, and leaves no
    // secret there for that one to pick up on its restart.
    let (code, stderr) = run_rumor(&["--new", "--data", open_dir.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(!open_dir.join("secret").exists(), "{stderr}");

    // A newcomer whose group never answered has no document to invite to.
    let secret = dir.path().join("group.secret");
    let out = Command::new(rumor_bin())
        .arg("keygen")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut waiting = Peer::start(
        Spec::new("waiting")
            .peer("127.0.0.1:9".parse().unwrap())
            .arg("--secret-file")
            .arg(secret.to_str().unwrap()),
        dir.path(),
    );
    let reply = waiting.cmd("invite");
    assert!(reply.status.starts_with("error:"), "{reply:?}");
    assert!(reply.status.contains("not joined"), "{reply:?}");
    // The program goes on.
    assert!(waiting.cmd("view").is_ok());
}

#[test]
fn a_data_directory_keeps_its_group_secret() {
    let dir = tempfile::tempdir().unwrap();
    let alice_dir = dir.path().join("alice");
    let mut alice = Peer::start(founder("alice", Some(&alice_dir)), dir.path());
    let document = status_line(&mut alice, "document");
    let key = fingerprint(&mut alice);
    alice.insert(0, "kept");
    let ticket = invite(&mut alice);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(alice_dir.join("secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Joined with --data, bob keeps the secret too: restarted with only
    // his data directory (and a peer), he is still a member.
    let bob_dir = dir.path().join("bob");
    let mut bob = Peer::start(
        Spec::new("bob").data(&bob_dir).arg("--join").arg(&ticket),
        dir.path(),
    );
    wait_for_text(&mut bob, CONVERGE, "alice's text", |t| t == "kept");
    assert!(bob_dir.join("secret").exists());
    bob.exit();

    // `--new` again on the same directory: the same group and document.
    alice.exit();
    let mut alice = Peer::start(founder("alice", Some(&alice_dir)), dir.path());
    assert_eq!(status_line(&mut alice, "document"), document);
    assert_eq!(fingerprint(&mut alice), key);
    // And without --new: the directory's secret is used all the same.
    alice.exit();
    let mut alice = Peer::start(Spec::new("alice").data(&alice_dir), dir.path());
    assert_eq!(fingerprint(&mut alice), key);
    assert_eq!(alice.text(), "kept");

    let mut bob = Peer::start(Spec::new("bob").data(&bob_dir).peer(alice.addr), dir.path());
    assert_eq!(fingerprint(&mut bob), key);
    bob.insert(4, " again");
    converge(&mut [&mut alice, &mut bob], CONVERGE, dir.path(), |t| {
        t == "kept again"
    });
    bob.exit();

    // The same ticket again on bob's directory: the same member.
    let ticket = invite(&mut alice);
    let mut bob = Peer::start(
        Spec::new("bob").data(&bob_dir).arg("--join").arg(&ticket),
        dir.path(),
    );
    assert_eq!(fingerprint(&mut bob), key);
    assert_eq!(bob.text(), "kept again");
    bob.exit();

    // Another group's ticket on bob's directory is refused, and his secret
    // is left as it was.
    let carol_dir = dir.path().join("carol");
    let mut carol = Peer::start(founder("carol", Some(&carol_dir)), dir.path());
    let other = invite(&mut carol);
    let kept = std::fs::read(bob_dir.join("secret")).unwrap();
    let (code, stderr) = run_rumor(&["--join", &other, "--data", bob_dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("another group"), "{stderr}");
    assert_eq!(std::fs::read(bob_dir.join("secret")).unwrap(), kept);

    // The group's secret but another document than the one bob holds.
    let mut forged = Ticket::decode(&ticket).unwrap();
    forged.document = forged.document.wrapping_add(1).max(1);
    let (code, stderr) = run_rumor(&[
        "--join",
        &forged.encode(),
        "--data",
        bob_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds document"), "{stderr}");
}
