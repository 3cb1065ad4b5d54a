//! The real driver's speed, each against a baseline measured in the same run:
//!
//! - `latency`: an edit on one peer until the other peer's loop reports it,
//!   two drivers on loopback, against the round trip of a bare UDP ping.
//!   p50/p99 come from an hdrhistogram and are printed after the group.
//! - `catch_up`: a fresh peer joins a peer holding the whole
//!   `automerge-paper` history, until it has the whole text; against
//!   pushing the same bytes (the ops, postcard-encoded) through a plain UDP
//!   socket pair with a simple window. Target: within 3x. Also against
//!   applying the same ops to an empty document with no network at all,
//!   the part of the work that is the CRDT's, not the network's.
//! - `log_append`: ops per second appended to the store with group commit
//!   (one fsync per batch), by batch size.
//!
//! Quick run: `cargo bench --bench net -- --quick`.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hdrhistogram::Histogram;
use rumor::doc::{Doc, Op, ReplicaId, VersionVector};
use rumor::net::{Driver, DriverConfig, Flow};
use rumor::node::{self, Edit, Event};
use rumor::store::Store;

const TRACE: &str = "../shared/traces/sequential/automerge-paper.json.gz";
/// In smoke mode only this many txns of the trace are used.
const SMOKE_TXNS: usize = 5_000;

/// Criterion's rule: under `cargo test --bench net` (no `--bench`) or with
/// `--test`, each bench runs once, as a test; then the setup is kept small.
fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// What the bench tells a driver thread.
enum Cmd {
    Edit(Edit),
    Stop,
}

/// A driver running its loop on a thread of its own.
struct Running {
    addr: SocketAddr,
    cmds: Sender<Cmd>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts a driver; `on_event` runs on its thread for each node event.
    fn start(
        data: Option<PathBuf>,
        peers: Vec<SocketAddr>,
        node: node::Config,
        mut on_event: impl FnMut(&Driver, &Event) + Send + 'static,
    ) -> Running {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let config = DriverConfig {
                peers,
                node,
                data,
                ..DriverConfig::new("127.0.0.1:0".parse().unwrap())
            };
            let mut driver = Driver::start(config).expect("driver starts");
            let (tx, rx) = mpsc::channel::<Cmd>();
            ready_tx
                .send((driver.local_addr(), tx, driver.waker()))
                .unwrap();
            driver
                .run(
                    &rx,
                    |d, cmd| match cmd {
                        Cmd::Edit(e) => {
                            d.edit(e).expect("edit");
                            Flow::Continue
                        }
                        Cmd::Stop => Flow::Exit,
                    },
                    |d, e| on_event(d, &e),
                    |_| {},
                )
                .expect("loop runs");
        });
        let (addr, cmds, waker) = ready_rx.recv().expect("driver started");
        Running {
            addr,
            cmds,
            waker,
            thread: Some(thread),
        }
    }

    fn send(&self, cmd: Cmd) {
        self.cmds.send(cmd).unwrap();
        self.waker.wake().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One bare UDP round trip on loopback: ping to an echo thread and back.
struct Echo {
    client: UdpSocket,
    server: SocketAddr,
}

impl Echo {
    fn new() -> Echo {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = server.recv_from(&mut buf) {
                if n == 0 {
                    return;
                }
                let _ = server.send_to(&buf[..n], from);
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        Echo {
            client,
            server: addr,
        }
    }

    fn round_trip(&self) -> Duration {
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        self.client.send_to(&[1; 64], self.server).unwrap();
        self.client.recv_from(&mut buf).unwrap();
        start.elapsed()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.client.send_to(&[], self.server);
    }
}

fn print_percentiles(name: &str, h: &Histogram<u64>) {
    eprintln!(
        "{name}: n={} p50={:.1}us p99={:.1}us max={:.1}us",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("latency");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));

    let echo = Echo::new();
    let mut rtt = Histogram::<u64>::new(3).unwrap();
    group.bench_function("bare_udp_round_trip", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = echo.round_trip();
                rtt.record(d.as_nanos() as u64).unwrap();
                total += d;
            }
            total
        })
    });

    // Back to back: each edit as soon as the last one arrived. With the
    // node's default coalescing (Nagle) the next edit waits for the ack of
    // the last, which the receiver may delay (max_ack_delay).
    let mut back_to_back = Vec::new();
    for coalesce in [true, false] {
        let pair = Pair::start(coalesce);
        let name = if coalesce {
            "edit_propagation_back_to_back"
        } else {
            "edit_propagation_back_to_back_no_coalesce"
        };
        let mut h = Histogram::<u64>::new(3).unwrap();
        group.bench_function(name, |bench| {
            bench.iter_custom(|iters| (0..iters).map(|_| pair.one_edit(&mut h)).sum())
        });
        back_to_back.push((name, h));
    }
    group.finish();

    // Isolated edits, as a person types: a pause (not timed) before each,
    // long enough for the last one to be acknowledged.
    let pair = Pair::start(true);
    let mut isolated = Histogram::<u64>::new(3).unwrap();
    let samples = if smoke_mode() { 5 } else { 200 };
    for _ in 0..samples {
        thread::sleep(Duration::from_millis(25));
        pair.one_edit(&mut isolated);
    }

    print_percentiles("latency/bare_udp_round_trip", &rtt);
    print_percentiles("latency/edit_propagation_isolated", &isolated);
    for (name, h) in &back_to_back {
        print_percentiles(&format!("latency/{name}"), h);
    }
    eprintln!(
        "latency: isolated edit propagation p50 / bare UDP round trip p50 = {:.1}",
        isolated.value_at_quantile(0.5) as f64 / rtt.value_at_quantile(0.5) as f64
    );
}

