//! Runs one of rumor's paths over a sequential trace, `reps` times, for a
//! profiler or an instruction count (the compare example's wall times are
//! noisy on a shared machine).
//!
//! ```text
//! cargo run --release --example profile_doc -- load seph-blog1 20     # Doc::decode_history
//! cargo run --release --example profile_doc -- apply seph-blog1 20    # Doc::apply of each op
//! cargo run --release --example profile_doc -- local seph-blog1 20    # local replay
//! ```
//!
//! Instructions per run, setup excluded: count with `reps` 0 and 2
//! (`valgrind --tool=cachegrind --cache-sim=no`) and halve the difference.

#[path = "../tests/common/traces.rs"]
mod traces;

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("load");
    let name = args.get(2).map(String::as_str).unwrap_or("seph-blog1");
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let trace = traces::sequential(name);
    let local = || {
        let mut doc = rumor::Doc::new(rumor::ReplicaId(1));
        for patch in trace.patches() {
            patch.apply_to(&mut doc).expect("patch in range");
        }
        doc
    };
    let doc = local();
    let bytes = doc.encode_history();
    let ops = doc.ops_since(&rumor::VersionVector::new());
    println!("{:?}, {} ops", doc.stats(), ops.len());
    let start = Instant::now();
    for _ in 0..reps {
        let len = match what {
            "load" => rumor::Doc::decode_history(rumor::ReplicaId(2), &bytes)
                .expect("own history loads")
                .len(),
            "apply" => {
                let mut d = rumor::Doc::new(rumor::ReplicaId(2));
                for op in ops.clone() {
                    d.apply(op).expect("op applies");
                }
                d.len()
            }
            "local" => local().len(),
            other => {
                eprintln!("error: unknown path {other:?} (load, apply or local)");
                std::process::exit(2);
            }
        };
        assert_eq!(len, doc.len(), "{what} gave another text length");
    }
    println!(
        "{what} {name}: {:.2} ms per run",
        start.elapsed().as_secs_f64() * 1000.0 / reps.max(1) as f64
    );
}
