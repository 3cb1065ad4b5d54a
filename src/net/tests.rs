//! The driver against a real socket and a real data directory (no peers:
//! those are the integration tests' job).

use super::*;
use crate::doc::{Doc, ReplicaId, VersionVector};
use std::time::Duration;

fn config(data: Option<&std::path::Path>) -> DriverConfig {
    DriverConfig {
        data: data.map(|d| d.to_path_buf()),
        ..DriverConfig::new("127.0.0.1:0".parse().unwrap())
    }
}

#[test]
fn edits_survive_a_restart_through_compactions() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = DriverConfig {
        compact_min_bytes: 300,
        ..config(Some(tmp.path()))
    };
    let mut d = Driver::start(cfg.clone()).unwrap();
    let replica = d.node().doc().replica();
    for i in 0..150 {
        d.edit(Edit::Insert {
            pos: i,
            text: "ab".into(),
        })
        .unwrap();
        if i % 3 == 0 {
            d.edit(Edit::Delete { pos: i, len: 1 }).unwrap();
        }
    }
    let st = d.store().unwrap().stats().clone();
    assert!(st.compactions > 0, "{st:?}");
    assert_eq!(d.host_stats().ops_persisted, 200);
    let text = d.node().doc().text();
    let version = d.node().doc().version();
    drop(d);

    let mut d = Driver::start(cfg.clone()).unwrap();
    assert!(
        d.host_stats().ops_replayed < 200,
        "the snapshot loads whole; only the log's ops are replayed"
    );
    assert_eq!(d.node().doc().replica(), replica);
    assert_eq!(d.node().doc().text(), text);
    assert_eq!(d.node().doc().version(), version);
    assert_eq!(d.take_notices().count(), 0);
    // The run's first edit is made under a fresh id, never under one an
    // earlier run used (its storage may be a restored backup): the old
    // id's ops stay as they were.
    d.edit(Edit::Insert {
        pos: 0,
        text: "z".into(),
    })
    .unwrap();
    let fresh = d.node().doc().replica();
    assert_ne!(fresh, replica);
    assert_eq!(d.node().doc().version().get(replica), version.get(replica));
    assert_eq!(d.node().doc().version().get(fresh), 1);
    assert_eq!(d.node().stats().ids_retired, 1);
    d.edit(Edit::Insert {
        pos: 1,
        text: "y".into(),
    })
    .unwrap();
    assert_eq!(d.node().doc().replica(), fresh, "one fresh id per run");
    let text = d.node().doc().text();
    drop(d);
    let d = Driver::start(cfg).unwrap();
    assert_eq!(
        d.node().doc().replica(),
        fresh,
        "the store keeps the run's id"
    );
    assert_eq!(d.host().former_ids(), &[replica], "and the id before it");
    assert_eq!(d.node().doc().text(), text);
}

#[test]
fn out_of_range_edits_are_errors_and_change_nothing() {
    let mut d = Driver::start(config(None)).unwrap();
    d.edit(Edit::Insert {
        pos: 0,
        text: "abc".into(),
    })
    .unwrap();
    assert!(matches!(
        d.edit(Edit::Insert {
            pos: 4,
            text: "x".into()
        }),
        Err(EditError::Doc(_))
    ));
    assert!(d.edit(Edit::Delete { pos: 2, len: 2 }).is_err());
    assert!(d
        .edit(Edit::Delete {
            pos: usize::MAX,
            len: 2
        })
        .is_err());
    assert_eq!(d.node().doc().text(), "abc");
    assert_eq!(d.history().len(), 1);
}

#[test]
fn a_second_driver_on_the_same_data_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = Driver::start(config(Some(tmp.path()))).unwrap();
    match Driver::start(config(Some(tmp.path()))) {
        Err(StartError::Store(StoreError::Locked { .. })) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("two drivers share a data directory"),
    }
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let first = Driver::start(config(None)).unwrap();
    let cfg = DriverConfig::new(first.local_addr());
    let err = Driver::start(cfg).err().expect("port in use");
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}

