//! The simulation's configuration: world size, network faults, crashes,
//! workload, and swarm testing (a seed draws its own fault mix).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::net::Partition;
use crate::queue::Micros;

/// How nodes are introduced to each other at start; the rest is learned by peer exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Every node knows every other.
    Mesh,
    /// Node i knows node i+1.
    Chain,
    /// Every node knows node 0.
    Star,
    /// A random spanning tree plus a few random extra links.
    Random,
}

impl Topology {
    pub const ALL: [Topology; 4] = [
        Topology::Mesh,
        Topology::Chain,
        Topology::Star,
        Topology::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Topology::Mesh => "mesh",
            Topology::Chain => "chain",
            Topology::Star => "star",
            Topology::Random => "random",
        }
    }

    pub fn parse(s: &str) -> Result<Topology, String> {
        match s {
            "mesh" | "full" | "full-mesh" => Ok(Topology::Mesh),
            "chain" => Ok(Topology::Chain),
            "star" => Ok(Topology::Star),
            "random" => Ok(Topology::Random),
            _ => Err(format!(
                "unknown topology `{s}` (expected mesh, chain, star or random)"
            )),
        }
    }

    /// The peers each node is given at start (`peers[i]`: addresses node i adds).
    pub fn initial_peers(self, nodes: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        let mut peers = vec![Vec::new(); nodes];
        match self {
            Topology::Mesh => {
                for (i, p) in peers.iter_mut().enumerate() {
                    p.extend((0..nodes).filter(|&j| j != i));
                }
            }
            Topology::Chain => {
                for (i, p) in peers.iter_mut().enumerate().take(nodes.saturating_sub(1)) {
                    p.push(i + 1);
                }
            }
            Topology::Star => {
                for p in peers.iter_mut().skip(1) {
                    p.push(0);
                }
            }
            Topology::Random => {
                // Each node after the first links to a random earlier one: connected.
                for (i, p) in peers.iter_mut().enumerate().skip(1) {
                    p.push(rng.random_range(0..i));
                }
                for _ in 0..nodes / 2 {
                    let a = rng.random_range(0..nodes);
                    let b = rng.random_range(0..nodes);
                    if a != b && !peers[a].contains(&b) {
                        peers[a].push(b);
                    }
                }
            }
        }
        peers
    }
}

/// A partition that starts and heals at fixed virtual times.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledPartition {
    pub start: Micros,
    pub end: Micros,
    pub partition: Partition,
}

/// When partitions happen: at random (a rate), or on a fixed schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Partitions {
    /// On average this many partitions start per virtual minute; each lasts
    /// `partition_ms` on average.
    Rate(f64),
    Schedule(Vec<ScheduledPartition>),
}

impl Partitions {
    /// Parses `RATE` (partitions per virtual minute, e.g. `2` or `0.5`) or a
    /// schedule: `START..END=GROUPS;...` with times in ms (or with an `s`
    /// suffix), GROUPS either `0,1/2,3` (two-way split) or `0,1>2` (one-way:
    /// 0 and 1 cannot send to 2). Example: `5s..15s=0,1/2,3,4;20s..25s=0>1`.
    pub fn parse(s: &str, nodes: usize) -> Result<Partitions, String> {
        let s = s.trim();
        if let Ok(rate) = s.parse::<f64>() {
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(format!("partition rate must be >= 0, got {s}"));
            }
            return Ok(Partitions::Rate(rate));
        }
        let mut schedule = Vec::new();
        for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (times, groups) = entry
                .split_once('=')
                .ok_or_else(|| format!("partition `{entry}`: expected START..END=GROUPS"))?;
            let (start, end) = times
                .split_once("..")
                .ok_or_else(|| format!("partition `{entry}`: expected START..END"))?;
            let (start, end) = (parse_time(start)?, parse_time(end)?);
            if end <= start {
                return Err(format!("partition `{entry}`: end must be after start"));
            }
            let node_list = |g: &str| -> Result<Vec<usize>, String> {
                g.split(',')
                    .map(|n| {
                        let n: usize = n
                            .trim()
                            .parse()
                            .map_err(|_| format!("partition `{entry}`: bad node `{n}`"))?;
                        if n >= nodes {
                            return Err(format!(
                                "partition `{entry}`: node {n} out of range (0..{nodes})"
                            ));
                        }
                        Ok(n)
                    })
                    .collect()
            };
            let partition = if let Some((from, to)) = groups.split_once('>') {
                Partition::OneWay {
                    from: node_list(from)?,
                    to: node_list(to)?,
                }
            } else {
                let groups: Vec<_> = groups.split('/').map(node_list).collect::<Result<_, _>>()?;
                if groups.len() < 2 {
                    return Err(format!(
                        "partition `{entry}`: a split needs at least two groups (a/b)"
                    ));
                }
                Partition::Split(groups)
            };
            schedule.push(ScheduledPartition {
                start,
                end,
                partition,
            });
        }
        Ok(Partitions::Schedule(schedule))
    }

    pub fn describe(&self) -> String {
        match self {
            Partitions::Rate(r) => format!("{r}/min"),
            Partitions::Schedule(s) => s
                .iter()
                .map(|p| {
                    format!(
                        "{}ms..{}ms={}",
                        p.start / 1000,
                        p.end / 1000,
                        p.partition.describe()
                    )
                })
                .collect::<Vec<_>>()
                .join(";"),
        }
    }
}

