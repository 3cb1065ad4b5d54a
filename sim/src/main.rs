//! `sim`: run seeded, deterministic simulations of rumor nodes.
//!
//! `sim --seed 42 --loss 0.3` runs one simulation and prints a summary;
//! `--json` prints one JSON object instead. Exit status: 0 converged,
//! 1 not converged (or not deterministic), 2 bad arguments.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rumor::node::Node;
use rumor_sim::broken::DroppingNode;
use rumor_sim::protocol::SimNode;
use rumor_sim::toy::ToyNode;
use rumor_sim::{Partitions, Report, Sabotage, SimConfig, Simulation, Topology};
use serde_json::{json, Value};

/// A run allocates and frees small buffers for every datagram, op and
/// frame: mimalloc does that faster than the system allocator (results
/// are the same: nothing in a run depends on addresses).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "sim",
    about = "Deterministic simulator for rumor: real nodes, virtual time, injected faults",
    after_help = "Examples:\n  sim --seed 42 --loss 0.3\n  sim --seed 7 --partitions '5s..15s=0,1/2,3,4' --crashes 2 --json\n  sim --seeds 0..500 --ops 200"
)]
struct Cli {
    /// Seed of the run: the same seed and flags give the same run, bit for bit.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run many seeds, e.g. 0..1000: each draws its own fault mix (swarm
    /// testing), unless fault flags (--loss, --crashes, --topology...) are
    /// given: then every seed runs with those (--swarm draws anyway).
    #[arg(long, value_name = "A..B", value_parser = parse_range, conflicts_with_all = ["seed", "trace"])]
    seeds: Option<Range<u64>>,
    /// Fault flags were given on the command line (see `FAULT_FLAGS`).
    #[arg(skip)]
    fault_flags_given: bool,
    /// Draw the fault mix and topology from the seed (ignores the fault flags).
    #[arg(long)]
    swarm: bool,
    /// Number of nodes.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Edits made by all typists together.
    #[arg(long, default_value_t = 500)]
    ops: u64,
    /// Probability a datagram is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability a datagram is duplicated.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Mean one-way delay, ms.
    #[arg(long, value_name = "MS", default_value_t = 20.0)]
    delay: f64,
    /// Delay varies uniformly in delay ± jitter, ms (with jitter above the
    /// delay, draws below zero count as an instant: 1 µs).
    #[arg(long, value_name = "MS", default_value_t = 5.0)]
    jitter: f64,
    /// Probability a datagram is held back long enough to be overtaken.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Nodes' MTU, 200..=65507; every link carries at least this much (some up to 300 more).
    #[arg(long, value_name = "BYTES", default_value_t = 1200)]
    mtu: usize,
    /// Smallest link MTU (default: --mtu). Each link's MTU is drawn from
    /// link-mtu..=mtu+300; below --mtu, big datagrams on some links are dropped.
    #[arg(long, value_name = "BYTES")]
    link_mtu: Option<usize>,
    /// A node lacking at least this many ops, and most of the document,
    /// gets a snapshot of it instead of ops (at least 1).
    #[arg(long, value_name = "OPS", default_value_t = 4096)]
    snapshot_min_ops: u64,
    /// Tombstone cleanup runs once this many history runs wait for it
    /// (0: no cleanup; rumor uses 1024). With cleanup on, remote ops are
    /// synced before the node sends, as rumor does.
    #[arg(long, value_name = "RUNS", default_value_t = 0)]
    cleanup_min_runs: usize,
    /// After converging, run on until every node has cleaned up all its
    /// history, and check that what it holds is bounded by its text.
    #[arg(long)]
    settle: bool,
    /// Partitions per virtual minute (e.g. 2), or a schedule like '5s..15s=0,1/2,3;20s..25s=0>1'
    /// (a/b: two-way split; a>b: a cannot send to b).
    #[arg(long, value_name = "RATE|SCHEDULE", default_value = "0")]
    partitions: String,
    /// Mean length of a random partition, ms.
    #[arg(long, value_name = "MS", default_value_t = 5000.0)]
    partition_ms: f64,
    /// Crashes per virtual minute (a crashed node restarts from its simulated disk).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    crashes: f64,
    /// Mean time a crashed node stays down, ms.
    #[arg(long, value_name = "MS", default_value_t = 3000.0)]
    downtime_ms: f64,
    /// Offline periods per virtual minute (editing goes on, no traffic).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    offline: f64,
    /// Mean length of an offline period, ms.
    #[arg(long, value_name = "MS", default_value_t = 5000.0)]
    offline_ms: f64,
    /// How nodes are introduced: mesh, chain, star or random (the rest by peer exchange).
    #[arg(long, default_value = "mesh", value_parser = Topology::parse)]
    topology: Topology,
    /// No hot spots (several typists at one place at once).
    #[arg(long)]
    no_hot_spots: bool,
    /// The fault phase lasts at least this long, ms (and until the workload is done).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    fault_ms: f64,
    /// After healing, every replica must converge within this much virtual time, ms.
    #[arg(long, value_name = "MS", default_value_t = 60000.0)]
    deadline_ms: f64,
    /// No longer used (every batch is synced before a node sends, as in rumor); kept for old command lines.
    #[arg(long, value_name = "MS", default_value_t = 50.0)]
    sync_ms: f64,
    /// The share of disk writes that meet a fault: a failed sync that left
    /// part of its batch on disk, or a full disk for the next few writes.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    disk_faults: f64,
    /// The share of keystrokes that are an undo (or a redo) of the
    /// typist's own edits instead.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    undo: f64,
    /// The share of restarts that boot from an earlier image of the node's
    /// disk (a restored backup), when the ops it lacks are held elsewhere.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    restores: f64,
    /// Newcomers that join during the run (each told of one founding node).
    #[arg(long, value_name = "N", default_value_t = 0)]
    joins: usize,
    /// All nodes on one LAN segment, told of no peer: they find each other
    /// by LAN discovery (a quarter of swarm seeds draw it).
    #[arg(long)]
    lan: bool,
    /// Full consistency check of one replica in turn every this many virtual ms (0: only at heal and end).
    #[arg(long, value_name = "MS", default_value_t = 30000.0)]
    check_ms: f64,
    /// Give up after this many events.
    #[arg(long, default_value_t = 50_000_000)]
    max_events: u64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Run twice and fail unless both runs give the same trace_hash.
    #[arg(long)]
    check_determinism: bool,
    /// Write one line per event to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<String>,
    /// Plant a bug to check the checker: never-heal, no-sync or broken-node.
    #[arg(long, hide = true, value_parser = Sabotage::parse)]
    sabotage: Option<Sabotage>,
    /// Which protocol runs on the nodes: node (the real rumor node) or toy
    /// (the simulator's own minimal protocol, for testing the simulator).
    #[arg(long, hide = true, default_value = "node")]
    protocol: String,
}

