//! Criterion benches of the text CRDT against diamond-types, cola, yrs and
//! a plain rope, on real editing traces (automerge-paper, seph-blog1):
//!
//! - `local/<trace>`: replay every patch as local edits on a fresh document;
//! - `encode/<trace>`: serialize the history a new peer needs;
//! - `remote/<trace>`: build a fresh replica from it, op by op where the
//!   library allows (see `contenders/mod.rs` for what each one does);
//! - `load/<trace>`: build a fresh replica from the encoded bytes at once;
//! - retained heap and encoded bytes are printed (not timed) before the
//!   timings of each trace;
//! - `merge/<trace>` on the concurrent traces (friendsforever, clownschool):
//!   the whole merged history into a fresh replica, rumor (`load`:
//!   `decode_history`; `apply`: `Doc::apply` of every op) against
//!   diamond-types' `load_from`, in the same run;
//! - `duplicates/long-run`: checking a 10-char duplicate op (what a
//!   retransmission, a restarted peer or a forger sends) at the start, the
//!   middle and the end of one run of 4 M non-ASCII chars, and of a delete
//!   run of 1 M spans: the start is the baseline, and the other positions
//!   should cost about the same (they once walked the run: 10^4 times more).
//!
//! `cargo bench --bench doc` takes a few minutes; yrs's local replay
//! (seconds per run) is left out unless `RUMOR_BENCH_SLOW=1`.
//! `cargo bench --bench doc -- --test`, or `cargo test --bench doc` (debug
//! build, what CI runs), runs each bench once on the first 5,000 txns of each
//! trace, as a smoke test.
//! `cargo run --release --example compare` prints the same as one table.

#[path = "../tests/common/traces.rs"]
mod traces;

mod contenders;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, SamplingMode,
};

use contenders::{alloc, Cola, Contender, DiamondTypes, Jumprope, Rumor, Yrs};
use traces::{ConcurrentTrace, SequentialTrace};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const TRACES: [&str; 2] = ["automerge-paper", "seph-blog1"];
const CONCURRENT: [&str; 2] = ["friendsforever", "clownschool"];

/// In smoke mode only this many txns of each trace are used.
const SMOKE_TXNS: usize = 5_000;
/// In smoke mode only this many txns of each concurrent trace are used.
const SMOKE_CONCURRENT_TXNS: usize = 2_000;

/// Criterion's own rule: each bench runs once, as a test, under
/// `cargo bench -- --test` and under `cargo test --bench doc` (no `--bench`).
fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// The trace, or in smoke mode its first txns (with the end text recomputed).
fn load_trace(name: &str) -> SequentialTrace {
    let mut trace = traces::sequential(name);
    if smoke_mode() && trace.txns.len() > SMOKE_TXNS {
        trace.txns.truncate(SMOKE_TXNS);
        let mut rope = jumprope::JumpRope::new();
        for p in trace.patches() {
            rope.replace(p.pos..p.pos + p.del, &p.ins);
        }
        trace.end_content = rope.to_string();
    }
    trace
}

/// A concurrent trace, or in smoke mode its first txns (the end text is then
/// diamond-types' merge of them, which rumor's must equal).
fn load_concurrent(name: &str) -> ConcurrentTrace {
    let mut trace = traces::concurrent(name);
    if smoke_mode() && trace.txns.len() > SMOKE_CONCURRENT_TXNS {
        trace.txns.truncate(SMOKE_CONCURRENT_TXNS);
        // Some txn of the cut trace may have no descendant left: merge all.
        trace.txns.push(traces::ConcurrentTxn {
            parents: heads(&trace),
            agent: 0,
            patches: Vec::new(),
        });
        trace.end_content = String::new();
        let oplog = contenders::dt_concurrent_unchecked(&trace);
        trace.end_content = oplog.checkout_tip().content().to_string();
    }
    trace
}

/// The txns no other txn names as a parent.
fn heads(trace: &ConcurrentTrace) -> Vec<usize> {
    let mut named = vec![false; trace.txns.len()];
    for t in &trace.txns {
        for &p in &t.parents {
            named[p] = true;
        }
    }
    (0..trace.txns.len()).filter(|&i| !named[i]).collect()
}