fn parse_time(s: &str) -> Result<Micros, String> {
    let s = s.trim();
    let (num, scale) = match s.strip_suffix("ms") {
        Some(n) => (n, 1_000.0),
        None => match s.strip_suffix('s') {
            Some(n) => (n, 1_000_000.0),
            None => (s, 1_000.0),
        },
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad time `{s}` (e.g. 1500, 1500ms or 1.5s)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("bad time `{s}`"));
    }
    Ok((v * scale) as Micros)
}

/// A bug planted on purpose, to prove the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// The network never heals: a one-way cut from node 0 to node 1 stays forever.
    NeverHeal,
    /// The store never syncs: a crash loses everything, even a node's own edits.
    NoSync,
    /// A broken protocol node: the real node behind a filter that acks but
    /// drops some received ops (`broken::DroppingNode`, which the `sim`
    /// program and [`crate::run`] pick for it); the toy's variant without
    /// anti-entropy.
    BrokenNode,
}

impl Sabotage {
    pub fn parse(s: &str) -> Result<Sabotage, String> {
        match s {
            "never-heal" => Ok(Sabotage::NeverHeal),
            "no-sync" => Ok(Sabotage::NoSync),
            "broken-node" => Ok(Sabotage::BrokenNode),
            _ => Err(format!(
                "unknown sabotage `{s}` (expected never-heal, no-sync or broken-node)"
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Sabotage::NeverHeal => "never-heal",
            Sabotage::NoSync => "no-sync",
            Sabotage::BrokenNode => "broken-node",
        }
    }
}

/// Everything that defines a run. The same config gives the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// Edits made by all typists together.
    pub ops: u64,
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub delay_ms: f64,
    pub jitter_ms: f64,
    /// Largest datagram a link carries (and the node's configured MTU).
    pub mtu: usize,
    /// The smallest link MTU: each link's MTU is drawn from `link_mtu ..= mtu + 300`.
    /// Below `mtu`, big datagrams on some links are dropped (a path MTU the
    /// nodes were not told about).
    pub link_mtu: Option<usize>,
    pub partitions: Partitions,
    pub partition_ms: f64,
    /// Crashes per virtual minute (each followed by a restart).
    pub crashes: f64,
    pub downtime_ms: f64,
    /// Offline periods per virtual minute (editing goes on, no traffic).
    pub offline: f64,
    pub offline_ms: f64,
    pub topology: Topology,
    /// Several typists at one place at once now and then.
    pub hot_spots: bool,
    /// How long the fault phase lasts at least (it also lasts until the workload is done).
    pub fault_ms: f64,
    /// After healing, every node must converge within this much virtual time.
    pub deadline_ms: f64,
    /// Kept for old command lines; no longer used: the host (as in rumor)
    /// makes every batch durable before the node sends anything.
    pub sync_ms: f64,
    /// The share of disk writes (syncs, snapshots) that meet a fault: a
    /// failed sync that left part of the batch on disk, or a full disk for
    /// the next few writes (see `disk`).
    pub disk_faults: f64,
    /// Newcomers that join during the run (`Config::joining`, as `rumor`
    /// starts a replica that holds nothing and is given a peer), beside
    /// `nodes` founders.
    pub joins: usize,
    /// Full replica consistency check every this many virtual ms (0: only at the end).
    pub check_ms: f64,
    /// Give up (not converged) after this many events.
    pub max_events: u64,
    /// The fault mix was drawn from the seed (see [`SimConfig::swarm`]).
    pub swarm: bool,
    pub sabotage: Option<Sabotage>,
    /// A node lacking this many ops (and most of the document) gets a
    /// snapshot instead of ops (`node::Config::snapshot_min_ops`).
    pub snapshot_min_ops: u64,
    /// Tombstone cleanup runs once this many history runs are not yet
    /// cleaned up (`node::Config::collect_min_runs`); 0 (the default for
    /// one run; swarm runs draw it): no cleanup. With cleanup on, remote
    /// ops are synced before the node sends (see `sync_ms`).
    pub cleanup_min_runs: usize,
    /// After converging, run on until every node has cleaned up all its
    /// history, then check that what it holds is bounded by its text.
    pub settle: bool,
    /// The share of keystrokes that are an undo (or, one time in three, a
    /// redo) of the typist's own edits instead (0: none, as before).
    pub undo: f64,
    /// The share of restarts that boot from a backup of the node's disk
    /// (an earlier image of it, as a restored data directory or a VM
    /// rolled back), when every op the backup lacks is held by another
    /// replica (0: none, as before).
    pub restores: f64,
    /// Every node on one LAN segment, knowing no address at start: nodes
    /// find each other by their announcements (`node::discovery`), which
    /// every node of the segment hears (each copy meets the link's faults).
    pub lan: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            nodes: 5,
            ops: 500,
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            delay_ms: 20.0,
            jitter_ms: 5.0,
            mtu: 1200,
            link_mtu: None,
            partitions: Partitions::Rate(0.0),
            partition_ms: 5_000.0,
            crashes: 0.0,
            downtime_ms: 3_000.0,
            offline: 0.0,
            offline_ms: 5_000.0,
            topology: Topology::Mesh,
            hot_spots: true,
            fault_ms: 0.0,
            deadline_ms: 60_000.0,
            sync_ms: 50.0,
            disk_faults: 0.0,
            joins: 0,
            check_ms: 30_000.0,
            max_events: 50_000_000,
            swarm: false,
            sabotage: None,
            snapshot_min_ops: 4096,
            cleanup_min_runs: 0,
            settle: false,
            undo: 0.0,
            restores: 0.0,
            lan: false,
        }
    }
}

