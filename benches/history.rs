//! Criterion bench of time travel: `view @V` on the automerge-paper trace.
//!
//! The trace is replayed as local edits on one replica, recording each
//! edit in a record of versions (`host::Versions`) as the program does.
//! Then, for versions at 0%, 10%, 50%, 90% and 100% of the history,
//! `view/automerge-paper/@N` times what `view @N` does: the version
//! vector of the first N entries, and the text rebuilt from the sequence
//! (`Doc::past`). The baseline, `view/automerge-paper/now`, is the plain
//! `view` (the current text copied out), so the ratio says what going
//! back costs over looking at the present.
//!
//! `cargo bench --bench history`; `cargo test --bench history` runs each
//! bench once on the first 5,000 txns (what CI runs).

#[path = "../tests/common/traces.rs"]
mod traces;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

use rumor::host::Versions;
use rumor::{Doc, Id, ReplicaId};

const SMOKE_TXNS: usize = 5_000;

fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

fn view(c: &mut Criterion) {
    let mut trace = traces::sequential("automerge-paper");
    if smoke_mode() {
        trace.txns.truncate(SMOKE_TXNS);
    }
    let me = ReplicaId(1);
    let mut doc = Doc::new(me);
    let mut versions = Versions::default();
    // The text after each entry, kept for a few entries to check against.
    let mut counter = 0u64;
    let mut record = |doc: &Doc, versions: &mut Versions| {
        let now = doc.version_ref().get(me);
        if now > counter {
            versions.record(Id::new(me, counter), now - counter, 0);
            counter = now;
        }
    };
    for p in trace.patches() {
        if p.del > 0 {
            doc.delete(p.pos, p.del).unwrap();
            record(&doc, &mut versions);
        }
        if !p.ins.is_empty() {
            doc.insert(p.pos, &p.ins).unwrap();
            record(&doc, &mut versions);
        }
    }
    let total = versions.len();
    let at = |n: usize| doc.past(&versions.version_at(n)).unwrap().text;
    assert_eq!(at(total), doc.text(), "the last version is the text now");
    assert_eq!(at(0), "");

    let mut g = c.benchmark_group("view/automerge-paper");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("now", |b| b.iter(|| doc.text()));
    for pct in [0, 10, 50, 90, 100] {
        let n = total * pct / 100;
        g.bench_function(format!("@{n} ({pct}%)"), |b| b.iter(|| at(n)));
    }
    g.finish();
    println!(
        "view/automerge-paper: {total} entries, {} chars now, {} pieces",
        doc.len(),
        doc.stats().runs
    );
}

criterion_group!(history, view);
criterion_main!(history);
