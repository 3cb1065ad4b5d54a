//! Time travel as users and scripts see it: `view @V`, `diff`, `restore`,
//! `blame`, `tag` and `tags` on real processes on 127.0.0.1.

mod program_support;

use std::process::Command;
use std::time::{Duration, Instant};

use program_support::*;
use rumor::cli::command::unescape;

const CONVERGE: Duration = Duration::from_secs(30);

/// `view @V`'s text, unescaped (`Err`: the error line).
fn view_at(peer: &mut Peer, v: &str) -> Result<String, String> {
    let reply = peer.cmd(&format!("view {v}"));
    if !reply.is_ok() {
        return Err(reply.status);
    }
    assert_eq!(reply.body.len(), 1, "{reply:?}");
    Ok(unescape(&reply.body[0]).unwrap())
}

/// The versions (`@N`) of this replica's own entries in `history`, oldest first.
fn own_versions(peer: &mut Peer) -> Vec<usize> {
    peer.ok("history 1000")
        .iter()
        .skip(1)
        .filter(|l| l.contains("(me)"))
        .map(|l| {
            let v = l.split_whitespace().next().unwrap();
            v.strip_prefix('@').unwrap().parse().unwrap()
        })
        .collect()
}

/// The number of entries of a peer's history (its version now is `@N`).
fn history_len(peer: &mut Peer) -> usize {
    let body = peer.ok("history 1");
    match body.get(1) {
        Some(l) => l.split_whitespace().next().unwrap()[1..].parse().unwrap(),
        None => 0,
    }
}

#[test]
fn every_version_shows_the_text_after_that_edit_with_remote_edits_mixed_in() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(Spec::new("a"), logs);
    a.insert(0, "base text\n");
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "base text\n"
    });

    // a's text after each of its edits, as it saw it then.
    let mut after_own = vec![a.text()];
    for round in 0..3 {
        // Concurrent: a edits offline while b edits too.
        a.ok("offline");
        for k in 0..2 {
            let len = a.text().chars().count();
            a.insert((round * 7 + k * 3) % (len + 1), &format!("<a{round}{k}>"));
            after_own.push(a.text());
        }
        a.ok("edit delete 0 2");
        after_own.push(a.text());
        b.insert(0, &format!("[b{round}]"));
        let end = b.text().chars().count();
        b.insert(end, &format!("[b{round}end]"));
        a.ok("online");
        a.ok("sync");
        let want = format!("[b{round}end]");
        wait_for_text(&mut a, CONVERGE, "b's edits", |t| t.contains(&want));
        converge(&mut [&mut a, &mut b], CONVERGE, logs, |_| true);
        after_own.push(a.text());
        a.insert(1, "!");
        after_own.push(a.text());
    }

    let own = own_versions(&mut a);
    // The first entry is "base text\n"; b's edits sit between a's.
    let total = history_len(&mut a);
    assert!(total > own.len(), "remote entries are in a's history too");
    let mut own_texts = Vec::new();
    let mut i = 0;
    for (k, text) in after_own.iter().enumerate() {
        // The texts recorded right after a converge are not a's own edits.
        if k > 0 && k % 5 == 4 {
            continue;
        }
        own_texts.push((own[i], text.clone()));
        i += 1;
    }
    assert_eq!(i, own.len(), "one recorded text per own entry");
    for (n, text) in &own_texts {
        assert_eq!(&view_at(&mut a, &format!("@{n}")).unwrap(), text, "@{n}");
    }
    // Every version, remote ones included, is a text; the last is now.
    for n in 0..=total {
        view_at(&mut a, &format!("@{n}")).unwrap();
    }
    assert_eq!(view_at(&mut a, "@0").unwrap(), "");
    assert_eq!(view_at(&mut a, &format!("@{total}")).unwrap(), a.text());
    assert_eq!(view_at(&mut a, "@-0").unwrap(), a.text());
    let (n, text) = &own_texts[own_texts.len() - 2];
    assert_eq!(&view_at(&mut a, &format!("@-{}", total - n)).unwrap(), text);
    // A time after everything is now; the day before is @0.
    assert_eq!(view_at(&mut a, "@2999-01-01T00:00:00Z").unwrap(), a.text());
    assert_eq!(view_at(&mut a, "@1999-01-01T00:00Z").unwrap(), "");
    let err = view_at(&mut a, &format!("@{}", total + 1)).unwrap_err();
    assert!(err.starts_with("error: no version"), "{err}");
}

