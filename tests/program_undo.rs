//! `undo` and `redo` in script mode, between real processes on 127.0.0.1:
//! a replica reverts only its own edits, and both replicas see the result.

mod program_support;

use std::time::Duration;

use program_support::*;

const CONVERGE: Duration = Duration::from_secs(30);

#[test]
fn undo_reverts_only_my_edits_on_every_replica_and_redo_brings_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path();
    let mut a = Peer::start(Spec::new("a"), logs);
    let mut b = Peer::start(Spec::new("b").peer(a.addr), logs);

    assert_eq!(a.cmd("undo").status, "error: nothing to undo");
    assert_eq!(a.cmd("redo").status, "error: nothing to redo");

    a.insert(0, "hello world");
    // b edits only once it has joined (has a's text).
    wait_for_text(&mut b, CONVERGE, "a's text", |t| t == "hello world");
    b.insert(5, "XY");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "helloXY world"
    });

    // a's undo removes a's chars, not b's, on both replicas.
    let reply = a.cmd("undo");
    assert_eq!(
        reply.status, "ok undone: removed 11 chars \"hello world\"",
        "{reply:?}"
    );
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == "XY");
    assert_eq!(a.cmd("undo").status, "error: nothing to undo");

    let reply = a.cmd("redo");
    assert_eq!(
        reply.status, "ok redone: restored 11 chars \"hello world\"",
        "{reply:?}"
    );
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "helloXY world"
    });
    assert_eq!(a.cmd("redo").status, "error: nothing to redo");

    // An undone delete reappears on both, where it was.
    a.ok("edit delete 7 6");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| t == "helloXY");
    let reply = a.cmd("undo");
    assert_eq!(
        reply.status, "ok undone: restored 6 chars \" world\"",
        "{reply:?}"
    );
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "helloXY world"
    });

    // b's undo is b's own: only "XY" goes.
    let reply = b.cmd("undo");
    assert_eq!(
        reply.status, "ok undone: removed 2 chars \"XY\"",
        "{reply:?}"
    );
    assert_eq!(b.cmd("undo").status, "error: nothing to undo");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == "hello world"
    });

    // A new edit clears a's redo stack.
    a.ok("edit insert 0 >");
    assert_eq!(a.cmd("redo").status, "error: nothing to redo");
    converge(&mut [&mut a, &mut b], CONVERGE, logs, |t| {
        t == ">hello world"
    });
}
