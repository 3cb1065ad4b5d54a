//! Prints one markdown table comparing rumor's `Doc` with diamond-types,
//! cola, yrs and a plain rope (jumprope) on real editing traces: median
//! times, encoded bytes and retained heap, all from this one run.
//!
//! ```text
//! cargo run --release --example compare                 # automerge-paper, seph-blog1, friendsforever, clownschool
//! cargo run --release --example compare -- rustcode     # other traces by name
//! ```
//!
//! A concurrent trace (`concurrent/`: friendsforever, clownschool) is
//! measured as its whole history merged into a fresh replica: rumor's
//! `decode_history` and op-by-op `apply`, against diamond-types' `load_from`.
//!
//! The criterion benches (`cargo bench --bench doc`) time the same work with
//! statistics; this is the short form for the README.

#[path = "../benches/contenders/mod.rs"]
mod contenders;
#[path = "../tests/common/traces.rs"]
mod traces;

use std::time::{Duration, Instant};

use contenders::{alloc, Cola, Contender, DiamondTypes, Jumprope, Rumor, Yrs};
use traces::{ConcurrentTrace, SequentialTrace};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Stop repeating a measurement after this long (but run it at least 3 times).
const BUDGET: Duration = Duration::from_secs(2);
const MAX_RUNS: usize = 15;

struct Row {
    trace: String,
    library: &'static str,
    local_ms: Option<f64>,
    remote_ms: Option<f64>,
    load_ms: Option<f64>,
    encode_ms: Option<f64>,
    bytes: Option<usize>,
    heap: Option<usize>,
}