/// `merge/<trace>`: see the module doc.
fn merge(c: &mut Criterion) {
    for name in CONCURRENT {
        let trace = load_concurrent(name);
        let rumor = contenders::rumor_merged(&trace);
        let dt = contenders::dt_merged(&trace);
        let chars = trace.end_content.chars().count();
        let (loaded, heap) = alloc::retained(|| {
            rumor::Doc::decode_history(rumor::ReplicaId(99), &rumor.bytes).expect("decodes")
        });
        assert!(loaded.text() == trace.end_content, "rumor: loaded text");
        drop(loaded);
        let (loaded, dt_heap) = alloc::retained(|| {
            diamond_types::list::ListCRDT::load_from(&dt.bytes).expect("dt decodes")
        });
        assert_eq!(loaded.len(), chars, "diamond-types: loaded length");
        drop(loaded);
        eprintln!(
            "sizes/{name}: rumor encoded {} B, loaded heap {} B; diamond-types encoded {} B, loaded heap {} B",
            rumor.bytes.len(),
            heap,
            dt.bytes.len(),
            dt_heap
        );
        let ops = rumor.ops.expect("rumor has ops");
        let mut g = c.benchmark_group(format!("merge/{name}"));
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g.bench_function("rumor-load", |b| b.iter(|| Rumor::load(&rumor.bytes)));
        g.bench_function("rumor-apply", |b| {
            b.iter_batched(|| ops.clone(), Rumor::remote, BatchSize::PerIteration)
        });
        g.bench_function("diamond-types-load", |b| {
            b.iter(|| DiamondTypes::load(&dt.bytes))
        });
        g.finish();
    }
}

fn group<'a>(
    c: &'a mut Criterion,
    what: &str,
    trace: &SequentialTrace,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(format!("{what}/{}", trace.name));
    // Whole-trace runs take milliseconds to seconds: few, flat samples.
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// A contender's document after the local replay, and what a remote
/// replica receives: built once per trace, shared by the benches.
struct Prepared<C: Contender> {
    doc: C::Doc,
    encoded: Option<Vec<u8>>,
    remote_input: Option<C::Remote>,
}

/// Replays the trace once, checks the text, prints retained heap and
/// encoded size, and keeps what the encode and remote benches need.
fn prepare<C: Contender>(trace: &SequentialTrace) -> Prepared<C> {
    let (doc, heap) = contenders::replay_checked::<C>(trace);
    let encoded = C::encode(&doc);
    let bytes = encoded
        .as_ref()
        .map_or("-".to_string(), |b| format!("{} B", b.len()));
    eprintln!(
        "sizes/{}/{:<14} retained heap {:>10} B   encoded {:>10}   ({})",
        trace.name,
        C::NAME,
        heap,
        bytes,
        C::NOTES
    );
    let remote_input = C::remote_input(&doc, trace);
    if let Some(input) = &remote_input {
        assert_eq!(
            C::remote(input.clone()),
            trace.end_content.chars().count(),
            "{}: remote replica has the wrong length",
            C::NAME
        );
    }
    let chars = trace.end_content.chars().count();
    if let Some(len) = encoded.as_deref().and_then(C::load) {
        assert_eq!(
            len,
            chars,
            "{}: loaded replica has the wrong length",
            C::NAME
        );
    }
    Prepared {
        doc,
        encoded,
        remote_input,
    }
}

/// yrs's local replay takes seconds per run, so criterion's minimum of 10
/// samples takes minutes: only with `RUMOR_BENCH_SLOW=1` (the `compare`
/// example always measures it) or in smoke mode.
fn slow_ok() -> bool {
    smoke_mode() || std::env::var_os("RUMOR_BENCH_SLOW").is_some_and(|v| v == "1")
}

fn local<C: Contender>(g: &mut BenchmarkGroup<WallTime>, trace: &SequentialTrace) {
    g.bench_function(C::NAME, |b| b.iter_with_large_drop(|| C::local(trace)));
}

fn encode<C: Contender>(g: &mut BenchmarkGroup<WallTime>, prepared: &Prepared<C>) {
    if C::encode(&prepared.doc).is_some() {
        g.bench_function(C::NAME, |b| {
            b.iter_with_large_drop(|| C::encode(&prepared.doc))
        });
    }
}

fn remote<C: Contender>(g: &mut BenchmarkGroup<WallTime>, prepared: &Prepared<C>) {
    if let Some(input) = &prepared.remote_input {
        g.bench_function(C::NAME, |b| {
            b.iter_batched(|| input.clone(), C::remote, BatchSize::PerIteration)
        });
    }
}

fn load<C: Contender>(g: &mut BenchmarkGroup<WallTime>, prepared: &Prepared<C>) {
    if let Some(bytes) = &prepared.encoded {
        if C::load(bytes).is_some() {
            g.bench_function(C::NAME, |b| b.iter(|| C::load(bytes)));
        }
    }
}