/// Writes to standard output; a closed pipe (`sim ... | head`) is not an error worth a panic.
fn emit(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

macro_rules! emitln {
    ($($arg:tt)*) => {
        emit(&format!("{}\n", format_args!($($arg)*)))
    };
}

fn parse_range(s: &str) -> Result<Range<u64>, String> {
    let bad = || format!("expected A..B or A..=B with numbers, got `{s}`");
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        b.checked_add(1).ok_or_else(bad)?
    } else {
        b
    };
    if end <= a {
        return Err(format!("empty seed range `{s}`"));
    }
    Ok(a..end)
}

impl Cli {
    fn config(&self, seed: u64) -> Result<SimConfig, String> {
        let cfg = SimConfig {
            seed,
            nodes: self.nodes,
            ops: self.ops,
            loss: self.loss,
            dup: self.dup,
            reorder: self.reorder,
            delay_ms: self.delay,
            jitter_ms: self.jitter,
            mtu: self.mtu,
            link_mtu: self.link_mtu,
            partitions: Partitions::parse(&self.partitions, self.nodes)
                .map_err(|e| format!("--partitions: {e}"))?,
            partition_ms: self.partition_ms,
            crashes: self.crashes,
            downtime_ms: self.downtime_ms,
            offline: self.offline,
            offline_ms: self.offline_ms,
            topology: self.topology,
            hot_spots: !self.no_hot_spots,
            fault_ms: self.fault_ms,
            deadline_ms: self.deadline_ms,
            sync_ms: self.sync_ms,
            disk_faults: self.disk_faults,
            joins: self.joins,
            check_ms: self.check_ms,
            max_events: self.max_events,
            swarm: false,
            sabotage: self.sabotage,
            snapshot_min_ops: self.snapshot_min_ops,
            cleanup_min_runs: self.cleanup_min_runs,
            settle: self.settle,
            undo: self.undo,
            restores: self.restores,
            lan: self.lan,
        };
        cfg.validate()?;
        Ok(if self.swarms() { cfg.swarm() } else { cfg })
    }
}