#[test]
fn the_idle_hook_runs_after_input_and_its_deadline_wakes_the_loop() {
    let mut d = Driver::start(config(None)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<&str>();
    tx.send("typed").unwrap();
    let mut tx = Some(tx);
    let mut inputs = Vec::new();
    let mut idle_calls = 0;
    let mut wake_at = None;
    d.run_with_idle(
        &rx,
        |driver, input| {
            inputs.push(input);
            driver.set_cursor(None);
            Flow::Continue
        },
        |_, _| {},
        |_| {},
        |driver| {
            idle_calls += 1;
            match wake_at {
                // First idle: ask to be woken a little later, with no
                // other reason for the loop to wake.
                None => {
                    let at = driver.now() + Duration::from_millis(30);
                    wake_at = Some(at);
                    Some(at)
                }
                // Woken by the deadline: close the inbox, so the loop ends.
                Some(at) => {
                    if driver.now() >= at {
                        tx.take();
                    }
                    Some(driver.now())
                }
            }
        },
    )
    .unwrap();
    assert_eq!(inputs, ["typed"]);
    assert!(idle_calls >= 2, "{idle_calls}");
    assert!(tx.is_none(), "the deadline woke the loop");
}

#[test]
fn a_cleaned_up_document_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = DriverConfig {
        compact_min_bytes: 300,
        node: crate::node::Config {
            anti_entropy_interval: Duration::from_millis(10),
            collect_min_runs: 1,
            ..crate::node::Config::default()
        },
        ..config(Some(tmp.path()))
    };
    let mut d = Driver::start(cfg.clone()).unwrap();
    for i in 0..100 {
        d.edit(Edit::Insert {
            pos: i,
            text: "abc".into(),
        })
        .unwrap();
        d.edit(Edit::Delete { pos: i, len: 2 }).unwrap();
    }
    // Alone, it is the whole group: its history is stable after two ticks.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut tx = Some(tx);
    let deadline = d.now() + Duration::from_secs(20);
    d.run_with_idle(
        &rx,
        |_, _| Flow::Continue,
        |_, _| {},
        |_| {},
        |driver| {
            if driver.node().stats().collections > 0 || driver.now() >= deadline {
                tx.take();
            }
            Some(driver.now() + Duration::from_millis(5))
        },
    )
    .unwrap();
    let stats = d.node().doc().stats();
    assert!(d.node().stats().collections > 0);
    assert_eq!(stats.tombstones_reclaimed + stats.tombstones as u64, 200);
    let text = d.node().doc().text();
    // A few more edits after the cleanup, then a restart.
    d.edit(Edit::Insert {
        pos: 0,
        text: "after ".into(),
    })
    .unwrap();
    let version = d.node().doc().version();
    let text = format!("after {text}");
    drop(d);
    let d = Driver::start(cfg).unwrap();
    assert_eq!(d.node().doc().text(), text);
    assert_eq!(d.node().doc().version(), version);
}

/// A node that sends even a short document whole, as a snapshot.
fn sends_whole() -> node::Config {
    node::Config {
        snapshot_min_ops: 10,
        ..node::Config::default()
    }
}

/// A store at `dir` holding `doc`'s ops.
fn store_of(dir: &std::path::Path, doc: &Doc) -> Store {
    let (mut store, _) = Store::open(dir).unwrap();
    store
        .append(&doc.ops_since(&VersionVector::new()), 0)
        .unwrap();
    store
}

#[test]
fn a_newcomer_snapshot_is_ready_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let node = sends_whole();
    let mut doc = Doc::new(ReplicaId(5));
    doc.insert(0, "a document long enough to be sent whole")
        .unwrap();
    let snapshot = doc.encode_snapshot();
    store_of(tmp.path(), &doc).compact(&snapshot).unwrap();
    let cfg = DriverConfig {
        node,
        ..config(Some(tmp.path()))
    };
    // The log adds nothing to the store's snapshot: it is the one sent.
    let mut d = Driver::start(cfg.clone()).unwrap();
    assert_eq!(&*d.host.node_mut().snapshot_now(), &snapshot[..]);
    assert_eq!(d.node().stats().snapshots_encoded, 0);
    d.edit(Edit::Insert {
        pos: 0,
        text: "> ".into(),
    })
    .unwrap();
    drop(d);
    // The log adds an op: a new snapshot is made at start.
    let mut d = Driver::start(cfg).unwrap();
    assert_eq!(d.node().stats().snapshots_encoded, 1);
    let sent = d.host.node_mut().snapshot_now();
    assert_eq!(d.node().stats().snapshots_encoded, 1);
    let loaded = Doc::decode_history(ReplicaId(6), &sent).unwrap();
    assert!(loaded.text().starts_with("> a document"));
    // Too small a document to be sent whole: nothing is made.
    let d = Driver::start(config(None)).unwrap();
    assert_eq!(d.node().stats().snapshots_encoded, 0);
}