fn benches(c: &mut Criterion) {
    for name in TRACES {
        let trace = load_trace(name);
        let rumor = prepare::<Rumor>(&trace);
        let dt = prepare::<DiamondTypes>(&trace);
        let cola = prepare::<Cola>(&trace);
        let yrs = prepare::<Yrs>(&trace);
        let _ = prepare::<Jumprope>(&trace);

        let mut g = group(c, "local", &trace);
        local::<Rumor>(&mut g, &trace);
        local::<DiamondTypes>(&mut g, &trace);
        local::<Cola>(&mut g, &trace);
        if slow_ok() {
            local::<Yrs>(&mut g, &trace);
        } else {
            eprintln!(
                "local/{}/yrs skipped (seconds per run): RUMOR_BENCH_SLOW=1 to include it",
                trace.name
            );
        }
        local::<Jumprope>(&mut g, &trace);
        g.finish();

        let mut g = group(c, "encode", &trace);
        encode(&mut g, &rumor);
        g.bench_function("rumor-ops-postcard", |b| {
            b.iter_with_large_drop(|| contenders::rumor_ops_postcard(&rumor.doc))
        });
        encode(&mut g, &dt);
        encode(&mut g, &cola);
        encode(&mut g, &yrs);
        g.finish();

        let mut g = group(c, "remote", &trace);
        remote(&mut g, &rumor);
        remote(&mut g, &dt);
        remote(&mut g, &cola);
        remote(&mut g, &yrs);
        g.finish();

        cleanup(c, &trace, &rumor.doc);

        let mut g = group(c, "load", &trace);
        load(&mut g, &rumor);
        load(&mut g, &dt);
        load(&mut g, &cola);
        load(&mut g, &yrs);
        g.finish();
    }
}

/// `cleanup/<trace>`: `Doc::collect` of the whole history (a single
/// writer's trace is all stable once written), against cloning the
/// document (the baseline each sample also pays). Prints the heap, the
/// tombstones and the snapshot size before and after.
fn cleanup(c: &mut Criterion, trace: &SequentialTrace, doc: &rumor::Doc) {
    let all = doc.version();
    let (collected, heap_after) = contenders::alloc::retained(|| {
        let mut d = doc.clone();
        d.collect(&all);
        d
    });
    let (_, heap_before) = contenders::alloc::retained(|| doc.clone());
    let (before, after) = (doc.stats(), collected.stats());
    eprintln!(
        "cleanup/{}: heap {} -> {} B, tombstones {} -> {} (reclaimed {}), log runs {} -> {}, snapshot {} -> {} B",
        trace.name,
        heap_before,
        heap_after,
        before.tombstones,
        after.tombstones,
        after.tombstones_reclaimed,
        before.log_entries,
        after.log_entries,
        doc.encode_snapshot().len(),
        collected.encode_snapshot().len()
    );
    assert_eq!(collected.text(), doc.text());
    let mut g = group(c, "cleanup", trace);
    g.bench_function("rumor-clone", |b| b.iter_with_large_drop(|| doc.clone()));
    g.bench_function("rumor-clone-collect", |b| {
        b.iter_with_large_drop(|| {
            let mut d = doc.clone();
            d.collect(&all);
            d
        })
    });
    g.finish();
}

/// A 10-counter part of what `doc`'s own replica made, from counter `at`.
fn own_part(doc: &rumor::Doc, at: u64) -> rumor::Op {
    let before: rumor::VersionVector = [(doc.replica(), at)].into_iter().collect();
    let op = doc.ops_since(&before).remove(0);
    op.slice(0, 10)
}

/// `duplicates/long-run`: see the module doc.
fn duplicates(c: &mut Criterion) {
    let chars: u64 = if smoke_mode() { 40_000 } else { 4_000_000 };
    let spans: u64 = chars / 4;
    let mut author = rumor::Doc::new(rumor::ReplicaId(1));
    let unit = "pâte → 😀 ";
    let per = unit.chars().count() as u64;
    author
        .insert(0, &unit.repeat((chars / per) as usize))
        .unwrap();
    let inserted = author.len() as u64;
    // Every other char, one at a time: one delete run of `spans` spans.
    for k in 0..spans as usize {
        author.delete(k, 1).unwrap();
    }
    let mut doc = rumor::Doc::new(rumor::ReplicaId(2));
    for op in author.ops_since(&rumor::VersionVector::new()) {
        doc.apply(op).unwrap();
    }
    let mut g = c.benchmark_group("duplicates/long-run");
    for (name, at) in [
        ("insert-at-start", 0),
        ("insert-in-middle", inserted / 2),
        ("insert-at-end", inserted - 10),
        ("delete-at-start", inserted),
        ("delete-at-end", inserted + spans - 10),
    ] {
        let dup = own_part(&author, at);
        assert!(doc.apply(dup.clone()).unwrap().ops_applied == 0);
        g.bench_function(name, |b| {
            b.iter_batched(|| dup.clone(), |op| doc.apply(op), BatchSize::SmallInput)
        });
    }
    g.finish();
}

criterion_group!(doc, benches, merge, duplicates);
criterion_main!(doc);
