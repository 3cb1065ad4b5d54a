//! `--file PATH`: the document bound to a plain text file, with real
//! `rumor` processes on 127.0.0.1 and real programs (`sed -i`) changing
//! the file.

mod program_support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use program_support::*;

const CONVERGE: Duration = Duration::from_secs(30);
/// The issue promises the file is written within about a second of a
/// change; this leaves room for a loaded machine.
const FILE_WRITTEN: Duration = Duration::from_secs(2);

/// A file of many lines, so that replacing it whole would be many ops.
fn long_text() -> String {
    (0..60)
        .map(|i| format!("line {i}: the quick brown fox\n"))
        .collect()
}

fn file_spec(name: &str, file: &Path) -> Spec {
    Spec::new(name).arg("--file").arg(file.to_str().unwrap())
}

/// Polls the file until it holds `want`, for at most `timeout`.
fn wait_for_file(path: &Path, timeout: Duration, want: &str) {
    let start = Instant::now();
    loop {
        let now = fs::read_to_string(path).unwrap_or_default();
        if now == want {
            return;
        }
        assert!(
            start.elapsed() <= timeout,
            "{} does not hold the document after {timeout:?}: {now:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The op counter of the document (`ops N ops` in `status`).
fn ops(peer: &mut Peer) -> u64 {
    let status = peer.ok("status");
    let line = status
        .iter()
        .find_map(|l| l.strip_prefix("ops"))
        .unwrap_or_else(|| panic!("no ops line in {status:?}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn sed(expr: &str, path: &Path) {
    let out = Command::new("sed").arg("-i").arg(expr).arg(path).output();
    let out = out.expect("sed runs");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_founders_file_becomes_the_document_and_peer_edits_reach_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, long_text()).unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    assert_eq!(a.text(), long_text());
    let status = a.ok("status");
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("file") && l.contains("notes.txt")),
        "{status:?}"
    );
    // Without --data, the data directory is beside the file.
    assert!(tmp.path().join(".rumor/notes.txt").is_dir());

    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    wait_for_text(&mut b, CONVERGE, "a's file to reach b", |t| {
        t == long_text()
    });
    b.insert(0, "from b\n");
    let want = format!("from b\n{}", long_text());
    wait_for_text(&mut a, CONVERGE, "b's edit to reach a", |t| t == want);
    wait_for_file(&file, FILE_WRITTEN, &want);
    let status = a.ok("status");
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("file") && l.contains("last written")),
        "{status:?}"
    );
}

/// A file that does not exist yet is created with the document, and the
/// notice that said it did not exist is followed by one that says it was
/// created (a status line shows the last notice until another comes).
#[test]
fn a_missing_file_is_created_and_the_notice_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("new.txt");
    let mut a = Peer::start(file_spec("a", &file), tmp.path());
    a.insert(0, "hello");
    wait_for_file(&file, CONVERGE, "hello");
    let notice = format!("created {} with the document", file.display());
    let start = Instant::now();
    while !a.stderr().contains(&notice) {
        assert!(start.elapsed() < CONVERGE, "no notice: {}", a.stderr());
        thread::sleep(Duration::from_millis(20));
    }
    let err = a.stderr();
    let missing = err.find("does not exist").expect("told it was missing");
    let created = err.find(&notice).unwrap();
    assert!(missing < created, "{err}");
}

#[test]
fn a_save_by_another_program_reaches_peers_as_a_small_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, long_text()).unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == long_text());
    let before = ops(&mut b);

    sed("s/line 31: the quick/line 31: the slow/", &file);
    let want = long_text().replace("line 31: the quick", "line 31: the slow");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == want);
    let made = ops(&mut b) - before;
    // "quick" to "slow": a few chars deleted and inserted, not the
    // ~1800 chars of a replace-all.
    assert!((1..=12).contains(&made), "{made} ops for one changed word");
    assert!(
        a.stderr().contains("made by another program"),
        "{}",
        a.stderr()
    );
    // And the file is left as sed made it (it equals the document).
    assert_eq!(fs::read_to_string(&file).unwrap(), want);
}

#[test]
fn a_change_to_the_file_while_rumor_was_stopped_is_merged_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, long_text()).unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == long_text());
    assert!(a.exit().success());

    sed("s/line 7: the quick/line 7: the lazy/", &file);
    let want = long_text().replace("line 7: the quick", "line 7: the lazy");
    let before = ops(&mut b);
    let spec = a.spec.clone().listen(a.addr);
    let mut a = Peer::start(spec, logs);
    assert!(
        a.stderr().contains("while rumor was not running"),
        "{}",
        a.stderr()
    );
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == want);
    let made = ops(&mut b) - before;
    assert!((1..=12).contains(&made), "{made} ops for one changed word");
    assert_eq!(fs::read_to_string(&file).unwrap(), want);
}

