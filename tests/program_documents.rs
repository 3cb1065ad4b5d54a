//! Every document has an id, made by its founder: a newcomer adopts its
//! group's, and two documents never merge.

mod program_support;

use std::time::{Duration, Instant};

use program_support::{converge, Peer, Spec};

fn other_document_drops(peer: &mut Peer) -> u64 {
    let status = peer.ok("status").join("\n");
    let tail = status
        .split("other document ")
        .nth(1)
        .expect("status counts datagrams of other documents");
    tail.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_newcomer_adopts_the_founders_document_and_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut a = Peer::start(Spec::new("a"), dir);
    let founded = a.status_value("document");
    assert_eq!(founded.len(), 8, "8 hex digits: {founded}");
    let data = dir.join("b");
    let mut b = Peer::start(Spec::new("b").peer(a.addr).data(&data), dir);
    // (It has none until A's copy arrives: on 127.0.0.1, at once.)
    a.insert(0, "<A>");
    converge(&mut [&mut a, &mut b], Duration::from_secs(20), dir, |t| {
        t.contains("<A>")
    });
    assert_eq!(b.status_value("document"), founded);
    // Kept in the data directory across a restart.
    b.restart(dir);
    assert_eq!(b.status_value("document"), founded);
    a.exit();
    b.exit();
}

#[test]
fn two_documents_never_merge_when_one_adds_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut a = Peer::start(Spec::new("a"), dir);
    let mut b = Peer::start(Spec::new("b"), dir);
    a.insert(0, "<ONLY-A>");
    b.insert(0, "<ONLY-B>");
    assert_ne!(a.status_value("document"), b.status_value("document"));
    a.ok(&format!("add {}", b.addr));
    b.ok(&format!("add {}", a.addr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while other_document_drops(&mut a) == 0 || other_document_drops(&mut b) == 0 {
        assert!(
            Instant::now() < deadline,
            "datagrams of the other document were refused"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a.text(), "<ONLY-A>");
    assert_eq!(b.text(), "<ONLY-B>");
    // The user is told, naming both documents.
    let said = a.stderr();
    assert!(said.contains("another document"), "{said}");
    a.exit();
    b.exit();
}