/// Runs a newcomer driver until its text is `text`; returns it stopped.
fn join_until(cfg: DriverConfig, text: &str) -> Driver {
    let mut d = Driver::start(cfg).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut tx = Some(tx);
    let deadline = d.now() + Duration::from_secs(30);
    d.run_with_idle(
        &rx,
        |_, _| Flow::Continue,
        |driver, _| {
            if driver.node().doc().text() == text {
                tx.take(); // closes the inbox: the loop ends
            }
        },
        |_| {},
        |driver| {
            assert!(driver.now() < deadline, "the newcomer did not catch up");
            Some(deadline)
        },
    )
    .unwrap();
    d
}

#[test]
fn a_newcomer_keeps_a_snapshot_whole_in_memory_and_as_ops_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let node = sends_whole();
    let mut doc = Doc::new(ReplicaId(5));
    doc.insert(0, "a document long enough to be sent whole")
        .unwrap();
    doc.delete(2, 9).unwrap();
    let text = doc.text();
    store_of(&tmp.path().join("holder"), &doc);
    let holder = DriverConfig {
        node: node.clone(),
        ..config(Some(&tmp.path().join("holder")))
    };
    let mut holder = Driver::start(holder).unwrap();
    let holder_addr = holder.local_addr();
    let (stop, inbox) = std::sync::mpsc::channel::<()>();
    let holder_waker = holder.waker();
    let holder = std::thread::spawn(move || {
        holder
            .run(&inbox, |_, _| Flow::Exit, |_, _| {}, |_| {})
            .unwrap();
    });
    let newcomer = |data: Option<&std::path::Path>| DriverConfig {
        node: node.clone(),
        peers: vec![holder_addr],
        ..config(data)
    };

    // In memory: the snapshot is the document; its ops are not listed.
    // (A digest it sent before the snapshot landed may get it a second:
    // so at least one.)
    let mut d = join_until(newcomer(None), &text);
    assert!(d.node().stats().snapshots_received >= 1);
    assert_eq!(d.host_stats().ops_persisted, 0);
    assert_eq!(d.history().len(), 0);
    d.edit(Edit::Insert {
        pos: 0,
        text: "x".into(),
    })
    .unwrap();
    assert_eq!(d.history().len(), 1, "what comes after is listed");
    drop(d); // (after the holder has the edit)
    let text = format!("x{text}");

    // With a data directory: every op is durable, and survives a restart.
    let dir = tmp.path().join("newcomer");
    let d = join_until(newcomer(Some(&dir)), &text);
    assert!(d.node().stats().snapshots_received >= 1);
    assert_eq!(d.host_stats().ops_persisted, 3);
    assert_eq!(d.history().len(), 3);
    drop(d);
    let d = Driver::start(config(Some(&dir))).unwrap();
    assert_eq!(d.node().doc().text(), text);

    stop.send(()).unwrap();
    holder_waker.wake().unwrap();
    holder.join().unwrap();
}

/// `--delay` holds incoming datagrams before anything checks them: a flood
/// must not grow that queue without bound.
#[test]
fn a_flood_under_delay_holds_at_most_the_delay_queue_bound() {
    let cfg = DriverConfig {
        faults: Faults::new(0.0, Duration::from_secs(30), 1),
        ..config(None)
    };
    let mut d = Driver::start(cfg).unwrap();
    let flood = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk = vec![0x55u8; 60_000];
    let mut sent = 0;
    while sent < 2 * MAX_DELAYED_BYTES {
        flood.send_to(&junk, d.local_addr()).unwrap();
        sent += junk.len();
        // Read as the loop would, before the socket's buffer overflows.
        d.read_socket();
    }
    std::thread::sleep(Duration::from_millis(50));
    d.read_socket();
    assert!(d.delayed_bytes <= MAX_DELAYED_BYTES, "{}", d.delayed_bytes);
    assert!(d.stats().delay_queue_full > 0, "{:?}", d.stats());
    assert!(
        d.stats().delayed > 0,
        "datagrams within the bound are still held"
    );
}

/// A holder of a short document (replica 5, stored under `dir/holder`)
/// running on its own thread until `stop` is sent and it is woken.
#[allow(clippy::type_complexity)]
fn start_holder(
    dir: &std::path::Path,
    node: &node::Config,
) -> (
    Doc,
    std::net::SocketAddr,
    std::sync::mpsc::Sender<()>,
    std::sync::Arc<mio::Waker>,
    std::thread::JoinHandle<()>,
) {
    let mut doc = Doc::new(ReplicaId(5));
    doc.insert(0, "a document long enough to be sent whole")
        .unwrap();
    store_of(&dir.join("holder"), &doc);
    let holder = DriverConfig {
        node: node.clone(),
        ..config(Some(&dir.join("holder")))
    };
    let mut holder = Driver::start(holder).unwrap();
    let holder_addr = holder.local_addr();
    let (stop, inbox) = std::sync::mpsc::channel::<()>();
    let holder_waker = holder.waker();
    let holder = std::thread::spawn(move || {
        holder
            .run(&inbox, |_, _| Flow::Exit, |_, _| {}, |_| {})
            .unwrap();
    });
    (doc, holder_addr, stop, holder_waker, holder)
}