#[test]
fn a_newcomers_different_file_is_kept_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let a_file = tmp.path().join("a.txt");
    fs::write(&a_file, "the group's text\n").unwrap();
    let mut a = Peer::start(file_spec("a", &a_file), logs);

    let c_file = tmp.path().join("c.txt");
    fs::write(&c_file, "my own draft\n").unwrap();
    let mut c = Peer::start(file_spec("c", &c_file).peer(a.addr), logs);
    wait_for_text(&mut c, CONVERGE, "the group's text at c", |t| {
        t == "the group's text\n"
    });
    wait_for_file(&c_file, CONVERGE, "the group's text\n");
    let aside = tmp.path().join("c.txt.orig");
    assert_eq!(fs::read_to_string(&aside).unwrap(), "my own draft\n");
    assert!(c.stderr().contains("c.txt.orig"), "{}", c.stderr());
    // The newcomer's draft did not reach the group.
    assert_eq!(a.text(), "the group's text\n");
}

#[test]
fn a_file_that_cannot_be_bound_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |file: &Path| {
        let out = Command::new(rumor_bin())
            .args(["--listen", "127.0.0.1:0", "--file"])
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(tmp.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("is a directory"), "{err}");
    let binary = tmp.path().join("image.bin");
    fs::write(&binary, b"GIF89a\xff\x00\xfe").unwrap();
    let (code, err) = run(&binary);
    assert_eq!(code, Some(2));
    assert!(err.contains("not UTF-8"), "{err}");
    assert_eq!(fs::read(&binary).unwrap(), b"GIF89a\xff\x00\xfe");
    let (code, err) = run(&tmp.path().join("no/such/dir/notes.txt"));
    assert_eq!(code, Some(2));
    assert!(err.contains("--file"), "{err}");

    // `rumor edit PATH` is `rumor edit --file PATH` (the editor then wants
    // a terminal, which this test has not); not both at once.
    let edit = |args: &[&str]| {
        let out = Command::new(rumor_bin())
            .arg("edit")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = edit(&["notes.txt", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("needs a terminal"), "{err}");
    let (code, err) = edit(&["a.txt", "--file", "b.txt", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn a_file_that_goes_bad_while_bound_gets_a_notice_and_the_document_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, "good text\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    assert_eq!(a.text(), "good text\n");

    // Another program writes bytes that are not text: a notice, the
    // document is kept, and rumor does not write over the file.
    fs::write(&file, b"\xff\xfe binary").unwrap();
    let start = Instant::now();
    while !a.stderr().contains("not UTF-8") {
        assert!(start.elapsed() < CONVERGE, "no notice: {}", a.stderr());
        thread::sleep(Duration::from_millis(50));
    }
    let status = a.ok("status");
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("file") && l.contains("PROBLEM")),
        "{status:?}"
    );
    a.insert(0, "more ");
    assert_eq!(a.text(), "more good text\n");
    thread::sleep(Duration::from_millis(600));
    assert_eq!(fs::read(&file).unwrap(), b"\xff\xfe binary");

    // Text again: merged (against what rumor last saw in the file).
    fs::write(&file, "good text, fixed\n").unwrap();
    wait_for_text(&mut a, CONVERGE, "the fixed file merged", |t| {
        t == "more good text, fixed\n"
    });
    wait_for_file(&file, CONVERGE, "more good text, fixed\n");

    // Removed: written again.
    fs::remove_file(&file).unwrap();
    wait_for_file(&file, CONVERGE, "more good text, fixed\n");
    assert!(a.is_running());
}

#[test]
fn after_kill_9_the_file_catches_up_with_the_document_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, "start\n").unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    // Durable once answered, maybe not in the file yet when killed.
    a.insert(0, "durable ");
    a.restart(logs);
    assert_eq!(a.text(), "durable start\n");
    wait_for_file(&file, CONVERGE, "durable start\n");
    let err = a.stderr();
    assert!(
        !err.contains("while rumor was not running") && !err.contains(".orig"),
        "nothing to merge or keep aside: {err}"
    );
}

#[test]
fn a_peer_edit_and_an_outside_save_at_the_same_time_both_land() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let file = tmp.path().join("notes.txt");
    fs::write(&file, long_text()).unwrap();
    let mut a = Peer::start(file_spec("a", &file), logs);
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == long_text());

    // Whichever a sees first (the peer's edit, maybe not yet in the file,
    // or the save), neither is lost.
    b.insert(0, "top\n");
    sed("s/line 50: the quick/line 50: the slow/", &file);
    let want = format!(
        "top\n{}",
        long_text().replace("line 50: the quick", "line 50: the slow")
    );
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == want);
    wait_for_file(&file, CONVERGE, &want);
}