/// The flags a swarm run draws for itself (`SimConfig::swarm`): given with
/// `--seeds`, they apply to every seed instead (a sweep that silently
/// dropped `--loss 0.5` would test something else than asked).
const FAULT_FLAGS: &[&str] = &[
    "loss",
    "dup",
    "reorder",
    "delay",
    "jitter",
    "partitions",
    "partition_ms",
    "crashes",
    "downtime_ms",
    "offline",
    "offline_ms",
    "topology",
    "no_hot_spots",
    "snapshot_min_ops",
    "cleanup_min_runs",
    "settle",
    "disk_faults",
    "joins",
];

impl Cli {
    /// Parsed from the command line, noting whether fault flags were given.
    fn from_command_line() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.fault_flags_given = FAULT_FLAGS
            .iter()
            .any(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        cli
    }

    /// Whether each seed draws its own fault mix.
    fn swarms(&self) -> bool {
        self.swarm || (self.seeds.is_some() && !self.fault_flags_given)
    }
}

/// Runs one simulation, timing it with the wall clock (the simulation never sees it).
fn timed_run(cli: &Cli, cfg: SimConfig, trace: Option<&str>) -> Result<(Report, Duration), String> {
    match cli.protocol.as_str() {
        "node" if cfg.sabotage == Some(Sabotage::BrokenNode) => {
            timed_run_of::<DroppingNode>(cfg, trace)
        }
        "node" => timed_run_of::<Node>(cfg, trace),
        "toy" => timed_run_of::<ToyNode>(cfg, trace),
        other => Err(format!("--protocol: expected node or toy, got `{other}`")),
    }
}

fn timed_run_of<N: SimNode>(
    cfg: SimConfig,
    trace: Option<&str>,
) -> Result<(Report, Duration), String> {
    let mut sim = Simulation::<N>::new(cfg);
    if let Some(path) = trace {
        let file = File::create(path).map_err(|e| format!("--trace {path}: {e}"))?;
        sim = sim.with_trace(Box::new(BufWriter::new(file)));
    }
    let start = Instant::now();
    let report = sim.run();
    Ok((report, start.elapsed()))
}

fn with_wall(report: &Report, wall: Duration) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        let secs = wall.as_secs_f64().max(1e-9);
        map.insert("wall_ms".into(), json!(secs * 1000.0));
        map.insert("events_per_sec".into(), json!(report.events as f64 / secs));
        map.insert(
            "speedup_vs_real_time".into(),
            json!(report.sim_time_ms / 1000.0 / secs),
        );
    }
    v
}

fn replay_command(cli: &Cli, cfg: &SimConfig) -> String {
    let mut cmd = format!(
        "cargo run --release --bin {}",
        cfg.command_line().replacen("sim ", "sim -- ", 1)
    );
    if cli.protocol != "node" {
        cmd += &format!(" --protocol {}", cli.protocol);
    }
    cmd
}

