//! The simulated world: real `Node`s, the event queue, the network, the
//! stores, the typists, the faults, and the checker that watches them.
//!
//! A run has two phases, as in TigerBeetle's VOPR. In the fault phase the
//! typists edit while the network loses, duplicates, delays and reorders
//! datagrams, partitions come and go, nodes crash and restart, and go
//! offline. When the workload is done the faults heal: partitions lift, loss
//! stops, every node is up and online, and every replica must then reach the
//! same text (equal to a fresh replica given every op ever made) before a
//! deadline of virtual time. Safety is checked throughout.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;

use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Change, LocalEdits, UndoStack};
use rumor::host::{BootConfig, Host};
use rumor::node::{Config, Discovery, Event as NodeEvent, Node, Time, Transmit, ANNOUNCE_INTERVAL};
use rumor::wire::GroupKey;
use rumor::{Doc, ReplicaId, VersionVector};

use crate::config::{Partitions, Sabotage, SimConfig};
use crate::disk::SimDisk;
use crate::hash::{fnv64, TraceHash};
use crate::net::{DropReason, LinkFaults, Network, Partition, Route};
use crate::protocol::SimNode;
use crate::queue::{EventQueue, Micros};
use crate::report::{Cleanup, DropCounts, EventKinds, FaultSettings, Latency, Report};
use crate::workload::{next_hot_spot, Edit, HotSpot, Typist};

mod check;
use check::{Oracle, Replay, Shadows};

const MS: f64 = 1_000.0;
/// The port every simulated node listens on (addresses differ by IP).
const PORT: u16 = 7000;

/// The loopback address of node `i`: 127.0.x.y, never anything routable.
pub fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, (i / 250) as u8, (i % 250 + 1) as u8], PORT))
}

/// How long a node of `--lan` looks for a member before it founds the
/// document (`node::Config::found_after`).
const LAN_FOUND_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Where LAN announcements go (`--lan`): every node of the segment
/// hears what is sent here.
pub fn lan_group() -> SocketAddr {
    SocketAddr::from(([239, 255, 82, 77], PORT))
}

/// The node at `addr`, if it is one of `nodes`.
pub fn node_index(addr: SocketAddr, nodes: usize) -> Option<usize> {
    match addr {
        SocketAddr::V4(a) if a.port() == PORT => {
            let [a0, a1, x, y] = a.ip().octets();
            let i = (x as usize) * 250 + (y as usize).checked_sub(1)?;
            (a0 == 127 && a1 == 0 && (1..=250).contains(&y) && i < nodes).then_some(i)
        }
        _ => None,
    }
}

/// Something that happens at one instant of virtual time.
#[derive(Debug)]
enum Event {
    /// A datagram arrives. (Node indices as u32 keep queue entries small:
    /// the queue moves them on every push and pop.)
    Deliver {
        from: u32,
        to: u32,
        bytes: Vec<u8>,
    },
    /// A node's timer; stale unless `gen` is the node's current timer generation.
    Timer {
        node: usize,
        gen: u64,
    },
    /// A typist wakes up.
    Type {
        node: usize,
    },
    HotSpot(HotSpot),
    /// The end of the allowance for cleaning up after converging.
    SettleDeadline,
    RandomPartition,
    PartitionStart(u64, Box<Partition>),
    PartitionEnd(u64),
    RandomCrash,
    Restart {
        node: usize,
        incarnation: u32,
    },
    RandomOffline,
    Online {
        node: usize,
        token: u64,
    },
    Check,
    Heal,
    Deadline,
}

/// A node as the place an undo makes its edits.
struct NodeEdits<'a, N: SimNode> {
    node: &'a mut N,
    now: Time,
}

impl<N: SimNode> LocalEdits for NodeEdits<'_, N> {
    fn doc(&self) -> &Doc {
        self.node.doc()
    }
    fn insert(&mut self, pos: usize, text: &str) -> Result<(), rumor::doc::Error> {
        let text = text.to_string();
        self.node.edit(self.now, Edit::Insert { pos, text })
    }
    fn delete(&mut self, pos: usize, len: usize) -> Result<(), rumor::doc::Error> {
        self.node.edit(self.now, Edit::Delete { pos, len })
    }
}

/// One simulated machine: the hosted replica (none while crashed) over its
/// disk, which survives it.
struct Replica<N: SimNode> {
    addr: SocketAddr,
    id: ReplicaId,
    /// The replica, as `rumor` hosts it: node and disk, persist then send.
    host: Option<Host<SimDisk, N>>,
    /// The disk while the machine is down.
    disk: Option<SimDisk>,
    /// The most this node ever had (for latency: each op counted once per node).
    seen: VersionVector,
    /// The total of its host's persisted version at the last drain.
    persisted_total: u64,
    timer_at: Option<Micros>,
    timer_gen: u64,
    /// Counts restarts; a pending restart of an older life is ignored.
    incarnation: u32,
    online: bool,
    /// Identifies the current offline period.
    offline_token: u64,
    typist: Typist,
    /// The length of the text an editor following this node's events would
    /// show: local edits plus the patches of `RemoteEdit` events.
    shown_len: usize,
    /// The ops of this node the safety checks found as their authors made
    /// them (reset when the node restarts: its log is rebuilt from the store).
    vouched: VersionVector,
    /// Not yet a member: it was started as a newcomer (see `boot`) and has
    /// not had a member's document yet. Its ops were never sent.
    newcomer: bool,
    /// The node's `rejoins` when its id was last looked at (this life).
    rejoins_seen: u64,
    /// An earlier image of the disk (`--restores`), taken at a restart.
    backup: Option<SimDisk>,
    /// The typist's own edits, for undo and redo (`--undo`). In memory:
    /// a crash forgets it, as it does in `rumor`.
    undo: UndoStack,
}

/// Virtual time allowed for cleaning up all history after the deadline
/// (reports travel with anti-entropy, every 5 s to one random peer).
const SETTLE_MS: f64 = 600_000.0;

