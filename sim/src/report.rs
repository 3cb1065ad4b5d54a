//! What a run reports: the JSON object of `sim --json` and the human summary.

use std::time::Duration;

use serde::Serialize;

/// Op propagation latency: from an edit at its author to its arrival at another replica.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// (op, receiving replica) pairs measured.
    pub count: u64,
}

/// The fault settings a run used (after swarm drawing).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSettings {
    pub swarm: bool,
    pub topology: String,
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub delay_ms: f64,
    pub jitter_ms: f64,
    pub mtu: usize,
    pub link_mtu: Option<usize>,
    pub partitions: String,
    pub partition_ms: f64,
    pub crashes_per_min: f64,
    pub disk_faults_p: f64,
    pub downtime_ms: f64,
    pub offline_per_min: f64,
    pub offline_ms: f64,
    pub hot_spots: bool,
    pub sabotage: Option<String>,
    /// Nodes found each other by LAN discovery (`--lan`).
    pub lan: bool,
}

/// What the events were.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventKinds {
    /// Datagrams arriving (or found undeliverable on arrival).
    pub deliveries: u64,
    /// Node timers fired (stale ones, superseded before they fired, not counted).
    pub timers: u64,
    pub typist_wakeups: u64,
    /// Faults, syncs, checks, heal, deadline.
    pub other: u64,
}

/// Datagrams dropped, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropCounts {
    pub loss: u64,
    pub partition: u64,
    pub mtu: u64,
    pub offline: u64,
    pub down: u64,
    pub unknown_address: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    /// Every replica converged to the same text, equal to the reference, before the deadline.
    pub converged: bool,
    /// Why not, when not.
    pub failure: Option<String>,
    /// FNV-1a of the final text of the reference replica (all ops ever made), hex.
    pub final_text_hash: String,
    /// A hash (`hash::TraceHash`) over every datagram delivered or dropped, in order, hex.
    pub trace_hash: String,
    pub events: u64,
    pub events_by_kind: EventKinds,
    pub sim_time_ms: f64,
    /// When the faults healed.
    pub heal_time_ms: Option<f64>,
    /// From healing to the moment every replica had every op.
    pub convergence_ms: Option<f64>,
    pub ops: u64,
    pub final_len: usize,
    pub datagrams_sent: u64,
    pub datagrams_delivered: u64,
    pub datagrams_dropped: u64,
    pub datagrams_duplicated: u64,
    pub drops: DropCounts,
    pub bytes_sent: u64,
    pub retransmits: u64,
    pub crashes: u64,
    /// Acknowledged ops a disk lost in a crash (only a lying disk,
    /// `--sabotage no-sync`, loses any).
    pub unsynced_ops_lost: u64,
    /// Replicas booted again from their simulated disk after a crash.
    pub restarts: u64,
    /// Newcomers that joined during the run.
    pub joins: u64,
    /// Disk writes that met a fault (`--disk-faults`).
    pub disk_faults: u64,
    /// Times a node rejoined its group under a new replica id.
    pub rejoins: u64,
    /// Undos and redos that changed the text (`--undo`).
    pub undos: u64,
    /// Restarts that booted from a backup of the disk (`--restores`).
    pub restores: u64,
    pub partitions: u64,
    pub offline_periods: u64,
    pub safety_checks: u64,
    /// At the end, the fewest other nodes any node knew (peer exchange
    /// should make this `nodes - 1` whatever the topology).
    pub min_peers_known: usize,
    /// At the end, the most peers any node kept full state for (fewer
    /// than it knew in a large group: `node::Config::view_max`).
    pub max_peers_held: usize,
    pub op_latency_ms: Latency,
    /// Per op: from its edit until the last other replica has it.
    pub last_delivery_ms: Latency,
    /// Cost per member: datagrams (and bytes) sent, divided by the node
    /// count and by the op count.
    pub datagrams_per_node_per_op: f64,
    pub bytes_per_node_per_op: f64,
    pub cleanup: Cleanup,
    pub faults: FaultSettings,
}

/// Tombstone cleanup (see `doc::collect`), at the end of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cleanup {
    /// `node::Config::collect_min_runs` (0: cleanup off).
    pub min_runs: usize,
    /// Chars deleted over the whole run (what a replica that never cleans up holds).
    pub tombstones_made: usize,
    /// The most tombstones any live node still holds (position markers).
    pub tombstones_held_max: usize,
    /// The most tombstones any live node has removed.
    pub tombstones_reclaimed_max: u64,
    /// From convergence until every node had cleaned up all its history
    /// (with `--settle`).
    pub settled_after_ms: Option<f64>,
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1} ms"))
}

