//! Criterion benches of the text CRDT against diamond-types, cola, yrs and
//! a plain rope, on real editing traces (automerge-paper, seph-blog1):
//!
//! - `local/<trace>`: replay every patch as local edits on a fresh document;
//! - `encode/<trace>`: serialize the history a new peer needs;
//! - `remote/<trace>`: build a fresh replica from it, op by op where the
//!   library allows (see `contenders/mod.rs` for what each one does);
//! - retained heap and encoded bytes are printed (not timed) before the
//!   timings of each trace.
//!
//! `cargo bench --bench doc` takes a few minutes (yrs's local replay alone
//! is seconds per run). `cargo bench --bench doc -- --test`, or
//! `cargo test --bench doc` (debug build, what CI runs), runs each bench once
//! on the first 5,000 txns of each trace, as a smoke test.
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
use traces::SequentialTrace;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const TRACES: [&str; 2] = ["automerge-paper", "seph-blog1"];

/// In smoke mode only this many txns of each trace are used.
const SMOKE_TXNS: usize = 5_000;

/// Criterion's own rule: each bench runs once, as a test, under
/// `cargo bench -- --test` and under `cargo test --bench doc` (no `--bench`).
fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// The trace, or in smoke mode its first txns (with the end text recomputed).
fn load(name: &str) -> SequentialTrace {
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

fn local<C: Contender>(g: &mut BenchmarkGroup<WallTime>, trace: &SequentialTrace) {
    g.bench_function(C::NAME, |b| b.iter_with_large_drop(|| C::local(trace)));
}

fn encode<C: Contender>(g: &mut BenchmarkGroup<WallTime>, trace: &SequentialTrace) {
    let doc = C::local(trace);
    if C::encode(&doc).is_some() {
        g.bench_function(C::NAME, |b| b.iter_with_large_drop(|| C::encode(&doc)));
    }
}

fn remote<C: Contender>(g: &mut BenchmarkGroup<WallTime>, trace: &SequentialTrace) {
    let doc = C::local(trace);
    let Some(input) = C::remote_input(&doc, trace) else {
        return;
    };
    drop(doc);
    let chars = trace.end_content.chars().count();
    assert_eq!(
        C::remote(input.clone()),
        chars,
        "{}: remote replica has the wrong length",
        C::NAME
    );
    g.bench_function(C::NAME, |b| {
        b.iter_batched(|| input.clone(), C::remote, BatchSize::PerIteration)
    });
}

/// Checks the contender's text and prints its retained heap and encoded size.
fn sizes<C: Contender>(trace: &SequentialTrace) {
    let (doc, heap) = alloc::retained(|| C::local(trace));
    if let Some(text) = C::text(&doc) {
        assert!(
            text == trace.end_content,
            "{} got the wrong text on {}",
            C::NAME,
            trace.name
        );
    }
    let bytes = C::encode(&doc).map_or("-".to_string(), |b| format!("{} B", b.len()));
    eprintln!(
        "sizes/{}/{:<14} retained heap {:>10} B   encoded {:>10}   ({})",
        trace.name,
        C::NAME,
        heap,
        bytes,
        C::NOTES
    );
}

fn benches(c: &mut Criterion) {
    for name in TRACES {
        let trace = load(name);
        sizes::<Rumor>(&trace);
        sizes::<DiamondTypes>(&trace);
        sizes::<Cola>(&trace);
        sizes::<Yrs>(&trace);
        sizes::<Jumprope>(&trace);

        let mut g = group(c, "local", &trace);
        local::<Rumor>(&mut g, &trace);
        local::<DiamondTypes>(&mut g, &trace);
        local::<Cola>(&mut g, &trace);
        local::<Yrs>(&mut g, &trace);
        local::<Jumprope>(&mut g, &trace);
        g.finish();

        let mut g = group(c, "encode", &trace);
        encode::<Rumor>(&mut g, &trace);
        encode::<DiamondTypes>(&mut g, &trace);
        encode::<Cola>(&mut g, &trace);
        encode::<Yrs>(&mut g, &trace);
        g.finish();

        let mut g = group(c, "remote", &trace);
        remote::<Rumor>(&mut g, &trace);
        remote::<DiamondTypes>(&mut g, &trace);
        remote::<Cola>(&mut g, &trace);
        remote::<Yrs>(&mut g, &trace);
        g.finish();
    }
}

criterion_group!(doc, benches);
criterion_main!(doc);