impl<N: SimNode> Replica<N> {
    fn node(&self) -> Option<&N> {
        self.host.as_ref().map(|h| h.node())
    }
    fn node_mut(&mut self) -> Option<&mut N> {
        self.host.as_mut().map(|h| h.node_mut())
    }
    /// The node, unless its document holds ops its disk refused (its own
    /// among them, which count as made only once durable): the checks
    /// that compare a document with what was made wait for the write.
    fn durable_node(&self) -> Option<&N> {
        let host = self.host.as_ref()?;
        host.persist_error().is_none().then(|| host.node())
    }
    fn is_up(&self) -> bool {
        self.host.is_some()
    }
    /// The disk: in the host, or beside it while the machine is down.
    /// (None only after a boot failed, which ends the run.)
    fn disk(&self) -> Option<&SimDisk> {
        match &self.host {
            Some(h) => h.store(),
            None => self.disk.as_ref(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Faults,
    Healed,
    /// Converged; waiting for every node to clean up all its history
    /// (`SimConfig::settle`).
    Settling,
    Done,
}

#[derive(Default)]
struct Counters {
    events: u64,
    deliveries: u64,
    timers: u64,
    typist_wakeups: u64,
    sent: u64,
    delivered: u64,
    dropped: u64,
    duplicated: u64,
    bytes: u64,
    drops: DropCounts,
    crashes: u64,
    unsynced_lost: u64,
    restarts: u64,
    joins: u64,
    rejoins_of_dead: u64,
    partitions: u64,
    offline: u64,
    checks: u64,
    undos: u64,
    restores: u64,
}

/// A world of nodes of protocol `N` (the real `Node` unless a test says otherwise).
pub struct Simulation<N: SimNode = Node> {
    cfg: SimConfig,
    queue: EventQueue<Event>,
    net: Network,
    net_rng: ChaCha8Rng,
    fault_rng: ChaCha8Rng,
    work_rng: ChaCha8Rng,
    node_rng: ChaCha8Rng,
    replicas: Vec<Replica<N>>,
    initial_peers: Vec<Vec<usize>>,
    oracle: Oracle,
    shadows: Shadows,
    phase: Phase,
    ops_issued: u64,
    hot_spot: Option<HotSpot>,
    next_partition_id: u64,
    trace_hash: TraceHash,
    trace: Option<Box<dyn Write>>,
    latency: Histogram<u64>,
    /// Per op: from its edit to its arrival at the last other replica.
    last_delivery: Histogram<u64>,
    /// Per author, per op it made (as in `oracle.made`): how many other
    /// replicas have it so far.
    reached: BTreeMap<ReplicaId, Vec<u32>>,
    counters: Counters,
    /// Reused buffer for the datagrams drained from a node.
    transmits: Vec<Transmit>,
    /// Retransmits of nodes that have since crashed (their stats died with them).
    retransmits_of_dead: u64,
    failure: Option<String>,
    heal_at: Option<Micros>,
    converged_at: Option<Micros>,
    /// The replicas before it had every op at an earlier `check_converged`.
    converged_prefix: usize,
    /// When every node had cleaned up all its history (`SimConfig::settle`).
    settled_at: Option<Micros>,
    /// `--lan`, for a protocol that discovers peers (`SimNode::discovers`).
    lan: bool,
}

fn ms(v: f64) -> Micros {
    (v * MS) as Micros
}

/// The wait before the next event of a process of `per_min` events per
/// virtual minute: uniform in `0..=2/per_min` minutes, drawn as an integer.
/// (Not exponential: `ln` is not bit-identical across platforms' libm, and a
/// run must hash the same on every machine.)
fn next_wait(rng: &mut ChaCha8Rng, per_min: f64) -> Micros {
    let mean = (60_000_000.0 / per_min).min(1e15) as Micros;
    rng.random_range(0..=2 * mean)
}

/// A duration around `mean_ms` (uniform in half to one and a half times it).
fn around(rng: &mut ChaCha8Rng, mean_ms: f64) -> Micros {
    ms(mean_ms * (0.5 + rng.random::<f64>()))
}

impl<N: SimNode> Simulation<N> {
    /// Builds the world. `cfg` should be valid ([`SimConfig::validate`]).
    pub fn new(cfg: SimConfig) -> Simulation<N> {
        let mut master = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut derive = || ChaCha8Rng::seed_from_u64(master.random::<u64>());
        let (net_rng, mut fault_rng, work_rng, mut node_rng) =
            (derive(), derive(), derive(), derive());
        // Founding nodes, then the newcomers that join during the run.
        let n = cfg.nodes + cfg.joins;

        let faults = LinkFaults {
            loss: cfg.loss,
            dup: cfg.dup,
            reorder: cfg.reorder,
            delay: ms(cfg.delay_ms),
            jitter: ms(cfg.jitter_ms),
        };
        // Per-link MTU: by default never below the nodes' MTU (a node is told
        // its MTU, it does not discover it), some links carry more.
        let smallest = cfg.link_mtu.unwrap_or(cfg.mtu);
        let link_mtu = (0..n * n)
            .map(|_| fault_rng.random_range(smallest..=cfg.mtu + 300))
            .collect();
        let net = Network::new(n, faults, link_mtu);
        let mut initial_peers = cfg.topology.initial_peers(cfg.nodes, &mut fault_rng);

        // A newcomer is told of one founding node (as `rumor --peer` is).
        for _ in cfg.nodes..n {
            initial_peers.push(vec![fault_rng.random_range(0..cfg.nodes)]);
        }
        let lan = cfg.lan && N::discovers();
        if lan {
            // On a LAN, nobody is told of anyone: discovery finds them.
            // (Drawn above all the same, so the other draws stay as they were.)
            initial_peers.iter_mut().for_each(Vec::clear);
        }
        let mut used = std::collections::BTreeSet::new();
        let lying = cfg.sabotage == Some(Sabotage::NoSync);
        let replicas = (0..n)
            .map(|i| {
                // Random replica ids, so tie-breaks by id are not always in node order.
                let id = loop {
                    let id = node_rng.random::<u64>() >> 1;
                    if used.insert(id) {
                        break ReplicaId(id);
                    }
                };
                let disk_rng = ChaCha8Rng::seed_from_u64(fault_rng.random::<u64>());
                Replica {
                    addr: node_addr(i),
                    id,
                    host: None,
                    disk: Some(SimDisk::new(id, disk_rng, cfg.disk_faults, lying)),
                    seen: VersionVector::new(),
                    persisted_total: 0,
                    timer_at: None,
                    timer_gen: 0,
                    incarnation: 0,
                    rejoins_seen: 0,
                    backup: None,
                    online: true,
                    offline_token: 0,
                    typist: Typist::new(),
                    shown_len: 0,
                    vouched: VersionVector::new(),
                    newcomer: false,
                    undo: UndoStack::new(),
                }
            })
            .collect();

        Simulation {
            queue: EventQueue::new(),
            net,
            net_rng,
            fault_rng,
            work_rng,
            node_rng,
            replicas,
            initial_peers,
            oracle: Oracle {
                doc: Doc::new(ReplicaId(u64::MAX)),
                made: BTreeMap::new(),
            },
            shadows: Shadows::new(),
            phase: Phase::Faults,
            ops_issued: 0,
            hot_spot: None,
            next_partition_id: 0,
            trace_hash: TraceHash::new(),
            trace: None,
            latency: Histogram::new(3).expect("3 significant figures is valid"),
            last_delivery: Histogram::new(3).expect("3 significant figures is valid"),
            reached: BTreeMap::new(),
            counters: Counters::default(),
            transmits: Vec::new(),
            retransmits_of_dead: 0,
            failure: None,
            heal_at: None,
            converged_at: None,
            converged_prefix: 0,
            settled_at: None,
            lan,
            cfg,
        }
    }

    /// Writes a readable line per event to `out`.
    pub fn with_trace(mut self, out: Box<dyn Write>) -> Simulation<N> {
        self.trace = Some(out);
        self
    }

    /// Every replica: founders and newcomers.
    fn total(&self) -> usize {
        self.replicas.len()
    }

    fn start(&mut self) {
        for i in 0..self.cfg.nodes {
            self.boot(i);
        }
        for i in self.cfg.nodes..self.total() {
            // A newcomer arrives during the first 20 s (its first boot).
            let at = self.fault_rng.random_range(ms(1000.0)..ms(20_000.0));
            self.queue.push(
                at,
                Event::Restart {
                    node: i,
                    incarnation: 0,
                },
            );
        }
        for i in 0..self.total() {
            // Typists start at staggered moments.
            let at = self.work_rng.random_range(0..ms(1000.0));
            self.queue.push(at, Event::Type { node: i });
        }
        if self.cfg.hot_spots {
            let (at, spot) = next_hot_spot(&mut self.work_rng, 0);
            self.queue.push(at, Event::HotSpot(spot));
        }
        match self.cfg.partitions.clone() {
            Partitions::Rate(r) if r > 0.0 => {
                let at = next_wait(&mut self.fault_rng, r);
                self.queue.push(at, Event::RandomPartition);
            }
            Partitions::Rate(_) => {}
            Partitions::Schedule(list) => {
                for p in list {
                    let id = self.new_partition_id();
                    self.queue
                        .push(p.start, Event::PartitionStart(id, Box::new(p.partition)));
                    self.queue.push(p.end, Event::PartitionEnd(id));
                }
            }
        }
        if self.cfg.crashes > 0.0 {
            let at = next_wait(&mut self.fault_rng, self.cfg.crashes);
            self.queue.push(at, Event::RandomCrash);
        }
        if self.cfg.offline > 0.0 {
            let at = next_wait(&mut self.fault_rng, self.cfg.offline);
            self.queue.push(at, Event::RandomOffline);
        }
        if self.cfg.check_ms > 0.0 {
            self.queue.push(ms(self.cfg.check_ms), Event::Check);
        }
        if self.cfg.sabotage == Some(Sabotage::NeverHeal) && self.total() > 1 {
            // Node 0 cut off from everyone, for good (ids above any real one).
            let rest = (1..self.total()).collect();
            self.net
                .add_partition(u64::MAX, Partition::Split(vec![vec![0], rest]));
        }
        if self.cfg.ops == 0 {
            self.queue.push(ms(self.cfg.fault_ms), Event::Heal);
        }
    }

    fn new_partition_id(&mut self) -> u64 {
        self.next_partition_id += 1;
        self.next_partition_id
    }

    fn now(&self) -> Micros {
        self.queue.now()
    }

    fn trace_line(&mut self, line: impl FnOnce() -> String) {
        if let Some(out) = self.trace.as_mut() {
            let now = self.queue.now();
            // A trace that cannot be written is not worth stopping the run for.
            let _ = writeln!(out, "{:>12.3} {}", now as f64 / MS, line());
        }
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.trace_line(|| format!("FAIL {why}"));
            self.failure = Some(why);
        }
        self.phase = Phase::Done;
    }

    /// Starts (or restarts) node `i` from what its disk holds, as `rumor`
    /// boots a replica from its data directory.
    fn boot(&mut self, i: usize) {
        let now = self.now();
        let restored = self.maybe_restore(i);
        let rng = ChaCha8Rng::seed_from_u64(self.node_rng.random::<u64>());
        let Some(disk) = self.replicas[i].disk.take() else {
            return; // up already
        };
        let restart = self.replicas[i].incarnation > 0;
        // Founders are the group; the nodes of `--joins` come later.
        let joiner = i >= self.cfg.nodes;
        let mut recovered = disk.recover();
        // The disk's replica id is one an earlier life used, after the first.
        recovered.created = !restart;
        let r = &mut self.replicas[i];
        let mut config = Config {
            mtu: self.cfg.mtu,
            name: format!("n{i}"),
            // Authentication on, as in a real group: the key comes from
            // the seed, and each restart is a new sealing epoch.
            key: Some(GroupKey::from_seed(self.cfg.seed)),
            epoch: u64::from(r.incarnation),
            snapshot_min_ops: self.cfg.snapshot_min_ops,
            collect_min_runs: match self.cfg.cleanup_min_runs {
                0 => usize::MAX,
                n => n,
            },
            join_grace: std::time::Duration::from_secs(5),
            discovery: self.lan.then(|| Discovery {
                group: lan_group(),
                port: PORT,
                interval: ANNOUNCE_INTERVAL,
            }),
            ..Config::default()
        };
        // With cleanup on, a document has one founder, node 0, as `rumor`
        // started without `--peer` founds one; every other node starts as
        // rumor starts a replica told of peers: a newcomer
        // (`Config::joining`) that joins the group, unless its disk says it
        // is a member already (the host decides, from the membership kept).
        // (Founders that have not met cannot clean up soundly: a founder
        // nobody has heard of may hold ops made without what the others
        // cleaned up.) A node of `--joins` is a newcomer too, as
        // `rumor --peer` starts a fresh replica.
        let cleans_up = self.cfg.cleanup_min_runs > 0 && N::cleans_up();
        // (Every node but 0 is a newcomer until its disk says it joined,
        // even one no other node was told of, as `rumor --peer` is: the
        // host restores the membership over `Config::joining`.)
        config.joining = (joiner || cleans_up) && i != 0;
        if self.lan && (joiner || i != 0) {
            // On a LAN, node 0 founds the document (as `rumor --new`), and
            // every other node starts as `rumor --secret-file F` with
            // nothing else does: it looks for its group on the LAN, joins
            // it, and would found a document only if it heard of none in
            // time (see `node::join`, "Founding alone"). (It waits longer
            // than rumor's few seconds: links here lose up to half of all
            // datagrams, and partitions last seconds.)
            config.joining = true;
            config.found_after = Some(LAN_FOUND_AFTER);
        }
        if self.cfg.sabotage == Some(Sabotage::BrokenNode) && !N::break_config(&mut config) {
            return self.fail("this protocol has no broken-node knob".into());
        }
        // With cleanup, node 0 founds the document and the others adopt it
        // as they join; without, every node is a founder of the one
        // document, as if each was told it (an invite).
        let document = if config.joining || cleans_up {
            0
        } else {
            0x5eed_0000 | (self.cfg.seed as u32 & 0xffff) | 1
        };
        let boot = BootConfig {
            node: config,
            peers: self.initial_peers[i]
                .iter()
                .map(|&p| node_addr(p))
                .collect(),
            join_if_new: false,
            keep_history: false,
            document,
        };
        let host: Host<SimDisk, N> = match Host::boot(recovered, Some(disk), boot, rng, Time(now)) {
            Ok(host) => host,
            Err(e) => return self.fail(format!("node {i}: its own disk does not boot: {e}")),
        };
        if host.stats().ops_refused_on_replay > 0 {
            self.replicas[i].disk = host.into_store();
            return self.fail(format!("node {i}: its own disk does not replay"));
        }
        if restart {
            self.counters.restarts += 1;
        } else if joiner {
            self.counters.joins += 1;
            self.trace_line(|| format!("n{i} joins"));
        }
        let r = &mut self.replicas[i];
        r.newcomer = !host.node().is_joined();
        r.rejoins_seen = 0;
        let doc = host.node().doc();
        let own_made = self.oracle.doc.version_ref().get(r.id);
        let own = doc.version_ref().get(r.id);
        if own < own_made && !restored {
            let why = format!(
                "node {i} restarted with {own} of its own {own_made} op ids: local edits were lost and ids would be reused"
            );
            r.disk = host.into_store();
            return self.fail(why);
        }
        if own > own_made {
            // A write that failed reached the disk in part: ops its author
            // never acknowledged nor sent, made now as far as anyone knows.
            for op in doc.ops_since(self.oracle.doc.version_ref()) {
                if let Err(e) = self.oracle.doc.apply(op.clone()) {
                    return self.fail(format!("node {i} booted an op the reference refuses: {e}"));
                }
                self.oracle
                    .made
                    .entry(r.id)
                    .or_default()
                    .push((op.span().end_counter(), now));
            }
        }
        r.typist.cursor = r.typist.cursor.min(doc.len());
        r.shown_len = doc.len();
        r.vouched = VersionVector::new();
        r.persisted_total = host.persisted().total();
        r.host = Some(host);
        r.online = true;
        r.offline_token += 1;
        r.timer_at = None;
        r.timer_gen += 1;
        self.drain(i);
    }

    /// `--restores`, at a restart of node `i`: its disk may be replaced by
    /// its backup (an earlier image, as a restored data directory or a VM
    /// rolled back), if every op that takes away is on another node's disk
    /// (an op nobody else has would be lost for good: the user's own
    /// doing, not the protocol's); otherwise, now and then, the disk as it
    /// is becomes the backup. True if it was restored.
    fn maybe_restore(&mut self, i: usize) -> bool {
        if self.cfg.restores <= 0.0 || self.replicas[i].incarnation == 0 {
            return false;
        }
        let restore = self.fault_rng.random_bool(self.cfg.restores);
        let take_backup = self.fault_rng.random_bool(0.5);
        let mut elsewhere = VersionVector::new();
        for (j, r) in self.replicas.iter().enumerate() {
            if let Some(d) = r.disk().filter(|_| j != i) {
                elsewhere.merge(d.synced_version());
            }
        }
        let r = &mut self.replicas[i];
        let (Some(disk), backup) = (&r.disk, &r.backup) else {
            return false;
        };
        if let Some(backup) = backup.as_ref().filter(|_| restore) {
            let held = backup.synced_version();
            let safe =
                (disk.synced_version().iter()).all(|(a, n)| n <= held.get(a).max(elsewhere.get(a)));
            if safe {
                r.disk = Some(backup.clone());
                self.counters.restores += 1;
                self.trace_line(|| format!("restore n{i} from its backup"));
                return true;
            }
        }
        if take_backup || r.backup.is_none() {
            r.backup = r.disk.clone();
        }
        false
    }

    /// After every call into node `i`: the host settles (persist, then
    /// events; see `rumor::host`), the checker looks at what became durable,
    /// then the host's transmits go out and the node's timer is set.
    fn drain(&mut self, i: usize) {
        let now = self.now();
        // Disjoint borrows: the node lives in `replicas`, the rest is bookkeeping.
        let Simulation {
            replicas,
            oracle,
            queue,
            cfg,
            latency,
            last_delivery,
            reached,
            transmits,
            trace,
            ..
        } = self;
        let r = &mut replicas[i];
        let Some(host) = r.host.as_mut() else {
            return;
        };

        // 0. A node that rejoined as a new replica re-made its ops the
        // group lacked under a new id. Only a newcomer may (its old ops
        // were never sent, so the reference forgets them); a member whose
        // ops the group refused is a broken cleanup promise.
        let id_now = host.node().doc().replica();
        let rejoined = host.node().rejoins() > r.rejoins_seen;
        r.rejoins_seen = host.node().rejoins();
        if id_now != r.id && !rejoined {
            // A life's first edit, under a fresh id (see
            // `node::Config::id_used_before`): the old id's ops stay theirs.
            r.id = id_now;
        } else if id_now != r.id {
            let (old, new) = (r.id, id_now);
            if !r.newcomer {
                let why = format!(
                    "node {i} had to rejoin as a new replica ({old:?} -> {new:?}): the group refused ops of a member"
                );
                return self.fail(why);
            }
            let mut fresh = Doc::new(oracle.doc.replica());
            for op in oracle.doc.ops_since(&VersionVector::new()) {
                if op.id.replica != old {
                    fresh.apply(op).expect("the reference's own ops replay");
                }
            }
            oracle.doc = fresh;
            oracle.made.remove(&old);
            reached.remove(&old);
            r.id = new;
            r.vouched = VersionVector::new();
        }

        // 1. Persist what the document gained (virtual ms stamp the log;
        // a rejoined or snapshot-loaded document is written whole).
        host.settle(now / 1000);
        if !host.fresh().is_empty() {
            let mut failure = None;
            for op in host.fresh() {
                let known = oracle.doc.version_ref().get(r.id);
                if op.id.replica != r.id || op.span().end_counter() <= known {
                    continue;
                }
                // A new op of this node's own, durable now: made now.
                if op.id.counter != known {
                    failure = Some(format!(
                        "node {i} made op {:?} but {known} ids were used",
                        op.id
                    ));
                    break;
                }
                if let Err(e) = oracle.doc.apply(op.clone()) {
                    failure = Some(format!("node {i} made an op the reference refuses: {e}"));
                    break;
                }
                oracle
                    .made
                    .entry(r.id)
                    .or_default()
                    .push((op.span().end_counter(), now));
            }
            let persisted = host.persisted();
            // Only the authors of what was written now can have grown,
            // unless more was written than listed (a document written
            // whole): then every author is looked at.
            let written: u64 = host.fresh().iter().map(|op| op.len()).sum();
            let grown = persisted.total().wrapping_sub(r.persisted_total);
            let mut authors: Vec<ReplicaId> = if grown == written {
                host.fresh().iter().map(|op| op.id.replica).collect()
            } else {
                persisted.iter().map(|(a, _)| a).collect()
            };
            authors.sort_unstable();
            authors.dedup();
            // Safety: a replica never has an op nobody made. Checked for
            // the authors that grew (a pass over hundreds of authors after
            // every datagram with ops cost 3% of a 300-node run); the
            // others had every op checked when they last grew.
            let reference = oracle.doc.version_ref();
            let made_all = authors
                .iter()
                .all(|&a| persisted.get(a) <= reference.get(a));
            debug_assert!(!made_all || reference.dominates(persisted));
            if failure.is_none() && !made_all {
                failure = Some(format!("node {i} has ops nobody made: {persisted:?}"));
            }
            if let Some(why) = failure {
                return self.fail(why);
            }
            r.persisted_total = persisted.total();
            // Latency: each op counted once per receiving node, when it
            // first has all of it.
            for author in authors {
                let count = persisted.get(author);
                let before = r.seen.get(author);
                if count <= before {
                    continue;
                }
                if author != r.id {
                    if let Some(made) = oracle.made.get(&author) {
                        let from = made.partition_point(|&(end, _)| end <= before);
                        let counts = reached.entry(author).or_default();
                        counts.resize(made.len(), 0);
                        for (k, &(end, created)) in made.iter().enumerate().skip(from) {
                            if end > count {
                                break;
                            }
                            // At least 1 us: the histogram's lowest value.
                            let _ = latency.record((now - created).max(1));
                            counts[k] += 1;
                            if counts[k] as usize + 1 == cfg.nodes + cfg.joins {
                                let _ = last_delivery.record((now - created).max(1));
                            }
                        }
                    }
                }
                r.seen.set(author, count);
            }
        }

        if r.newcomer && host.node().is_joined() {
            r.newcomer = false;
        }

        // 2. Events: the typist's cursor follows remote changes, as an editor's would.
        let mut bad_patch = None;
        while let Some(ev) = host.poll_event() {
            if let Some(out) = trace.as_mut() {
                if matches!(
                    ev,
                    NodeEvent::OwnOpsLost { .. }
                        | NodeEvent::Rejoined { .. }
                        | NodeEvent::Founded { .. }
                ) {
                    let _ = writeln!(out, "{:>12.3} n{i} {ev:?}", now as f64 / MS);
                }
            }
            if let NodeEvent::RemoteEdit { patches } = ev {
                for p in patches {
                    if p.pos + p.deleted > r.shown_len {
                        bad_patch = Some(p);
                    }
                    r.shown_len = (r.shown_len + p.inserted).saturating_sub(p.deleted);
                    r.typist.follow_patch(p.pos, p.deleted, p.inserted);
                }
            }
        }
        let real_len = host.node().doc().len();
        if bad_patch.is_some() || r.shown_len != real_len {
            let why = format!(
                "node {i}'s events do not describe its text: an editor following them shows {} chars, the text has {real_len} (bad patch: {bad_patch:?})",
                r.shown_len
            );
            return self.fail(why);
        }

        // 3. Transmits, through the network model (none while a write fails).
        let mut out = std::mem::take(transmits);
        while let Some(t) = host.poll_transmit() {
            out.push(t);
        }

        // 4. The node's next timer; an older timer event becomes stale.
        let next = host.node().poll_timeout().map(|t| t.0);
        if next != r.timer_at {
            r.timer_at = next;
            r.timer_gen += 1;
            if let Some(at) = next {
                let gen = r.timer_gen;
                queue.push(at, Event::Timer { node: i, gen });
            }
        }

        let online = r.online;
        for t in out.drain(..) {
            self.send(i, online, t.to, t.bytes);
        }
        // Keep the buffer's capacity for the next drain.
        self.transmits = out;
        if self.phase == Phase::Healed {
            self.check_converged(i);
        } else if self.phase == Phase::Settling {
            self.check_settled();
        }
    }

    /// Adds a datagram's fate to `trace_hash`: `outcome` 0 for delivered,
    /// else the drop reason's code; then time, endpoints and every byte.
    fn hash_datagram(&mut self, outcome: u64, from: usize, to: usize, bytes: &[u8]) {
        let now = self.now();
        let h = &mut self.trace_hash;
        h.u64(outcome);
        h.u64(now);
        h.u64(from as u64);
        h.u64(to as u64);
        h.u64(bytes.len() as u64);
        h.bytes(bytes);
    }

    fn record_drop(&mut self, from: usize, to: usize, bytes: &[u8], why: DropReason) {
        self.counters.dropped += 1;
        let d = &mut self.counters.drops;
        *match why {
            DropReason::Loss => &mut d.loss,
            DropReason::Partition => &mut d.partition,
            DropReason::Mtu => &mut d.mtu,
            DropReason::Offline => &mut d.offline,
            DropReason::Down => &mut d.down,
            DropReason::UnknownAddress => &mut d.unknown_address,
        } += 1;
        self.hash_datagram(why.code(), from, to, bytes);
        self.trace_line(|| format!("drop {} n{from}->n{to} {} bytes", why.name(), bytes.len()));
    }

    fn send(&mut self, from: usize, online: bool, to_addr: SocketAddr, bytes: Vec<u8>) {
        self.counters.sent += 1;
        self.counters.bytes += bytes.len() as u64;
        if self.lan && to_addr == lan_group() {
            // Multicast: a copy to every other node of the segment, in
            // node order, each meeting its link's faults.
            for to in (0..self.total()).filter(|&to| to != from) {
                self.route(from, to, online, bytes.clone());
            }
            return;
        }
        let Some(to) = node_index(to_addr, self.total()) else {
            self.record_drop(from, usize::MAX, &bytes, DropReason::UnknownAddress);
            return;
        };
        self.route(from, to, online, bytes);
    }

    /// A datagram from node `from` to node `to`, through the network model.
    fn route(&mut self, from: usize, to: usize, online: bool, bytes: Vec<u8>) {
        if !online {
            self.record_drop(from, to, &bytes, DropReason::Offline);
            return;
        }
        match self.net.route(from, to, bytes.len(), &mut self.net_rng) {
            Route::Dropped(why) => self.record_drop(from, to, &bytes, why),
            Route::Delivered { delay, copy } => {
                let now = self.now();
                let (from, to) = (from as u32, to as u32);
                if let Some(d) = copy {
                    self.counters.duplicated += 1;
                    let ev = Event::Deliver {
                        from,
                        to,
                        bytes: bytes.clone(),
                    };
                    self.queue.push(now + delay, ev);
                    self.queue.push(now + d, Event::Deliver { from, to, bytes });
                } else {
                    self.queue
                        .push(now + delay, Event::Deliver { from, to, bytes });
                }
            }
        }
    }

    /// Runs until convergence, a failure, or the deadline.
    pub fn run(mut self) -> Report {
        self.start();
        while self.phase != Phase::Done {
            if self.counters.events >= self.cfg.max_events {
                let why = format!("gave up after {} events", self.counters.events);
                self.fail(why);
                break;
            }
            let Some((_, ev)) = self.queue.pop() else {
                self.fail("nothing left to happen before convergence".into());
                break;
            };
            self.handle(ev);
        }
        self.report()
    }

    fn handle(&mut self, ev: Event) {
        let now = Time(self.now());
        match ev {
            Event::Deliver { from, to, bytes } => {
                let (from, to) = (from as usize, to as usize);
                let r = &self.replicas[to];
                let why = match r.node() {
                    None => Some(DropReason::Down),
                    Some(_) if !r.online => Some(DropReason::Offline),
                    Some(_) => None,
                };
                self.counters.events += 1;
                self.counters.deliveries += 1;
                if let Some(why) = why {
                    self.record_drop(from, to, &bytes, why);
                    return;
                }
                self.counters.delivered += 1;
                self.hash_datagram(0, from, to, &bytes);
                self.trace_line(|| format!("deliver n{from}->n{to} {} bytes", bytes.len()));
                let from_addr = self.replicas[from].addr;
                if let Some(node) = self.replicas[to].node_mut() {
                    node.handle_datagram(now, from_addr, &bytes);
                }
                self.drain(to);
            }
            Event::Timer { node, gen } => {
                let r = &mut self.replicas[node];
                if r.timer_gen != gen || !r.is_up() {
                    return; // stale: the node rescheduled, or crashed
                }
                r.timer_at = None;
                r.timer_gen += 1;
                self.counters.events += 1;
                self.counters.timers += 1;
                self.trace_line(|| format!("timer n{node}"));
                if let Some(n) = self.replicas[node].node_mut() {
                    n.handle_timeout(now);
                }
                self.drain(node);
            }
            Event::Type { node } => self.type_once(node),
            Event::HotSpot(spot) => {
                self.counters.events += 1;
                if self.phase == Phase::Faults {
                    self.trace_line(|| format!("hot spot at {:.2} of the text", spot.fraction));
                    self.hot_spot = Some(spot);
                    let (at, next) = next_hot_spot(&mut self.work_rng, spot.until);
                    self.queue.push(at, Event::HotSpot(next));
                }
            }
            Event::RandomPartition => {
                self.counters.events += 1;
                if self.phase != Phase::Faults {
                    return;
                }
                let p = Partition::random(self.total(), &mut self.fault_rng);
                let id = self.new_partition_id();
                let until = self.now() + around(&mut self.fault_rng, self.cfg.partition_ms);
                self.queue.push(until, Event::PartitionEnd(id));
                self.start_partition(id, p);
                let Partitions::Rate(rate) = self.cfg.partitions else {
                    return;
                };
                let at = self.now() + next_wait(&mut self.fault_rng, rate);
                self.queue.push(at, Event::RandomPartition);
            }
            Event::PartitionStart(id, p) => {
                self.counters.events += 1;
                if self.phase == Phase::Faults {
                    self.start_partition(id, *p);
                }
            }
            Event::PartitionEnd(id) => {
                self.counters.events += 1;
                self.trace_line(|| format!("partition {id} heals"));
                self.net.remove_partition(id);
            }
            Event::RandomCrash => {
                self.counters.events += 1;
                if self.phase != Phase::Faults {
                    return;
                }
                let up: Vec<usize> = (0..self.total())
                    .filter(|&i| self.replicas[i].is_up())
                    .collect();
                if !up.is_empty() {
                    let i = up[self.fault_rng.random_range(0..up.len())];
                    self.crash(i);
                }
                let at = self.now() + next_wait(&mut self.fault_rng, self.cfg.crashes);
                self.queue.push(at, Event::RandomCrash);
            }
            Event::Restart { node, incarnation } => {
                self.counters.events += 1;
                let r = &self.replicas[node];
                if !r.is_up() && r.incarnation == incarnation {
                    self.trace_line(|| format!("restart n{node}"));
                    self.boot(node);
                }
            }
            Event::RandomOffline => {
                self.counters.events += 1;
                if self.phase != Phase::Faults {
                    return;
                }
                let candidates: Vec<usize> = (0..self.total())
                    .filter(|&i| self.replicas[i].is_up() && self.replicas[i].online)
                    .collect();
                if !candidates.is_empty() {
                    let i = candidates[self.fault_rng.random_range(0..candidates.len())];
                    self.counters.offline += 1;
                    let back = self.now() + around(&mut self.fault_rng, self.cfg.offline_ms);
                    let r = &mut self.replicas[i];
                    r.online = false;
                    r.offline_token += 1;
                    let token = r.offline_token;
                    if let Some(n) = r.node_mut() {
                        n.set_online(now, false);
                    }
                    self.queue.push(back, Event::Online { node: i, token });
                    self.trace_line(|| format!("offline n{i}"));
                    self.drain(i);
                }
                let at = self.now() + next_wait(&mut self.fault_rng, self.cfg.offline);
                self.queue.push(at, Event::RandomOffline);
            }
            Event::Online { node, token } => {
                self.counters.events += 1;
                if self.replicas[node].offline_token == token && !self.replicas[node].online {
                    self.go_online(node);
                }
            }
            Event::Check => {
                self.counters.events += 1;
                self.check_safety(Replay::All);
                if self.phase != Phase::Done {
                    let at = self.now() + ms(self.cfg.check_ms);
                    self.queue.push(at, Event::Check);
                }
            }
            Event::Heal => {
                self.counters.events += 1;
                self.heal();
            }
            Event::Deadline if self.phase == Phase::Settling => {
                // Converged in time; cleanup gets its own allowance.
                self.counters.events += 1;
                self.queue
                    .push(self.now() + ms(SETTLE_MS), Event::SettleDeadline);
            }
            Event::SettleDeadline => {
                self.counters.events += 1;
                if self.phase != Phase::Done {
                    let why = self.why_not_settled();
                    self.fail(format!(
                        "history not cleaned up {SETTLE_MS} ms after the deadline: {why}"
                    ));
                }
            }
            Event::Deadline => {
                self.counters.events += 1;
                if self.phase != Phase::Done {
                    let why = self.why_not_converged();
                    self.fail(format!(
                        "not converged {} ms after healing: {why}",
                        self.cfg.deadline_ms
                    ));
                }
            }
        }
    }

    fn start_partition(&mut self, id: u64, p: Partition) {
        self.counters.partitions += 1;
        self.trace_line(|| format!("partition {id} starts: {}", p.describe()));
        self.net.add_partition(id, p);
    }

    fn go_online(&mut self, i: usize) {
        let now = Time(self.now());
        let r = &mut self.replicas[i];
        r.online = true;
        r.offline_token += 1;
        if let Some(n) = r.node_mut() {
            n.set_online(now, true);
        }
        self.trace_line(|| format!("online n{i}"));
        self.drain(i);
    }

    fn crash(&mut self, i: usize) {
        self.counters.crashes += 1;
        let r = &mut self.replicas[i];
        r.undo.clear();
        if let Some(host) = r.host.take() {
            self.retransmits_of_dead += host.node().retransmits();
            self.counters.rejoins_of_dead += host.node().rejoins();
            r.disk = host.into_store();
        }
        let lost = r.disk.as_mut().map_or(0, SimDisk::crash);
        self.counters.unsynced_lost += lost as u64;
        r.incarnation += 1;
        r.timer_at = None;
        r.timer_gen += 1;
        let incarnation = r.incarnation;
        let at = self.now() + around(&mut self.fault_rng, self.cfg.downtime_ms);
        self.queue.push(
            at,
            Event::Restart {
                node: i,
                incarnation,
            },
        );
        self.trace_line(|| format!("crash n{i} ({lost} acknowledged ops lost)"));
    }

    fn type_once(&mut self, i: usize) {
        if self.phase != Phase::Faults || self.ops_issued >= self.cfg.ops {
            return;
        }
        self.counters.events += 1;
        self.counters.typist_wakeups += 1;
        let now = self.now();
        let hot = self.hot_spot.filter(|h| h.until > now);
        let r = &mut self.replicas[i];
        let Some(len) = r.node().filter(|n| n.is_joined()).map(|n| n.doc().len()) else {
            // Crashed, or a newcomer not yet given the document: the
            // typist waits.
            self.queue.push(now + ms(500.0), Event::Type { node: i });
            return;
        };
        let step = r.typist.step(&mut self.work_rng, len, hot);
        self.queue.push(now + step.next_in, Event::Type { node: i });
        let Some(edit) = step.edit else {
            return;
        };
        let undo = self.cfg.undo > 0.0 && self.work_rng.random_bool(self.cfg.undo);
        if undo {
            // Instead of the keystroke: an undo, or (one time in three) a redo.
            let redo = self.work_rng.random_bool(1.0 / 3.0);
            if !self.undo_once(i, now, redo) {
                return;
            }
        } else {
            self.trace_line(|| format!("edit n{i} {edit:?}"));
            let r = &mut self.replicas[i];
            if let Some(node) = r.node_mut() {
                // Kept only when the typists undo: other runs stay as they were.
                let record = self.cfg.undo > 0.0;
                let deleting = match &edit {
                    Edit::Delete { pos, len } if record => Change::deleting(node.doc(), *pos, *len),
                    _ => None,
                };
                if let Err(e) = node.edit(Time(now), edit.clone()) {
                    let why = format!("node {i} refused an in-range local edit {edit:?}: {e}");
                    self.fail(why);
                    return;
                }
                let change = deleting.or_else(|| match &edit {
                    Edit::Insert { pos, text } if record => {
                        Change::inserted(node.doc(), *pos, text.chars().count())
                    }
                    _ => None,
                });
                if let Some(change) = change {
                    // (After the edit: a life's first edit takes a fresh id.)
                    let replica = node.doc().replica();
                    r.undo.record(replica, change, false);
                }
            }
            r.shown_len = match &edit {
                Edit::Insert { text, .. } => r.shown_len + text.chars().count(),
                Edit::Delete { len, .. } => r.shown_len.saturating_sub(*len),
            };
        }
        self.ops_issued += 1;
        self.drain(i);
        if self.ops_issued == self.cfg.ops && self.phase == Phase::Faults {
            let at = ms(self.cfg.fault_ms).max(self.now());
            self.queue.push(at, Event::Heal);
        }
    }

    /// Node `i`'s typist undoes (or redoes) its own last step, through
    /// the node as ordinary local edits. False if the run failed.
    fn undo_once(&mut self, i: usize, now: Micros, redo: bool) -> bool {
        let r = &mut self.replicas[i];
        let Some(node) = r.host.as_mut().map(|h| h.node_mut()) else {
            return true;
        };
        let mut stack = std::mem::take(&mut r.undo);
        let mut target = NodeEdits {
            node,
            now: Time(now),
        };
        let done = if redo {
            stack.redo(&mut target)
        } else {
            stack.undo(&mut target)
        };
        r.undo = stack;
        match done {
            Ok(outcome) => {
                if let Some(o) = &outcome {
                    r.shown_len = (r.shown_len + o.restored).saturating_sub(o.removed);
                    self.counters.undos += 1;
                }
                let what = if redo { "redo" } else { "undo" };
                self.trace_line(|| match &outcome {
                    Some(o) => format!("{what} n{i} -{} +{}", o.removed, o.restored),
                    None => format!("{what} n{i}: nothing"),
                });
                true
            }
            Err(e) => {
                self.fail(format!("node {i} refused an undo's local edit: {e}"));
                false
            }
        }
    }

    fn heal(&mut self) {
        if self.phase != Phase::Faults {
            return;
        }
        let now = self.now();
        self.phase = Phase::Healed;
        self.heal_at = Some(now);
        self.trace_line(|| "heal: faults stop".into());
        if self.cfg.sabotage != Some(Sabotage::NeverHeal) {
            self.net.heal_partitions();
            self.net.faults = self.net.faults.healed();
        }
        self.hot_spot = None;
        for i in 0..self.cfg.nodes {
            if !self.replicas[i].is_up() {
                self.boot(i);
            } else if !self.replicas[i].online {
                self.go_online(i);
            }
            if self.phase == Phase::Done {
                return;
            }
        }
        self.check_safety(Replay::All);
        if self.phase == Phase::Done {
            return;
        }
        self.queue
            .push(now + ms(self.cfg.deadline_ms), Event::Deadline);
        self.check_converged(0);
    }

    fn report(mut self) -> Report {
        if let Some(out) = self.trace.as_mut() {
            let _ = out.flush();
        }
        let c = &self.counters;
        let heal = self.heal_at.map(|t| t as f64 / MS);
        let converged = self.failure.is_none() && self.converged_at.is_some();
        let percentiles = |l: &Histogram<u64>| {
            if l.is_empty() {
                Latency::default()
            } else {
                Latency {
                    p50: l.value_at_quantile(0.5) as f64 / MS,
                    p99: l.value_at_quantile(0.99) as f64 / MS,
                    max: l.max() as f64 / MS,
                    count: l.len(),
                }
            }
        };
        let latency = percentiles(&self.latency);
        let last_delivery = percentiles(&self.last_delivery);
        let retransmits = self.retransmits_of_dead
            + self
                .replicas
                .iter()
                .filter_map(|r| r.node())
                .map(|n| n.retransmits())
                .sum::<u64>();
        let text = self.oracle.doc.text();
        let min_peers_known = (0..self.total())
            .map(|i| match self.replicas[i].node() {
                Some(n) => {
                    let me = self.replicas[i].addr;
                    let known: std::collections::BTreeSet<usize> = n
                        .peer_addrs()
                        .into_iter()
                        .filter(|&a| a != me)
                        .filter_map(|a| node_index(a, self.total()))
                        .collect();
                    known.len()
                }
                None => 0,
            })
            .min()
            .unwrap_or(0);
        let max_peers_held = (self.replicas.iter().filter_map(|r| r.node()))
            .map(|n| n.peers_held())
            .max()
            .unwrap_or(0);
        let cfg = &self.cfg;
        let per_node_per_op =
            |v: u64| v as f64 / self.total().max(1) as f64 / self.ops_issued.max(1) as f64;
        Report {
            seed: cfg.seed,
            nodes: cfg.nodes,
            converged,
            failure: self.failure.clone(),
            final_text_hash: format!("{:016x}", fnv64(text.as_bytes())),
            trace_hash: format!("{:016x}", self.trace_hash.finish()),
            events: c.events,
            events_by_kind: EventKinds {
                deliveries: c.deliveries,
                timers: c.timers,
                typist_wakeups: c.typist_wakeups,
                other: c.events - c.deliveries - c.timers - c.typist_wakeups,
            },
            sim_time_ms: self.queue.now() as f64 / MS,
            heal_time_ms: heal,
            convergence_ms: match (self.converged_at, self.heal_at) {
                (Some(c), Some(h)) if converged => Some((c - h) as f64 / MS),
                _ => None,
            },
            ops: self.ops_issued,
            final_len: text.chars().count(),
            datagrams_sent: c.sent,
            datagrams_delivered: c.delivered,
            datagrams_dropped: c.dropped,
            datagrams_duplicated: c.duplicated,
            drops: c.drops.clone(),
            bytes_sent: c.bytes,
            retransmits,
            crashes: c.crashes,
            unsynced_ops_lost: c.unsynced_lost,
            restarts: c.restarts,
            joins: c.joins,
            disk_faults: self
                .replicas
                .iter()
                .filter_map(|r| r.disk())
                .map(|d| d.faults)
                .sum(),
            rejoins: c.rejoins_of_dead
                + self
                    .replicas
                    .iter()
                    .filter_map(|r| r.node())
                    .map(|n| n.rejoins())
                    .sum::<u64>(),
            undos: c.undos,
            restores: c.restores,
            partitions: c.partitions,
            offline_periods: c.offline,
            safety_checks: c.checks,
            min_peers_known,
            max_peers_held,
            op_latency_ms: latency,
            last_delivery_ms: last_delivery,
            datagrams_per_node_per_op: per_node_per_op(c.sent),
            bytes_per_node_per_op: per_node_per_op(c.bytes),
            cleanup: {
                let live = || self.replicas.iter().filter_map(|r| r.node());
                Cleanup {
                    min_runs: cfg.cleanup_min_runs,
                    tombstones_made: self.oracle.doc.stats().tombstones,
                    tombstones_held_max: live()
                        .map(|n| n.doc().stats().tombstones)
                        .max()
                        .unwrap_or(0),
                    tombstones_reclaimed_max: live()
                        .map(|n| n.doc().stats().tombstones_reclaimed)
                        .max()
                        .unwrap_or(0),
                    settled_after_ms: match (self.settled_at, self.converged_at) {
                        (Some(s), Some(c)) => Some((s - c) as f64 / MS),
                        _ => None,
                    },
                }
            },
            faults: FaultSettings {
                swarm: cfg.swarm,
                topology: cfg.topology.name().into(),
                loss: cfg.loss,
                dup: cfg.dup,
                reorder: cfg.reorder,
                delay_ms: cfg.delay_ms,
                jitter_ms: cfg.jitter_ms,
                mtu: cfg.mtu,
                link_mtu: cfg.link_mtu,
                partitions: cfg.partitions.describe(),
                partition_ms: cfg.partition_ms,
                crashes_per_min: cfg.crashes,
                disk_faults_p: cfg.disk_faults,
                downtime_ms: cfg.downtime_ms,
                offline_per_min: cfg.offline,
                offline_ms: cfg.offline_ms,
                hot_spots: cfg.hot_spots,
                sabotage: cfg.sabotage.map(|s| s.name().into()),
                lan: self.lan,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_are_loopback_and_round_trip() {
        for i in [0, 1, 249, 250, 251, 999] {
            let a = node_addr(i);
            assert!(a.ip().is_loopback(), "{a}");
            assert_eq!(node_index(a, 1000), Some(i));
            assert_eq!(node_index(a, i), None, "beyond the node count");
        }
        assert_eq!(node_index("127.0.0.1:7001".parse().unwrap(), 5), None);
        assert_eq!(node_index("10.0.0.1:7000".parse().unwrap(), 5), None);
        assert_eq!(node_index("127.0.0.0:7000".parse().unwrap(), 5), None);
        assert_eq!(node_index("[::1]:7000".parse().unwrap(), 5), None);
    }

    #[test]
    fn fault_waits_average_the_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 10_000;
        let total: Micros = (0..n).map(|_| next_wait(&mut rng, 2.0)).sum();
        let mean_s = total as f64 / n as f64 / 1e6;
        assert!((29.0..31.0).contains(&mean_s), "{mean_s}");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn events_stay_small() {
        // The queue moves whole events on every push and pop: big, rare
        // payloads are boxed.
        assert!(std::mem::size_of::<Event>() <= 32);
    }
}