/// A newcomer that typed before joining rejoins under a new replica id:
/// its undo stack named chars it re-made, so it is cleared, with a notice,
/// and an undo then changes nothing.
#[test]
fn a_rejoin_clears_the_undo_stack_with_a_notice() {
    let tmp = tempfile::tempdir().unwrap();
    let node = sends_whole();
    let (doc, holder_addr, stop, holder_waker, holder) = start_holder(tmp.path(), &node);

    let mut d = Driver::start(DriverConfig {
        node,
        peers: vec![holder_addr],
        ..config(None)
    })
    .unwrap();
    let before = d.node().doc().replica();
    d.edit(Edit::Insert {
        pos: 0,
        text: "typed early ".into(),
    })
    .unwrap();
    assert_eq!(d.undo_depth(), (1, 0));
    let want = doc.len() + "typed early ".len();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut tx = Some(tx);
    let mut notices = Vec::new();
    let deadline = d.now() + Duration::from_secs(30);
    d.run_with_idle(
        &rx,
        |_, _| Flow::Continue,
        |_, _| {},
        |notice| notices.push(notice),
        |driver| {
            let doc = driver.node().doc();
            if doc.replica() != before && doc.len() == want {
                tx.take(); // closes the inbox: the loop ends
            }
            assert!(driver.now() < deadline, "the newcomer did not rejoin");
            Some(deadline)
        },
    )
    .unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("undo history cleared")),
        "{notices:?}"
    );
    let text = d.node().doc().text();
    assert!(text.contains("typed early "), "{text:?}");
    assert_eq!(d.undo().unwrap(), None, "nothing to undo");
    assert_eq!(d.node().doc().text(), text);

    stop.send(()).unwrap();
    holder_waker.wake().unwrap();
    holder.join().unwrap();
}

/// A rejoin whose write fails (here a directory stands where the snapshot
/// goes; in life, a full disk) is written whole once writing works again.
/// Appending the re-made ops to the old log instead would give a restart
/// the early edits twice, under both ids.
#[test]
fn a_rejoin_that_could_not_be_written_is_written_whole_once_it_can() {
    let tmp = tempfile::tempdir().unwrap();
    let node = sends_whole();
    let (doc, holder_addr, stop, holder_waker, holder) = start_holder(tmp.path(), &node);

    let dir = tmp.path().join("newcomer");
    let newcomer = || DriverConfig {
        node: node.clone(),
        peers: vec![holder_addr],
        ..config(Some(&dir))
    };
    let mut d = Driver::start(newcomer()).unwrap();
    d.edit(Edit::Insert {
        pos: 0,
        text: "typed early ".into(),
    })
    .unwrap();
    let typed_as = d.node().doc().replica();
    let snapshot = dir.join("snapshot");
    let _ = std::fs::remove_file(&snapshot);
    std::fs::create_dir_all(snapshot.join("in-the-way")).unwrap();
    let want = doc.len() + "typed early ".len();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut tx = Some(tx);
    let deadline = d.now() + Duration::from_secs(30);
    d.run_with_idle(
        &rx,
        |_, _| Flow::Continue,
        |_, _| {},
        |_| {},
        |driver| {
            let doc = driver.node().doc();
            if doc.replica() != typed_as && doc.len() == want {
                tx.take(); // closes the inbox: the loop ends
            }
            assert!(driver.now() < deadline, "the newcomer did not rejoin");
            Some(deadline)
        },
    )
    .unwrap();
    d.sync_now(); // one more input: the write is retried, and fails again
    let held = d.persist_error().is_some();

    std::fs::remove_dir_all(&snapshot).unwrap();
    d.sync_now(); // any input retries the write
    assert_eq!(d.persist_error(), None);
    let text = d.node().doc().text();
    assert_eq!(text.matches("typed early ").count(), 1, "{text:?}");
    drop(d);
    let d = Driver::start(newcomer()).unwrap();
    assert_eq!(
        d.node().doc().text(),
        text,
        "a restart finds what was shown"
    );
    assert!(held, "the rejoin is not durable while its write fails");

    stop.send(()).unwrap();
    holder_waker.wake().unwrap();
    holder.join().unwrap();
}