/// A value of a fault knob: off half the time, else drawn from a range.
fn maybe(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if rng.random_bool(0.5) {
        0.0
    } else {
        lo + (hi - lo) * rng.random::<f64>()
    }
}

impl SimConfig {
    /// Swarm testing: replaces the fault knobs and topology with a mix drawn
    /// from the seed alone, each fault switched off half the time. Sizes
    /// (nodes, ops, mtu, deadline) are kept, so `--seed S --swarm` with the
    /// same sizes replays the same run.
    pub fn swarm(mut self) -> SimConfig {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5357_4152_4d5f_6d69);
        self.loss = maybe(&mut rng, 0.01, 0.5);
        self.dup = maybe(&mut rng, 0.01, 0.3);
        self.reorder = maybe(&mut rng, 0.01, 0.3);
        self.delay_ms = 1.0 + 150.0 * rng.random::<f64>();
        self.jitter_ms = maybe(&mut rng, 0.0, self.delay_ms);
        self.partitions = Partitions::Rate(maybe(&mut rng, 0.5, 6.0));
        self.partition_ms = 500.0 + 10_000.0 * rng.random::<f64>();
        self.crashes = maybe(&mut rng, 0.5, 6.0);
        self.downtime_ms = 100.0 + 5_000.0 * rng.random::<f64>();
        self.offline = maybe(&mut rng, 0.5, 6.0);
        self.offline_ms = 500.0 + 10_000.0 * rng.random::<f64>();
        self.topology = Topology::ALL[rng.random_range(0..Topology::ALL.len())];
        self.hot_spots = rng.random_bool(0.7);
        // Half the seeds send snapshots at the least excuse, so the
        // snapshot path meets every fault too.
        self.snapshot_min_ops = if rng.random_bool(0.5) { 16 } else { 4096 };
        // Cleanup off, eager or lazy; when eager, the run also settles and
        // checks that what the nodes hold is bounded (lazy cleanup leaves
        // up to 63 runs of history on purpose).
        self.cleanup_min_runs = [0, 1, 64][rng.random_range(0..3)];
        self.settle = self.cleanup_min_runs == 1;
        // Drawn last, so the mixes above stay what they were for each seed.
        self.disk_faults = maybe(&mut rng, 0.005, 0.2);
        self.joins = rng.random_range(0..=2);
        // A LAN where nodes find each other, a quarter of the seeds
        // (`--lan` makes it every seed).
        self.lan |= rng.random_bool(0.25);
        self.swarm = true;
        self
    }

    /// Checks ranges; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        let prob = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("--{name} must be a probability in 0..=1, got {v}"))
            }
        };
        prob("loss", self.loss)?;
        prob("dup", self.dup)?;
        prob("reorder", self.reorder)?;
        prob("disk-faults", self.disk_faults)?;
        prob("undo", self.undo)?;
        prob("restores", self.restores)?;
        if self.disk_faults >= 1.0 {
            return Err("--disk-faults 1 fails every write: nothing could be made durable".into());
        }
        if self.loss >= 1.0 {
            return Err("--loss 1 loses every datagram: nothing could converge".into());
        }
        // Upper bounds keep virtual-time arithmetic (microseconds in a u64)
        // far from overflow and a run from spinning at one instant.
        const MAX_MS: f64 = 1e9; // about 11.6 virtual days
        const MAX_RATE: f64 = 1e4; // per virtual minute
        let within = |name: &str, v: f64, max: f64| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!("--{name} must be a number in 0..={max}, got {v}"))
            }
        };
        within("delay", self.delay_ms, MAX_MS)?;
        within("jitter", self.jitter_ms, MAX_MS)?;
        within("partition-ms", self.partition_ms, MAX_MS)?;
        within("crashes", self.crashes, MAX_RATE)?;
        within("downtime-ms", self.downtime_ms, MAX_MS)?;
        within("offline", self.offline, MAX_RATE)?;
        within("offline-ms", self.offline_ms, MAX_MS)?;
        within("fault-ms", self.fault_ms, MAX_MS)?;
        within("deadline-ms", self.deadline_ms, MAX_MS)?;
        within("sync-ms", self.sync_ms, MAX_MS)?;
        within("check-ms", self.check_ms, MAX_MS)?;
        if self.nodes == 0 || self.nodes > 1000 {
            return Err(format!("--nodes must be in 1..=1000, got {}", self.nodes));
        }
        if self.nodes + self.joins > 1000 {
            return Err(format!(
                "--nodes plus --joins must be at most 1000, got {}",
                self.nodes + self.joins
            ));
        }
        // The node would clamp anything else (and run at another MTU than
        // the one asked for), so refuse it here instead.
        let (lo, hi) = (rumor::wire::MIN_MTU, rumor::wire::MAX_DATAGRAM);
        if self.mtu < lo || self.mtu > hi {
            return Err(format!("--mtu must be in {lo}..={hi}, got {}", self.mtu));
        }
        if self.snapshot_min_ops == 0 {
            return Err("--snapshot-min-ops must be at least 1, got 0".into());
        }
        if let Some(l) = self.link_mtu {
            if l < 64 || l > self.mtu + 300 {
                return Err(format!(
                    "--link-mtu must be in 64..=(--mtu + 300) = {}, got {l}",
                    self.mtu + 300
                ));
            }
        }
        if let Partitions::Rate(r) = self.partitions {
            within("partitions", r, MAX_RATE)?;
        }
        Ok(())
    }

    /// The flags that replay this run with the `sim` program: `--swarm`
    /// when the seed draws exactly this mix, else every flag (a test may
    /// draw a swarm mix and then change its topology or cleanup).
    pub fn command_line(&self) -> String {
        let drawn_as_is = self.swarm
            && SimConfig {
                swarm: false,
                ..self.clone()
            }
            .swarm()
                == *self;
        let explicit = SimConfig {
            swarm: drawn_as_is,
            ..self.clone()
        };
        explicit.flags()
    }

    fn flags(&self) -> String {
        let mut s = format!(
            "sim --seed {} --nodes {} --ops {} --mtu {} --deadline-ms {} --sync-ms {} --check-ms {}",
            self.seed, self.nodes, self.ops, self.mtu, self.deadline_ms, self.sync_ms, self.check_ms
        );
        if self.fault_ms > 0.0 {
            s += &format!(" --fault-ms {}", self.fault_ms);
        }
        if let Some(l) = self.link_mtu {
            s += &format!(" --link-mtu {l}");
        }
        if self.max_events != SimConfig::default().max_events {
            s += &format!(" --max-events {}", self.max_events);
        }
        if !self.swarm && self.snapshot_min_ops != SimConfig::default().snapshot_min_ops {
            s += &format!(" --snapshot-min-ops {}", self.snapshot_min_ops);
        }
        if !self.swarm && self.cleanup_min_runs != SimConfig::default().cleanup_min_runs {
            s += &format!(" --cleanup-min-runs {}", self.cleanup_min_runs);
        }
        if !self.swarm && self.settle {
            s += " --settle";
        }
        if self.swarm {
            s += " --swarm";
        } else {
            s += &format!(
                " --loss {} --dup {} --reorder {} --delay {} --jitter {} --partitions '{}' \
                 --partition-ms {} --crashes {} --downtime-ms {} --offline {} --offline-ms {} \
                 --topology {} --disk-faults {} --joins {}",
                self.loss,
                self.dup,
                self.reorder,
                self.delay_ms,
                self.jitter_ms,
                match &self.partitions {
                    Partitions::Rate(r) => r.to_string(),
                    p => p.describe(),
                },
                self.partition_ms,
                self.crashes,
                self.downtime_ms,
                self.offline,
                self.offline_ms,
                self.topology.name(),
                self.disk_faults,
                self.joins
            );
            if !self.hot_spots {
                s += " --no-hot-spots";
            }
        }
        if self.restores > 0.0 {
            s += &format!(" --restores {}", self.restores);
        }
        if self.undo > 0.0 {
            s += &format!(" --undo {}", self.undo);
        }
        if self.lan {
            s += " --lan";
        }
        if let Some(b) = self.sabotage {
            s += &format!(" --sabotage {}", b.name());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_and_schedules() {
        assert_eq!(Partitions::parse("2.5", 3), Ok(Partitions::Rate(2.5)));
        let p = Partitions::parse("5s..15s=0,1/2; 20000..25000=0>1,2", 3).unwrap();
        let Partitions::Schedule(s) = p else { panic!() };
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].start, s[0].end), (5_000_000, 15_000_000));
        assert_eq!(s[0].partition, Partition::Split(vec![vec![0, 1], vec![2]]));
        assert_eq!(
            s[1].partition,
            Partition::OneWay {
                from: vec![0],
                to: vec![1, 2]
            }
        );
        assert!(Partitions::parse("5s..1s=0/1", 2).is_err());
        assert!(Partitions::parse("1..2=0/7", 2).is_err());
        assert!(Partitions::parse("1..2=0", 2).is_err());
        assert!(Partitions::parse("-1", 2).is_err());
        assert!(Partitions::parse("nonsense", 2).is_err());
    }

    #[test]
    fn swarm_is_a_function_of_the_seed() {
        let a = SimConfig {
            seed: 9,
            ..Default::default()
        };
        assert_eq!(a.clone().swarm(), a.clone().swarm());
        // Across many seeds, each fault is sometimes on and sometimes off.
        let mixes: Vec<_> = (0..100)
            .map(|seed| SimConfig { seed, ..a.clone() }.swarm())
            .collect();
        for f in [|c: &SimConfig| c.loss, |c: &SimConfig| c.crashes] {
            assert!(mixes.iter().any(|c| f(c) == 0.0) && mixes.iter().any(|c| f(c) > 0.0));
        }
        assert!(mixes.iter().all(|c| c.validate().is_ok()));
    }

    #[test]
    fn a_swarm_mix_changed_after_drawing_replays_with_explicit_flags() {
        let drawn = SimConfig {
            seed: 2042,
            ..Default::default()
        }
        .swarm();
        assert!(drawn.command_line().contains("--swarm"));
        let star = SimConfig {
            topology: Topology::Star,
            cleanup_min_runs: 1,
            ..drawn.clone()
        };
        assert_ne!(
            star, drawn,
            "seed 2042 does not draw a star cleaning at every run"
        );
        let line = star.command_line();
        assert!(!line.contains("--swarm"), "{line}");
        assert!(
            line.contains("--topology star") && line.contains("--cleanup-min-runs 1"),
            "{line}"
        );
    }

    #[test]
    fn topologies_connect_every_node() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for t in Topology::ALL {
            for n in 1..9 {
                let peers = t.initial_peers(n, &mut rng);
                // Undirected reachability from node 0.
                let mut seen = vec![false; n];
                let mut stack = vec![0];
                while let Some(a) = stack.pop() {
                    if std::mem::replace(&mut seen[a], true) {
                        continue;
                    }
                    for b in 0..n {
                        if peers[a].contains(&b) || peers[b].contains(&a) {
                            stack.push(b);
                        }
                    }
                }
                assert!(seen.iter().all(|&s| s), "{t:?} {n}");
            }
        }
    }
}