/// Two drivers on loopback: `a` makes edits, `b` reports each arrival.
struct Pair {
    a: Running,
    _b: Running,
    seen: mpsc::Receiver<Instant>,
}

impl Pair {
    fn start(coalesce: bool) -> Pair {
        let config = node::Config {
            coalesce,
            ..node::Config::default()
        };
        let (seen_tx, seen) = mpsc::channel::<Instant>();
        let b = Running::start(None, vec![], config.clone(), move |_, e| {
            if matches!(e, Event::RemoteEdit { .. }) {
                let _ = seen_tx.send(Instant::now());
            }
        });
        let a = Running::start(None, vec![b.addr], config, |_, _| {});
        let pair = Pair { a, _b: b, seen };
        // Warm up: the first edit also introduces the peers.
        pair.edit();
        pair.seen
            .recv_timeout(Duration::from_secs(10))
            .expect("first edit arrives");
        pair
    }

    fn edit(&self) {
        self.a.send(Cmd::Edit(Edit::Insert {
            pos: 0,
            text: "x".into(),
        }));
    }

    /// One edit on `a` until `b` has it.
    fn one_edit(&self, h: &mut Histogram<u64>) -> Duration {
        let start = Instant::now();
        self.edit();
        let seen = self
            .seen
            .recv_timeout(Duration::from_secs(10))
            .expect("edit arrives");
        let d = seen - start;
        h.record(d.as_nanos() as u64).unwrap();
        d
    }
}

/// The automerge-paper history as one replica's ops.
fn trace_ops() -> (Vec<Op>, usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TRACE);
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("trace file"))
        .read_to_string(&mut json)
        .unwrap();
    let trace: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut doc = Doc::new(ReplicaId(1));
    let txns = trace["txns"].as_array().unwrap();
    let used = if smoke_mode() {
        SMOKE_TXNS.min(txns.len())
    } else {
        txns.len()
    };
    for txn in &txns[..used] {
        for patch in txn["patches"].as_array().unwrap() {
            let pos = patch[0].as_u64().unwrap() as usize;
            let del = patch[1].as_u64().unwrap() as usize;
            let ins = patch[2].as_str().unwrap();
            if del > 0 {
                doc.delete(pos, del).unwrap();
            }
            if !ins.is_empty() {
                doc.insert(pos, ins).unwrap();
            }
        }
    }
    if used == txns.len() {
        assert_eq!(doc.text(), trace["endContent"].as_str().unwrap());
    }
    (doc.ops_since(&VersionVector::new()), doc.len())
}

/// Sends `chunks` from one plain socket to another, the receiver acking
/// every `WINDOW` datagrams so the sender never overruns its buffer.
fn plain_udp_push(chunks: &[Vec<u8>]) -> Duration {
    const WINDOW: usize = 32;
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (rx_addr, tx_addr) = (rx.local_addr().unwrap(), tx.local_addr().unwrap());
    let total = chunks.len();
    let start = Instant::now();
    let receiver = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut bytes = 0;
        for i in 1..=total {
            let (n, _) = rx.recv_from(&mut buf).unwrap();
            bytes += n;
            if i % WINDOW == 0 || i == total {
                rx.send_to(&[0], tx_addr).unwrap();
            }
        }
        bytes
    });
    let mut ack = [0u8; 8];
    for window in chunks.chunks(WINDOW) {
        for c in window {
            tx.send_to(c, rx_addr).unwrap();
        }
        tx.recv_from(&mut ack).unwrap();
    }
    receiver.join().unwrap();
    start.elapsed()
}

