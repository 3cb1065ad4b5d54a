//! The editor's cost per keystroke in a 1 MB document, drawn into
//! ratatui's `TestBackend` (a 120x40 screen):
//!
//! - `keystroke`: one typed char in the middle of the text, then a frame
//!   (a line break every 40 chars, as a person types);
//! - `remote typing + keystroke`: 20 remote single-char ops (a peer
//!   typing) applied to the doc and followed patch by patch, a frame, then
//!   one typed char and a frame;
//! - `remote burst + keystroke`: the same with 10 000 remote ops scattered
//!   over the text (the editor copies the text whole: cheaper than
//!   following that many patches); most of it is the doc applying the ops;
//! - `page down`: a cursor move that changes every row of the screen.
//!
//! Run: `cargo bench --bench tui`. Under `cargo test --bench tui` (or
//! `-- --test`) it runs once on a 100 kB text and 1 000 ops, as a smoke test.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rumor::doc::{Doc, Op, ReplicaId};
use rumor::tui::model::{Action, Editor};
use rumor::tui::view::{self, Marker, Status};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

fn smoke_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// (text bytes, remote ops in a burst)
fn sizes() -> (usize, usize) {
    if smoke_mode() {
        (100_000, 1_000)
    } else {
        (1_000_000, 10_000)
    }
}

/// About `bytes` of text in lines of 20 to 100 chars.
fn text(bytes: usize, rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(bytes + 128);
    while out.len() < bytes {
        let n = rng.random_range(20..100);
        for _ in 0..n {
            out.push(char::from(b'a' + rng.random_range(0..26u8)));
        }
        out.push('\n');
    }
    out
}

/// Our doc with the text, and `n` remote ops made on a copy of it.
fn docs(bytes: usize, n: usize) -> (Doc, Vec<Op>, Vec<Op>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut mine = Doc::new(ReplicaId(1));
    mine.insert(0, &text(bytes, &mut rng)).unwrap();
    let mut theirs = Doc::new(ReplicaId(2));
    for op in mine.ops_since(theirs.version_ref()) {
        theirs.apply(op).unwrap();
    }
    let before = theirs.version();
    let mut at = theirs.len() / 3;
    for i in 0..20 {
        if i % 5 == 4 {
            theirs.delete(at - 1, 1).unwrap();
            at -= 1;
        } else {
            theirs.insert(at, "t").unwrap();
            at += 1;
        }
    }
    let typing = theirs.ops_since(&before);
    for _ in 0..n {
        let pos = rng.random_range(0..theirs.len());
        if rng.random_bool(0.7) {
            theirs.insert(pos, "z").unwrap();
        } else {
            theirs.delete(pos, 1).unwrap();
        }
    }
    // The typing too: the burst's ops depend on it.
    let burst = theirs.ops_since(&before);
    (mine, typing, burst)
}

fn status() -> Status {
    Status {
        name: "bench".into(),
        online: true,
        save: "memory only".into(),
        ..Status::default()
    }
}

fn frame(terminal: &mut Terminal<TestBackend>, ed: &mut Editor, doc: &Doc, markers: &[Marker]) {
    let status = status();
    terminal
        .draw(|f| {
            let shown = view::Shown {
                markers,
                matches: &[],
                status: &status,
                panel: None,
                history: None,
            };
            view::draw(f, ed, doc, &shown)
        })
        .unwrap();
}

/// An editor over `doc` with the cursor in the middle, drawn once.
fn editor(doc: &mut Doc, terminal: &mut Terminal<TestBackend>) -> Editor {
    let text = view::text_area(ratatui::layout::Rect::new(0, 0, WIDTH, HEIGHT));
    let mut ed = Editor::new(doc, text.width.into(), text.height.into());
    ed.apply(doc, Action::DocEnd).unwrap();
    let lines = ed.mirror.rope().len_lines();
    for _ in 0..(lines / 2) / (HEIGHT as usize) {
        ed.apply(doc, Action::PageUp).unwrap();
    }
    frame(terminal, &mut ed, doc, &[]);
    ed
}

fn bench(c: &mut Criterion) {
    let (bytes, n) = sizes();
    let (doc, typing, burst) = docs(bytes, n);
    let mut group = c.benchmark_group("tui");

    {
        let mut doc = doc.clone();
        let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
        let mut ed = editor(&mut doc, &mut terminal);
        group.bench_function(format!("keystroke ({} kB text)", bytes / 1000), |b| {
            // Lines of 40 typed chars, so the line typed into stays short
            // however many iterations criterion runs.
            let mut typed = 0u64;
            b.iter(|| {
                typed += 1;
                let key = if typed.is_multiple_of(40) { "\n" } else { "x" };
                ed.apply(&mut doc, Action::Insert(key.into())).unwrap();
                frame(&mut terminal, &mut ed, &doc, &[]);
            })
        });
        group.bench_function(format!("page down ({} kB text)", bytes / 1000), |b| {
            let mut down = true;
            b.iter(|| {
                let action = if down {
                    Action::PageDown
                } else {
                    Action::PageUp
                };
                down = !down;
                ed.apply(&mut doc, action).unwrap();
                frame(&mut terminal, &mut ed, &doc, &[]);
            })
        });
    }

    let kb = bytes / 1000;
    for (name, ops, patched) in [
        (
            format!("remote typing (20 ops) + keystroke ({kb} kB text)"),
            &typing,
            true,
        ),
        (
            format!("remote burst of {n} ops + keystroke ({kb} kB text)"),
            &burst,
            false,
        ),
    ] {
        if !patched {
            group.sample_size(10);
        }
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut doc = doc.clone();
                    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
                    let ed = editor(&mut doc, &mut terminal);
                    (doc, terminal, ed, ops.clone())
                },
                |(mut doc, mut terminal, mut ed, ops)| {
                    for op in ops {
                        let applied = doc.apply(op).unwrap();
                        ed.mirror.push_patches(&applied.patches);
                    }
                    ed.sync(&doc);
                    frame(&mut terminal, &mut ed, &doc, &[]);
                    ed.apply(&mut doc, Action::Insert("x".into())).unwrap();
                    frame(&mut terminal, &mut ed, &doc, &[]);
                    assert_eq!(ed.mirror.full_copies() == 0, patched);
                    (doc, terminal, ed)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
