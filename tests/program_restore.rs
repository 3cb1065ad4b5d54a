//! A data directory restored from a backup (or a VM rolled back) must not
//! make replicas diverge: the restored replica has fewer of its own ops
//! than its peers hold. Were it to edit on under the same replica id, its
//! next edits would reuse ids that peers hold with other content; so no
//! run edits under an id an earlier run used (`node::Config::id_used_before`).

mod program_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use program_support::{converge, wait_for_text, Peer, Spec};

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rumor-restore-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn bad_ops(peer: &mut Peer) -> u64 {
    let status = peer.ok("status").join("\n");
    let tail = status
        .split("bad op ")
        .nth(1)
        .expect("status shows bad ops");
    tail.split(',').next().unwrap().trim().parse().unwrap()
}

#[test]
fn a_replica_restored_from_a_backup_takes_a_fresh_id_and_nothing_diverges() {
    let dir = temp("backup");
    let (data, backup) = (dir.join("a"), dir.join("a.backup"));
    let mut b = Peer::start(Spec::new("b").data(&dir.join("b")), &dir);
    let spec_a = |b: &Peer| Spec::new("a").peer(b.addr).data(&data);
    let mut a = Peer::start(spec_a(&b), &dir);
    b.insert(0, "<B1>");
    a.insert(0, "<A1>");
    converge(&mut [&mut a, &mut b], Duration::from_secs(20), &dir, |t| {
        t.contains("<A1>") && t.contains("<B1>")
    });
    a.exit();
    copy_dir(&data, &backup);

    // Five more edits that B gets, then the backup comes back.
    let mut a = Peer::start(spec_a(&b), &dir);
    for i in 0..5 {
        a.insert(0, &format!("<LATER{i}>"));
    }
    converge(&mut [&mut a, &mut b], Duration::from_secs(20), &dir, |t| {
        t.contains("<LATER4>")
    });
    a.exit();
    copy_dir(&backup, &data);

    // A edits before it hears from B (B is offline a moment): its edit
    // takes an id that B already holds with other content.
    b.ok("offline");
    let mut a = Peer::start(spec_a(&b), &dir);
    a.insert(0, "<RESTORED-EDIT>");
    b.ok("online");
    let text = converge(&mut [&mut a, &mut b], Duration::from_secs(30), &dir, |t| {
        t.contains("<RESTORED-EDIT>") && t.contains("<LATER4>")
    });
    for i in 0..5 {
        assert!(text.contains(&format!("<LATER{i}>")), "{text:?}");
    }
    for marker in ["<A1>", "<B1>", "<RESTORED-EDIT>"] {
        assert_eq!(text.matches(marker).count(), 1, "{marker} once in {text:?}");
    }
    // And it stays one document: more edits on both sides still merge.
    a.insert(0, "<A-AFTER>");
    b.insert(0, "<B-AFTER>");
    converge(&mut [&mut a, &mut b], Duration::from_secs(20), &dir, |t| {
        t.contains("<A-AFTER>") && t.contains("<B-AFTER>")
    });
    // Each run edited under an id of its own (the one after the backup
    // too, so its edits are not "lost ops of ours" at all: the restored
    // replica takes them as anyone's, and needs no rejoin).
    let members = a.status_value("members");
    assert!(members.contains("rejoined 0 times"), "{members}");
    assert!(members.contains("1 earlier ids retired"), "{members}");
    assert_eq!(bad_ops(&mut b), 0, "no id named two contents");
    a.exit();
    b.exit();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The case detection cannot cover: the restored replica edits while the
/// only peer that holds its lost ops is away, and a peer that never had
/// them takes the edit first. Under a reused id that peer would accept it,
/// and the group would hold two contents under one id for good.
#[test]
fn a_restored_replica_that_edits_while_the_holder_is_away_never_diverges() {
    let dir = temp("holder-away");
    let (data, backup) = (dir.join("a"), dir.join("a.backup"));
    let mut b = Peer::start(Spec::new("b").data(&dir.join("b")), &dir);
    let mut c = Peer::start(Spec::new("c").peer(b.addr).data(&dir.join("c")), &dir);
    let spec_a = |b: &Peer, c: &Peer| Spec::new("a").peer(b.addr).peer(c.addr).data(&data);
    let mut a = Peer::start(spec_a(&b, &c), &dir);
    a.insert(0, "<A1>");
    converge(
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(20),
        &dir,
        |t| t.contains("<A1>"),
    );
    a.exit();
    copy_dir(&data, &backup);

    // C is away; A's next edits reach only B. Then the backup comes back.
    c.ok("offline");
    let mut a = Peer::start(spec_a(&b, &c), &dir);
    for i in 0..3 {
        a.insert(0, &format!("<LATER{i}>"));
    }
    converge(&mut [&mut a, &mut b], Duration::from_secs(20), &dir, |t| {
        t.contains("<LATER2>")
    });
    a.exit();
    copy_dir(&backup, &data);

    // Now B (the only holder of A's lost edits) is away, C is back, and the
    // restored A edits: C takes the edit first.
    b.ok("offline");
    c.ok("online");
    let mut a = Peer::start(spec_a(&b, &c), &dir);
    a.insert(0, "<RESTORED-EDIT>");
    wait_for_text(&mut c, Duration::from_secs(20), "the restored edit", |t| {
        t.contains("<RESTORED-EDIT>")
    });
    b.ok("online");
    let text = converge(
        &mut [&mut a, &mut b, &mut c],
        Duration::from_secs(40),
        &dir,
        |t| t.contains("<RESTORED-EDIT>") && t.contains("<LATER2>"),
    );
    for marker in [
        "<A1>",
        "<LATER0>",
        "<LATER1>",
        "<LATER2>",
        "<RESTORED-EDIT>",
    ] {
        assert_eq!(text.matches(marker).count(), 1, "{marker} once in {text:?}");
    }
    for p in [&mut b, &mut c] {
        assert_eq!(bad_ops(p), 0, "no id named two contents");
    }
    a.exit();
    b.exit();
    c.exit();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A founder that typed alone and is restarted with `--peer` naming a
/// fresh peer is still the group's founder: its data directory says it is
/// a member (before, a replica holding only its own ops counted as a
/// newcomer, and two newcomers waited for each other for ever).
#[test]
fn a_founder_restarted_naming_a_fresh_peer_is_still_a_member() {
    let dir = temp("founder");
    let data = dir.join("a");
    let mut a = Peer::start(Spec::new("a").data(&data), &dir);
    a.insert(0, "<FOUNDED>");
    let a_addr = a.addr;
    let a_id = a.status_value("replica");
    a.exit();

    // B is new and names A: a newcomer, waiting for A.
    let mut b = Peer::start(Spec::new("b").peer(a_addr), &dir);
    b.insert(0, "<B-BEFORE-JOINING>");
    assert!(
        b.ok("status").iter().any(|l| l.starts_with("joining")),
        "a newcomer says it waits for a member"
    );
    let mut a = Peer::start(Spec::new("a").data(&data).listen(a_addr).peer(b.addr), &dir);
    converge(&mut [&mut a, &mut b], Duration::from_secs(30), &dir, |t| {
        t.contains("<FOUNDED>") && t.contains("<B-BEFORE-JOINING>")
    });
    assert_eq!(a.status_value("replica"), a_id, "the founder kept its id");
    for p in [&mut a, &mut b] {
        let status = p.ok("status");
        assert!(
            !status.iter().any(|l| l.starts_with("joining")),
            "{status:?}"
        );
    }
    a.exit();
    b.exit();
    let _ = std::fs::remove_dir_all(&dir);
}