/// A fresh peer joining `holder`, its loop on this thread as the `rumor`
/// program runs it (on its main thread: a new thread's heap would add
/// costs the program does not have); returns when it had the whole text.
fn join_on_this_thread(data: Option<PathBuf>, holder: SocketAddr, final_len: usize) -> Instant {
    let config = DriverConfig {
        peers: vec![holder],
        node: node::Config::default(),
        data,
        ..DriverConfig::new("127.0.0.1:0".parse().unwrap())
    };
    let mut driver = Driver::start(config).expect("driver starts");
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let waker = driver.waker();
    // A watchdog, so that a peer that never catches up fails the bench
    // instead of hanging it.
    let (cancel_tx, cancel_rx) = mpsc::channel::<()>();
    let watchdog = {
        let (stop_tx, waker) = (stop_tx.clone(), waker.clone());
        thread::spawn(move || {
            if cancel_rx.recv_timeout(Duration::from_secs(120)).is_err() {
                let _ = stop_tx.send(());
                let _ = waker.wake();
            }
        })
    };
    let mut done = None;
    driver
        .run(
            &stop_rx,
            |_, ()| Flow::Exit,
            |d, e| {
                if done.is_none()
                    && matches!(e, Event::RemoteEdit { .. })
                    && d.node().doc().len() == final_len
                {
                    done = Some(Instant::now());
                    let _ = stop_tx.send(());
                    let _ = waker.wake();
                }
            },
            |_| {},
        )
        .expect("loop runs");
    let _ = cancel_tx.send(());
    let _ = watchdog.join();
    done.expect("the fresh peer catches up")
}

fn catch_up(c: &mut Criterion) {
    let (ops, final_len) = trace_ops();
    let tmp = tempfile::tempdir().unwrap();
    let holder_dir = tmp.path().join("holder");
    {
        let (mut store, _) = Store::open(&holder_dir).unwrap();
        store.append(&ops, 0).unwrap();
    }
    let mut bytes = Vec::new();
    for op in &ops {
        bytes.extend(postcard::to_stdvec(op).unwrap());
    }
    let chunks: Vec<Vec<u8>> = bytes.chunks(1200).map(<[u8]>::to_vec).collect();
    eprintln!(
        "catch_up: automerge-paper = {} ops, {} chars, {} bytes of ops in {} datagrams",
        ops.len(),
        final_len,
        bytes.len(),
        chunks.len()
    );

    let mut group = c.benchmark_group("catch_up");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("plain_udp_same_bytes", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| plain_udp_push(&chunks)).sum())
    });
    // What the fresh peer must do anyway, without any network: apply
    // every op to an empty document.
    group.bench_function("apply_only_no_network", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ops = ops.clone();
                let start = Instant::now();
                let mut doc = Doc::new(ReplicaId(2));
                for op in ops {
                    doc.apply(op).unwrap();
                }
                total += start.elapsed();
                assert_eq!(doc.len(), final_len);
            }
            total
        })
    });
    let mut runs = 0u64;
    for durable in [false, true] {
        let name = if durable {
            "fresh_peer_with_data_dir"
        } else {
            "fresh_peer_in_memory"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let holder = Running::start(
                        Some(holder_dir.clone()),
                        vec![],
                        node::Config::default(),
                        |_, _| {},
                    );
                    runs += 1;
                    let data = durable.then(|| tmp.path().join(format!("fresh-{runs}")));
                    let start = Instant::now();
                    let done = join_on_this_thread(data.clone(), holder.addr, final_len);
                    total += done - start;
                    drop(holder);
                    if let Some(d) = data {
                        let _ = std::fs::remove_dir_all(d);
                    }
                }
                total
            })
        });
    }
    group.finish();
}

fn log_append(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("log_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    // Single-char inserts, as typing makes them.
    let mut doc = Doc::new(ReplicaId(7));
    for i in 0..4096 {
        doc.insert(i, "x").unwrap();
    }
    let mut ops = Vec::new();
    let v = VersionVector::new();
    for op in doc.ops_since(&v) {
        for k in 0..op.len() {
            ops.push(op.slice(k, k + 1));
        }
    }
    for batch in [1usize, 16, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            let (mut store, _) = Store::open(&tmp.path().join(format!("b{batch}"))).unwrap();
            store.set_compact_min_bytes(u64::MAX);
            let mut at = 0;
            b.iter(|| {
                let end = (at + batch).min(ops.len());
                store.append(&ops[at..end], 1).unwrap();
                at = if end == ops.len() { 0 } else { end };
            })
        });
    }
    group.finish();
}

criterion_group!(benches, latency, catch_up, log_append);
criterion_main!(benches);