/// Median wall time of `run`, in ms, over 3..=MAX_RUNS runs within BUDGET.
/// `run` returns the time of the part to measure (setup and drops excluded).
fn median_ms(mut run: impl FnMut() -> Duration) -> f64 {
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 3 || (times.len() < MAX_RUNS && start.elapsed() < BUDGET) {
        times.push(run().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn measure<C: Contender>(trace: &SequentialTrace) -> Row {
    let chars = trace.end_content.chars().count();
    let (doc, heap) = contenders::replay_checked::<C>(trace);
    let local_ms = median_ms(|| {
        let (doc, time) = timed(|| C::local(trace));
        drop(doc);
        time
    });

    let encoded = C::encode(&doc);
    let bytes = encoded.as_ref().map(|b| b.len());
    let encode_ms = bytes.map(|_| {
        median_ms(|| {
            let (bytes, time) = timed(|| C::encode(&doc));
            drop(bytes);
            time
        })
    });

    let load_ms = encoded.as_deref().and_then(|bytes| {
        let len = C::load(bytes)?;
        assert_eq!(
            len,
            chars,
            "{} loaded replica has the wrong length",
            C::NAME
        );
        Some(median_ms(|| timed(|| C::load(bytes)).1))
    });

    let remote_ms = C::remote_input(&doc, trace).map(|input| {
        median_ms(|| {
            let input = input.clone();
            let (len, time) = timed(|| C::remote(input));
            assert_eq!(
                len,
                chars,
                "{} remote replica has the wrong length",
                C::NAME
            );
            time
        })
    });

    Row {
        trace: trace.name.clone(),
        library: C::NAME,
        local_ms: Some(local_ms),
        remote_ms,
        load_ms,
        encode_ms,
        bytes,
        heap: Some(heap),
    }
}

/// rumor's ops as postcard (what an op-by-op full sync sends): encode only.
fn measure_rumor_ops(trace: &SequentialTrace) -> Row {
    let doc = Rumor::local(trace);
    let bytes = contenders::rumor_ops_postcard(&doc).len();
    let encode_ms = median_ms(|| {
        let (bytes, time) = timed(|| contenders::rumor_ops_postcard(&doc));
        drop(bytes);
        time
    });
    Row {
        trace: trace.name.clone(),
        library: "rumor ops (postcard)",
        local_ms: None,
        remote_ms: None,
        load_ms: None,
        encode_ms: Some(encode_ms),
        bytes: Some(bytes),
        heap: None,
    }
}

/// A concurrent trace: rumor's and diamond-types' whole merged history
/// loaded into a fresh replica (heap: what the loaded replica keeps).
fn measure_concurrent(trace: &ConcurrentTrace) -> Vec<Row> {
    let chars = trace.end_content.chars().count();
    let rumor = contenders::rumor_merged(trace);
    let (doc, heap) = alloc::retained(|| {
        rumor::Doc::decode_history(rumor::ReplicaId(99), &rumor.bytes).expect("history decodes")
    });
    assert!(doc.text() == trace.end_content, "rumor: loaded text");
    drop(doc);
    let load_ms = median_ms(|| timed(|| Rumor::load(&rumor.bytes)).1);
    let ops = rumor.ops.expect("rumor has ops");
    let remote_ms = median_ms(|| {
        let input = ops.clone();
        let (len, time) = timed(|| Rumor::remote(input));
        assert_eq!(len, chars, "rumor remote replica has the wrong length");
        time
    });
    let rumor_row = Row {
        trace: trace.name.clone(),
        library: Rumor::NAME,
        local_ms: None,
        remote_ms: Some(remote_ms),
        load_ms: Some(load_ms),
        encode_ms: None,
        bytes: Some(rumor.bytes.len()),
        heap: Some(heap),
    };
    let dt = contenders::dt_merged(trace);
    let (doc, dt_heap) = alloc::retained(|| {
        diamond_types::list::ListCRDT::load_from(&dt.bytes).expect("dt decodes")
    });
    assert!(
        doc.branch.content().to_string() == trace.end_content,
        "dt: loaded text"
    );
    drop(doc);
    let dt_row = Row {
        trace: trace.name.clone(),
        library: DiamondTypes::NAME,
        local_ms: None,
        remote_ms: None,
        load_ms: Some(median_ms(|| timed(|| DiamondTypes::load(&dt.bytes)).1)),
        encode_ms: None,
        bytes: Some(dt.bytes.len()),
        heap: Some(dt_heap),
    };
    vec![rumor_row, dt_row]
}

fn is_concurrent(name: &str) -> bool {
    traces::traces_dir()
        .join("concurrent")
        .join(format!("{name}.json.gz"))
        .is_file()
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

fn size(bytes: usize) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}

fn main() {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names = [
            "automerge-paper",
            "seph-blog1",
            "friendsforever",
            "clownschool",
        ]
        .map(String::from)
        .to_vec();
    }
    let mut rows = Vec::new();
    for name in &names {
        if is_concurrent(name) {
            let trace = traces::concurrent(name);
            eprintln!("{name}: concurrent, {} txns", trace.txns.len());
            rows.extend(measure_concurrent(&trace));
            continue;
        }
        let trace = traces::sequential(name);
        eprintln!("{name}: {} patches", trace.patch_count());
        let ops_row = measure_rumor_ops(&trace);
        for row in [
            measure::<Rumor>(&trace),
            measure::<DiamondTypes>(&trace),
            measure::<Cola>(&trace),
            measure::<Yrs>(&trace),
            measure::<Jumprope>(&trace),
        ] {
            eprintln!("  {} done", row.library);
            rows.push(row);
        }
        rows.push(ops_row);
    }

    println!("| trace | library | local replay (ms) | remote apply (ms) | encode (ms) | encoded | load (ms) | retained heap |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.trace,
            r.library,
            ms(r.local_ms),
            ms(r.remote_ms),
            ms(r.encode_ms),
            r.bytes.map(size).unwrap_or_else(|| "-".into()),
            ms(r.load_ms),
            r.heap.map(size).unwrap_or_else(|| "-".into()),
        );
    }
    println!();
    println!(
        "Medians of 3-{MAX_RUNS} runs each, one process, `cargo run --release --example compare`."
    );
    for (name, notes) in [
        (Rumor::NAME, Rumor::NOTES),
        (DiamondTypes::NAME, DiamondTypes::NOTES),
        (Cola::NAME, Cola::NOTES),
        (Yrs::NAME, Yrs::NOTES),
        (Jumprope::NAME, Jumprope::NOTES),
    ] {
        println!("- {name}: {notes}.");
    }
    println!("- rumor ops (postcard): `ops_since(empty)` as postcard, what an op-by-op full sync sends before framing.");
    println!("- load: a fresh replica from the encoded bytes in one piece (rumor: Doc::decode_history; diamond-types: ListCRDT::load_from; cola: Replica::decode, no text; yrs: decode_v2 + apply_update).");

    println!("- concurrent traces (friendsforever, clownschool): the whole merged history into a fresh replica; remote: rumor's `Doc::apply` of every op; load: rumor `decode_history`, diamond-types `load_from`; heap: what the loaded replica keeps.");

    // The issue's bars (issue 20), as ratios to diamond-types within this run.
    println!();
    println!("| trace | local / dt local (<= 1.0) | load / dt load (<= 1.0) | op-by-op / dt load (<= 2.0) | heap / dt heap (<= 1.0) | encoded / dt encoded (<= 1.0) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in &names {
        let find = |lib: &str| rows.iter().find(|r| &r.trace == name && r.library == lib);
        let (Some(ru), Some(dt)) = (find("rumor"), find("diamond-types")) else {
            continue;
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        let float = |v: Option<usize>| v.map(|v| v as f64);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            name,
            ratio(ru.local_ms, dt.local_ms),
            ratio(ru.load_ms, dt.load_ms),
            ratio(ru.remote_ms, dt.load_ms),
            ratio(float(ru.heap), float(dt.heap)),
            ratio(float(ru.bytes), float(dt.bytes)),
        );
    }
}