impl Report {
    /// The human summary. `wall` is the real time the run took (measured by
    /// the program, never inside the simulation).
    pub fn summary(&self, wall: Option<Duration>) -> String {
        let f = &self.faults;
        let mut s = String::new();
        let verdict = if self.converged {
            "CONVERGED".to_string()
        } else {
            format!(
                "NOT CONVERGED: {}",
                self.failure.as_deref().unwrap_or("unknown")
            )
        };
        s += &format!(
            "rumor sim  seed {}  {} nodes  {} ops  -> {verdict}\n",
            self.seed, self.nodes, self.ops
        );
        s += &format!(
            "faults     {}topology {}, loss {}, dup {}, reorder {}, delay {:.1}±{:.1} ms, mtu {}\n",
            if f.swarm { "(swarm) " } else { "" },
            f.topology,
            f.loss,
            f.dup,
            f.reorder,
            f.delay_ms,
            f.jitter_ms,
            f.mtu
        );
        s += &format!(
            "           partitions {} (~{:.0} ms), crashes {}/min (~{:.0} ms down), disk faults {}, offline {}/min (~{:.0} ms), hot spots {}{}\n",
            f.partitions,
            f.partition_ms,
            f.crashes_per_min,
            f.downtime_ms,
            f.disk_faults_p,
            f.offline_per_min,
            f.offline_ms,
            if f.hot_spots { "on" } else { "off" },
            f.sabotage.as_ref().map_or(String::new(), |b| format!(", SABOTAGE {b}"))
        );
        s += &format!(
            "happened   {} partitions, {} crashes ({} restarts from disk, {} acknowledged ops lost), {} disk faults, {} joins, {} rejoins, {} offline periods\n",
            self.partitions,
            self.crashes,
            self.restarts,
            self.unsynced_ops_lost,
            self.disk_faults,
            self.joins,
            self.rejoins,
            self.offline_periods
        );
        if self.restores > 0 {
            s += &format!(
                "restores   {} restarts booted from a backup of their disk\n",
                self.restores
            );
        }
        if self.undos > 0 {
            s += &format!(
                "undo       {} undos and redos changed the text\n",
                self.undos
            );
        }
        s += &format!(
            "events     {}  simulated {:.1} s",
            self.events,
            self.sim_time_ms / 1000.0
        );
        if let Some(wall) = wall {
            let secs = wall.as_secs_f64().max(1e-9);
            s += &format!(
                "  wall {:.3} s  {:.0} events/s  {:.0}x real time",
                secs,
                self.events as f64 / secs,
                self.sim_time_ms / 1000.0 / secs
            );
        }
        let k = &self.events_by_kind;
        s += &format!(
            "\n           ({} deliveries, {} timers, {} typist wake-ups, {} other)\n",
            k.deliveries, k.timers, k.typist_wakeups, k.other
        );
        let d = &self.drops;
        s += &format!(
            "datagrams  {} sent, {} delivered, {} lost (loss {}, partition {}, mtu {}, offline {}, down {}, unknown {}), {} duplicated, {} bytes, {} retransmits\n",
            self.datagrams_sent,
            self.datagrams_delivered,
            self.datagrams_dropped,
            d.loss,
            d.partition,
            d.mtu,
            d.offline,
            d.down,
            d.unknown_address,
            self.datagrams_duplicated,
            self.bytes_sent,
            self.retransmits
        );
        let l = &self.op_latency_ms;
        s += &format!(
            "latency    op propagation p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)\n",
            l.p50, l.p99, l.max, l.count
        );
        let l = &self.last_delivery_ms;
        s += &format!(
            "           last delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} ops reached every node)\n",
            l.p50, l.p99, l.max, l.count
        );
        s += &format!(
            "per node   {:.2} datagrams and {:.0} bytes sent per op\n",
            self.datagrams_per_node_per_op, self.bytes_per_node_per_op
        );
        let c = &self.cleanup;
        s += &format!(
            "cleanup    {}: {} chars deleted, at most {} tombstones held and {} reclaimed per node{}\n",
            match c.min_runs {
                0 => "off".to_string(),
                n => format!("at {n} runs"),
            },
            c.tombstones_made,
            c.tombstones_held_max,
            c.tombstones_reclaimed_max,
            c.settled_after_ms
                .map_or(String::new(), |ms| format!(", all history cleaned up {ms:.0} ms after converging"))
        );
        s += &format!(
            "healed at  {}  converged after {}  final text {} chars  {} safety checks  every node knows >= {} others\n",
            opt_ms(self.heal_time_ms),
            opt_ms(self.convergence_ms),
            self.final_len,
            self.safety_checks,
            self.min_peers_known
        );
        s += &format!(
            "hashes     final_text_hash {}  trace_hash {}\n",
            self.final_text_hash, self.trace_hash
        );
        s
    }
}
