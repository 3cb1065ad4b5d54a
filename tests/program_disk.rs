//! Real processes whose data directory sits on a tiny filesystem that fills
//! up (a tmpfs the test mounts; root only, like the link-cut test).
//!
//! The promise under test: an edit that could not be made durable never
//! leaves the replica, so a restart cannot reuse an op id that a peer
//! already holds with other content; once space is back, the edit that was
//! kept in memory is written and sent.

mod program_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use program_support::{converge, is_root, wait_for_text, Peer, Spec};

/// A tmpfs mounted for one test, unmounted (and its folder removed) on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: PathBuf, size: &str) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &dir,
        )?;
        Ok(SmallDisk { dir })
    }

    fn resize(&self, size: &str) {
        run("mount", &["-o", &format!("remount,size={size}")], &self.dir).expect("remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Skips (loudly) where a tmpfs cannot be mounted; CI sets
/// RUMOR_REQUIRE_ROOT=1 to make that a failure.
fn small_disk(tag: &str, size: &str) -> Option<SmallDisk> {
    let dir = std::env::temp_dir().join(format!("rumor-disk-{tag}-{}", std::process::id()));
    let why = if !is_root() {
        "not root".to_string()
    } else {
        match SmallDisk::mount(dir, size) {
            Ok(disk) => return Some(disk),
            Err(e) => e,
        }
    };
    if std::env::var("RUMOR_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("the full-disk test cannot run ({why}) and RUMOR_REQUIRE_ROOT=1");
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
        let _ = writeln!(f, "SKIPPED: full-disk test: {why}");
    }
    None
}

fn logs(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rumor-disk-logs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until `newcomer` has joined `member`'s document (without LAN
/// discovery its `status` shows no document until then). An edit made
/// before that is re-made under a new replica id when the join lands, and
/// that rewrite (the whole document) cannot be made durable on a full
/// disk, so it is rightly held back: not the case the full-disk test is
/// about.
fn joined(newcomer: &mut Peer, member: &mut Peer) {
    let document = member.status_value("document");
    let start = Instant::now();
    while newcomer.status_value("document") != document {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} did not join {}'s document {document} in 20 s",
            newcomer.spec.name,
            member.spec.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Edit `i`: a recognisable marker and 2 kB of filler.
fn edit_text(i: usize) -> String {
    format!("<E{i:02}>{}", "x".repeat(2000))
}

#[test]
fn a_full_disk_never_sends_an_edit_that_is_not_durable_and_a_restart_does_not_diverge() {
    let Some(disk) = small_disk("full", "64k") else {
        return;
    };
    let logs = logs("full");
    let data = disk.dir.join("a");
    let mut b = Peer::start(Spec::new("b"), &logs);
    let mut a = Peer::start(Spec::new("a").peer(b.addr).data(&data), &logs);
    joined(&mut a, &mut b);

    // Each durable edit is at b before the next edit: while a write fails
    // a sends nothing at all (see `host`), so a durable edit still waiting
    // for room in the window, or for a retransmission, when the disk fills
    // up would wait for the disk too.
    let (mut durable, mut refused) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let reply = a.cmd(&format!("edit insert 0 {}", edit_text(i)));
        if reply.is_ok() {
            let marker = format!("<E{i:02}>");
            wait_for_text(&mut b, Duration::from_secs(20), &marker, |t| {
                t.contains(&marker)
            });
            durable.push(i);
        } else {
            assert!(
                reply.status.starts_with("error:") && reply.status.contains("NOT saved"),
                "a failed write says so plainly: {}",
                reply.status
            );
            refused.push(i);
        }
    }
    assert!(
        !durable.is_empty() && !refused.is_empty(),
        "the disk must fill up part way"
    );
    // Give anything that leaked time to arrive, then look at B.
    a.ok("sync");
    std::thread::sleep(Duration::from_millis(500));
    let seen = b.text();
    for i in &durable {
        assert!(
            seen.contains(&format!("<E{i:02}>")),
            "durable edit {i} reached b"
        );
    }
    for i in &refused {
        assert!(
            !seen.contains(&format!("<E{i:02}>")),
            "edit {i} was not durable, yet it left a: b has it"
        );
    }

    // A dies with the disk still full, then comes back with room.
    a.kill9();
    disk.resize("4m");
    a = Peer::start(
        Spec::new("a").peer(b.addr).data(&data).listen(a.addr),
        &logs,
    );
    a.ok("edit insert 0 <AFTER-RESTART>");
    b.ok("edit insert 0 <FROM-B>");
    let text = converge(&mut [&mut a, &mut b], Duration::from_secs(20), &logs, |t| {
        t.contains("<AFTER-RESTART>") && t.contains("<FROM-B>")
    });
    for i in &durable {
        assert!(
            text.contains(&format!("<E{i:02}>")),
            "durable edit {i} kept"
        );
    }
    for i in &refused {
        assert!(
            !text.contains(&format!("<E{i:02}>")),
            "lost edit {i} did not reappear"
        );
    }
    let status = b.ok("status").join("\n");
    assert!(
        status.contains("bad op 0,"),
        "b refused no op of a's: {status}"
    );
}

#[test]
fn an_edit_kept_in_memory_on_a_full_disk_is_written_and_sent_once_space_is_back() {
    let Some(disk) = small_disk("recover", "64k") else {
        return;
    };
    let logs = logs("recover");
    let data = disk.dir.join("a");
    let mut b = Peer::start(Spec::new("b"), &logs);
    let mut a = Peer::start(Spec::new("a").peer(b.addr).data(&data), &logs);
    let mut first_refused = None;
    for i in 0..60 {
        if !a.cmd(&format!("edit insert 0 {}", edit_text(i))).is_ok() {
            first_refused = Some(i);
            break;
        }
    }
    let refused = first_refused.expect("the disk fills up");
    let marker = format!("<E{refused:02}>");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!b.text().contains(&marker), "not durable: not sent");
    assert!(a.text().contains(&marker), "kept in memory on a");

    disk.resize("4m");
    a.ok("sync"); // any input retries the write
    let text = converge(&mut [&mut a, &mut b], Duration::from_secs(20), &logs, |t| {
        t.contains(&marker)
    });
    // And it is durable now: it survives kill -9.
    a.kill9();
    a = Peer::start(Spec::new("a").data(&data).listen(a.addr), &logs);
    assert_eq!(a.text(), text);
}