#[test]
fn restore_on_one_peer_keeps_what_another_typed_meanwhile() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(Spec::new("a"), logs);
    a.insert(0, "alpha beta gamma");
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "alpha beta gamma"
    });
    let v = history_len(&mut a);
    a.ok("edit delete 6 4");
    a.insert(6, "BETA");
    let end = a.text().chars().count();
    a.insert(end, " delta");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "alpha BETA gamma delta"
    });

    // b types while a restores.
    b.ok("offline");
    b.insert(0, "[b]");
    let reply = a.cmd(&format!("restore @{v}"));
    assert_eq!(
        reply.status,
        format!("ok restored @{v}: removed 10 chars, re-inserted 4 chars"),
        "{reply:?}"
    );
    assert_eq!(a.text(), "alpha beta gamma");
    b.ok("online");
    b.ok("sync");
    let text = converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t.starts_with("[b]alpha")
    });
    assert_eq!(text, "[b]alpha beta gamma");
    // One undo step takes the whole restore back, b's edit stays.
    let undo = a.cmd("undo");
    assert!(undo.is_ok(), "{undo:?}");
    assert_eq!(a.text(), "[b]alpha BETA gamma delta");
}

#[test]
fn a_diff_applies_with_patch_to_give_the_newer_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut a = Peer::start(Spec::new("a"), dir);
    a.insert(
        0,
        "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n",
    );
    let v1 = history_len(&mut a);
    a.ok("edit delete 4 4");
    a.insert(4, "2\n2.5\n");
    let v2 = history_len(&mut a);
    let end = a.text().chars().count();
    a.ok(&format!("edit delete {} 4", end - 4));
    a.insert(end - 4, "TEN (no newline)");
    a.insert(0, "zero\n");

    for (from, to) in [
        (format!("@{v1}"), None),
        (format!("@{v1}"), Some(format!("@{v2}"))),
        (format!("@{v2}"), None),
        ("@0".to_string(), None),
    ] {
        let old = view_at(&mut a, &from).unwrap();
        let new = match &to {
            Some(to) => view_at(&mut a, to).unwrap(),
            None => a.text(),
        };
        let cmd = match &to {
            Some(to) => format!("diff {from} {to}"),
            None => format!("diff {from}"),
        };
        let reply = a.cmd(&cmd);
        assert!(reply.is_ok(), "{reply:?}");
        assert!(reply.body[0].starts_with("--- "), "{reply:?}");
        let file = dir.join("doc.txt");
        std::fs::write(&file, &old).unwrap();
        let patch = dir.join("change.diff");
        std::fs::write(&patch, reply.body.join("\n") + "\n").unwrap();
        let out = Command::new("patch")
            .arg(&file)
            .arg("-i")
            .arg(&patch)
            .output()
            .expect("patch (Debian: apt-get install patch)");
        assert!(
            out.status.success(),
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), new, "{cmd}");
    }
    let same = a.cmd("diff @-0");
    assert!(same.body.is_empty() && same.is_ok(), "{same:?}");
}

#[test]
fn blame_names_who_wrote_most_of_each_line() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(Spec::new("alice"), logs);
    a.insert(0, "written by alice\n");
    let mut b = Peer::start(Spec::new("bob").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "written by alice\n"
    });
    let before_bob = history_len(&mut a);
    b.insert(17, "bob wrote this line\n");
    // bob changes two chars of alice's line: still mostly hers.
    b.ok("edit delete 0 2");
    b.insert(0, "WR");
    let text = converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t.starts_with("WR") && t.contains("bob wrote")
    });
    assert_eq!(text, "WRitten by alice\nbob wrote this line\n");
    // Both see who wrote what; the peer's name stands for its replica.
    wait_for_names(&mut a, "bob");
    let blame = a.ok("blame");
    assert_eq!(blame.len(), 2, "{blame:?}");
    assert!(
        blame[0].starts_with("me ") && blame[0].ends_with("WRitten by alice"),
        "{blame:?}"
    );
    assert!(
        blame[1].starts_with("bob ") && blame[1].ends_with("bob wrote this line"),
        "{blame:?}"
    );
    wait_for_names(&mut b, "alice");
    let blame = b.ok("blame");
    assert!(blame[0].starts_with("alice "), "{blame:?}");
    assert!(blame[1].starts_with("me "), "{blame:?}");
    // At an earlier version, the text then.
    let old = a.ok(&format!("blame @{before_bob}"));
    assert_eq!(old.len(), 1, "{old:?}");
    assert!(
        old[0].starts_with("me ") && old[0].ends_with("written by alice"),
        "{old:?}"
    );
}

