//! The `sim` program: flags, JSON, exit statuses (0 converged, 1 not, 2 bad arguments).

use std::process::Command;

fn sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("run sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Small runs of the simulator's own toy protocol: these test the program, not the node.
const TOY: &[&str] = &["--protocol", "toy", "--ops", "60", "--nodes", "3"];

fn with(extra: &[&str]) -> Vec<String> {
    TOY.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run(extra: &[&str]) -> (i32, String, String) {
    let args = with(extra);
    sim(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn json_is_one_object_with_the_contract_fields() {
    let (code, out, _) = run(&["--seed", "42", "--loss", "0.3", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim().lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "seed",
        "nodes",
        "converged",
        "final_text_hash",
        "trace_hash",
        "events",
        "sim_time_ms",
        "datagrams_sent",
        "datagrams_dropped",
        "bytes_sent",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in ["p50", "p99", "max"] {
        assert!(v["op_latency_ms"][key].is_number(), "{v}");
    }
    assert_eq!(v["seed"], 42);
    assert_eq!(v["nodes"], 3);
    assert_eq!(v["converged"], true);
    assert!(v["datagrams_dropped"].as_u64().unwrap() > 0);
}

#[test]
fn same_arguments_same_trace_hash_across_processes() {
    let hash = |seed: &str| {
        let (_, out, _) = run(&["--seed", seed, "--loss", "0.2", "--dup", "0.1", "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["trace_hash"].as_str().unwrap().to_string()
    };
    assert_eq!(hash("5"), hash("5"));
    assert_ne!(hash("5"), hash("6"));
    let (code, out, _) = run(&["--seed", "5", "--check-determinism"]);
    assert_eq!(code, 0);
    assert!(out.contains("determinism OK"), "{out}");
}

#[test]
fn summary_shows_the_numbers() {
    let (code, out, _) = run(&["--seed", "1", "--loss", "0.1", "--crashes", "5"]);
    assert_eq!(code, 0, "{out}");
    for word in [
        "CONVERGED",
        "events",
        "events/s",
        "datagrams",
        "p50",
        "p99",
        "converged after",
        "trace_hash",
    ] {
        assert!(out.contains(word), "missing {word}: {out}");
    }
}

#[test]
fn not_converged_exits_1_and_prints_the_replay() {
    let (code, out, _) = run(&[
        "--seed",
        "1",
        "--sabotage",
        "never-heal",
        "--deadline-ms",
        "5000",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT CONVERGED"));
    assert!(out.contains("replay") && out.contains("--seed 1"), "{out}");
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    for args in [
        &["--loss", "1.5"][..],
        &["--loss", "abc"],
        &["--nodes", "0"],
        &["--topology", "ring"],
        &["--partitions", "3s..1s=0/1"],
        &["--seeds", "9..3"],
        &["--no-such-flag"],
        &["--delay", "-4"],
        &["--link-mtu", "10"],
        // Below what the node accepts: it would run at another MTU.
        &["--mtu", "100"],
        &["--mtu", "70000"],
        // The node needs at least one missing op to send a snapshot.
        &["--snapshot-min-ops", "0"],
    ] {
        let (code, out, err) = sim(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

#[test]
fn a_sweep_reports_failures_with_replay_commands() {
    let toy = ["--protocol", "toy", "--nodes", "3", "--ops", "20"];
    let (code, out, _) = sim(&[&toy[..], &["--seeds", "0..4", "--json"]].concat());
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["runs"], 4);
    assert_eq!(v["failed"], 0);

    let (code, out, _) = sim(&[
        &toy[..],
        &[
            "--seeds",
            "0..3",
            "--sabotage",
            "never-heal",
            "--deadline-ms",
            "3000",
        ],
    ]
    .concat());
    assert_eq!(code, 1);
    assert!(out.contains("3 failed"), "{out}");
    // Each failure has a command that replays exactly that run.
    let cmd = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .unwrap();
    assert!(cmd.contains("--swarm") && cmd.contains("--seed 0"), "{cmd}");
    let args: Vec<&str> = cmd
        .split_once(" -- ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let (code, replay_out, _) = sim(&args);
    assert_eq!(code, 1);
    assert!(replay_out.contains("NOT CONVERGED"), "{replay_out}");
}

#[test]
fn trace_file_has_a_line_per_event() {
    let path = std::env::temp_dir().join(format!("rumor-sim-trace-{}.txt", std::process::id()));
    let p = path.to_str().unwrap();
    let (code, out, _) = run(&["--seed", "3", "--loss", "0.2", "--trace", p, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let trace = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let lines = trace.lines().count() as u64;
    assert!(lines >= v["events"].as_u64().unwrap() / 2, "{lines} lines");
    assert!(trace.contains("deliver n") && trace.contains("drop loss") && trace.contains("edit n"));
    assert!(trace.lines().last().unwrap().contains("converged"));
}

/// Separate processes catch per-process randomness (a `HashMap`'s
/// `RandomState`, addresses) anywhere in the real node or the doc.
#[test]
fn the_real_node_gives_the_same_trace_hash_in_every_process() {
    let args = [
        "--seed",
        "9",
        "--nodes",
        "4",
        "--ops",
        "150",
        "--loss",
        "0.2",
        "--dup",
        "0.1",
        "--crashes",
        "6",
        "--offline",
        "6",
        "--partitions",
        "4",
        "--json",
    ];
    let hashes: Vec<String> = (0..3)
        .map(|_| {
            let (code, out, err) = sim(&args);
            assert_eq!(code, 0, "{out}{err}");
            let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            format!("{} {}", v["trace_hash"], v["final_text_hash"])
        })
        .collect();
    assert!(hashes.iter().all(|h| h == &hashes[0]), "{hashes:?}");
}

/// A sweep with fault flags runs every seed with those flags (before, it
/// drew a swarm mix per seed and dropped them silently); without any, or
/// with `--swarm`, each seed draws its own.
#[test]
fn a_sweep_with_fault_flags_runs_every_seed_with_them() {
    let events = |args: &[&str]| -> u64 {
        let (code, out, _) = run(&[args, &["--json"]].concat());
        assert_eq!(code, 0, "{args:?}: {out}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["events"].as_u64().unwrap()
    };
    let faults = ["--loss", "0.4", "--crashes", "3"];
    let one = events(&[&["--seed", "5"][..], &faults].concat());
    let swept = events(&[&["--seeds", "5..6"][..], &faults].concat());
    assert_eq!(swept, one, "the sweep ran seed 5 with the flags given");
    let swarm = events(&["--seed", "5", "--swarm"]);
    assert_eq!(events(&["--seeds", "5..6"]), swarm, "no fault flag: swarm");
    let forced = events(&[&["--seeds", "5..6", "--swarm"][..], &faults].concat());
    assert_eq!(forced, swarm, "--swarm draws anyway");
    assert_ne!(one, swarm, "the two mixes differ for this seed");
    let (_, out, _) = run(&[&["--seeds", "5..7"][..], &faults].concat());
    assert!(
        out.contains("swept seeds 5..7 (the flags given): 2 ran"),
        "{out}"
    );
    let (_, out, _) = run(&["--seeds", "5..7"]);
    assert!(out.contains("swept seeds 5..7 (swarm): 2 ran"), "{out}");
}