fn single(cli: &Cli) -> Result<ExitCode, String> {
    let cfg = cli.config(cli.seed)?;
    let (report, wall) = timed_run(cli, cfg.clone(), cli.trace.as_deref())?;
    let mut deterministic = None;
    if cli.check_determinism {
        let (again, _) = timed_run(cli, cfg.clone(), None)?;
        deterministic = Some(again.trace_hash == report.trace_hash && again == report);
    }
    if cli.json {
        let mut v = with_wall(&report, wall);
        if let (Some(d), Value::Object(map)) = (deterministic, &mut v) {
            map.insert("deterministic".into(), json!(d));
        }
        emitln!("{v}");
    } else {
        emit(&report.summary(Some(wall)));
        if let Some(d) = deterministic {
            emitln!(
                "determinism {}",
                if d {
                    "OK: a second run gave the same trace_hash and report"
                } else {
                    "FAILED: a second run differed"
                }
            );
        }
        if !report.converged {
            emitln!("replay     {}", replay_command(cli, &cfg));
        }
    }
    Ok(if report.converged && deterministic != Some(false) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn sweep(cli: &Cli, seeds: Range<u64>) -> Result<ExitCode, String> {
    // Validate once up front so a bad flag is exit 2, not a failure per seed.
    cli.config(seeds.start)?;
    let total = seeds.end - seeds.start;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}<{eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut events = 0u64;
    for seed in seeds.clone() {
        let cfg = cli.config(seed)?;
        let (report, _) = timed_run(cli, cfg.clone(), None)?;
        events += report.events;
        let mut failure = report.failure.clone();
        if cli.check_determinism {
            let (again, _) = timed_run(cli, cfg.clone(), None)?;
            if again != report {
                failure = Some(format!(
                    "not deterministic: trace_hash {} then {}",
                    report.trace_hash, again.trace_hash
                ));
            }
        }
        if !report.converged && failure.is_none() {
            failure = Some("not converged".into());
        }
        if let Some(why) = failure {
            bar.println(format!("seed {seed} FAILED: {why}"));
            failures.push((seed, why, replay_command(cli, &cfg)));
        }
        bar.set_message(format!("{} failed", failures.len()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wall = start.elapsed();
    if cli.json {
        let list: Vec<Value> = failures
            .iter()
            .map(|(seed, why, cmd)| json!({"seed": seed, "failure": why, "command": cmd}))
            .collect();
        let v = json!({
            "seeds": {"start": seeds.start, "end": seeds.end},
            "runs": total,
            "failed": failures.len(),
            "failures": list,
            "events": events,
            "wall_ms": wall.as_secs_f64() * 1000.0,
            "events_per_sec": events as f64 / wall.as_secs_f64().max(1e-9),
        });
        emitln!("{v}");
    } else {
        emitln!(
            "swept seeds {}..{} ({}): {} ran, {} failed, {} events in {:.1} s ({:.0} events/s)",
            seeds.start,
            seeds.end,
            if cli.swarms() {
                "swarm"
            } else {
                "the flags given"
            },
            total,
            failures.len(),
            events,
            wall.as_secs_f64(),
            events as f64 / wall.as_secs_f64().max(1e-9)
        );
        for (seed, why, cmd) in &failures {
            emitln!("seed {seed}: {why}\n  replay: {cmd}");
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    // clap's own errors (unknown flag, bad number) exit with status 2 and a usage hint.
    let cli = Cli::from_command_line();
    let result = match cli.seeds.clone() {
        Some(seeds) => sweep(&cli, seeds),
        None => single(&cli),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            let err = Cli::command().error(clap::error::ErrorKind::ValueValidation, msg);
            let _ = err.print();
            ExitCode::from(2)
        }
    }
}