/// Waits until `peer` knows a peer by `name` (names come with its hello).
fn wait_for_names(peer: &mut Peer, name: &str) {
    let start = Instant::now();
    while !peer.ok("peers").iter().any(|l| l.contains(name)) {
        assert!(start.elapsed() < CONVERGE, "no peer named {name}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tags_survive_cleanup_and_restart_and_cleaned_up_versions_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let data = logs.join("a-data");
    let mut a = Peer::start(Spec::new("a").data(&data), logs);
    // Enough history for cleanup to run (it waits for 1024 runs of ops).
    for i in 0..600 {
        a.ok(&format!("edit insert 0 x{}", i % 10));
        a.ok("edit delete 1 1");
    }
    let tagged = a.text();
    assert_eq!(tagged, "x".repeat(600));
    let reply = a.cmd("tag middle");
    assert!(
        reply.is_ok() && reply.status.contains("as middle"),
        "{reply:?}"
    );
    let v = history_len(&mut a);
    assert_eq!(
        reply.status,
        format!("ok tagged @{v} as middle (600 chars)")
    );
    a.insert(0, "after the tag ");
    assert_eq!(view_at(&mut a, "@3").unwrap(), "x1x");

    // A lone replica cleans up what it has, at an anti-entropy tick.
    let start = Instant::now();
    while a.status_value("tombstones").ends_with("; 0 cleanups)") {
        assert!(start.elapsed() < Duration::from_secs(40), "no cleanup");
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = view_at(&mut a, "@3").unwrap_err();
    let first_kept = err
        .strip_prefix("error: history before @")
        .and_then(|r| r.strip_suffix(" was cleaned up; tagged versions are kept"))
        .unwrap_or_else(|| panic!("{err}"));
    let k: usize = first_kept.parse().unwrap();
    assert!(k > 3 && k <= v + 1, "{err}");
    assert_eq!(view_at(&mut a, "@middle").unwrap(), tagged);
    assert!(a.cmd("restore @3").status.contains("was cleaned up"));
    // Blame still names the author of every line after cleanup.
    let blame = a.ok("blame");
    assert!(blame.iter().all(|l| l.starts_with("me ")), "{blame:?}");

    a.restart(logs);
    assert_eq!(view_at(&mut a, "@middle").unwrap(), tagged);
    let tags = a.ok("tags");
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(
        tags[1].starts_with("middle ") && tags[1].ends_with("600 chars"),
        "{tags:?}"
    );
    // The record of versions survives too: @N names what it named.
    assert_eq!(history_len(&mut a), v + 1);
    let reply = a.cmd(&format!("restore @{v}"));
    assert!(reply.is_ok(), "{reply:?}");
    assert_eq!(a.text(), tagged);
    let unknown = a.cmd("view @nosuch");
    assert_eq!(unknown.status, "error: no tag nosuch (see tags)");
}

#[test]
fn a_tag_spreads_to_peers_and_names_the_same_text_there() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(Spec::new("a"), logs);
    a.insert(0, "first draft");
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "first draft"
    });
    a.ok("tag draft-1");
    a.insert(0, "a ");
    b.insert(0, "[b] ");
    // (Which of the two goes first depends on the replica ids.)
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "a [b] first draft" || t == "[b] a first draft"
    });
    let start = Instant::now();
    while !b.ok("tags").iter().any(|l| l.starts_with("draft-1 ")) {
        assert!(start.elapsed() < CONVERGE, "b never learned the tag");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(view_at(&mut b, "@draft-1").unwrap(), "first draft");
    // A tag made on b names b's version, on a too.
    b.ok("tag both");
    let start = Instant::now();
    while view_at(&mut a, "@both").is_err() {
        assert!(start.elapsed() < CONVERGE, "a never learned the tag");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(view_at(&mut a, "@both").unwrap(), a.text());
    // b restores a's tagged version: a forward edit every peer merges.
    b.ok("restore @draft-1");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "first draft"
    });
}
