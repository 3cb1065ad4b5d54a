//! The checker can fail: planted bugs are caught.

use std::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rumor::host::Hosted;
use rumor::node::{Config, Edit, Event, Node, Time, Transmit};
use rumor::Doc;
use rumor_sim::broken::DroppingNode;
use rumor_sim::protocol::SimNode;
use rumor_sim::toy::ToyNode;
use rumor_sim::{Sabotage, SimConfig, Simulation};

fn base(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        nodes: 4,
        ops: 150,
        loss: 0.2,
        deadline_ms: 20_000.0,
        ..SimConfig::default()
    }
}

#[test]
fn a_node_without_anti_entropy_is_caught() {
    // The broken toy node sends each edit once; with 20% loss some never arrive.
    for seed in 0..5 {
        let report = Simulation::<ToyNode>::new(SimConfig {
            sabotage: Some(Sabotage::BrokenNode),
            ..base(seed)
        })
        .run();
        assert!(!report.converged, "seed {seed}");
        let why = report.failure.unwrap();
        assert!(why.starts_with("not converged"), "{why}");
    }
    // The same runs with the working toy converge: the loss alone is not the cause.
    for seed in 0..5 {
        let report = Simulation::<ToyNode>::new(base(seed)).run();
        assert!(report.converged, "seed {seed}: {:?}", report.failure);
    }
}

#[test]
fn a_network_that_never_heals_is_caught() {
    let report = Simulation::<ToyNode>::new(SimConfig {
        sabotage: Some(Sabotage::NeverHeal),
        ..base(1)
    })
    .run();
    assert!(!report.converged);
    assert!(report.failure.unwrap().contains("n0 has"));
    assert!(report.convergence_ms.is_none());
}

#[test]
fn a_store_that_never_syncs_is_caught_at_restart() {
    let report = Simulation::<ToyNode>::new(SimConfig {
        sabotage: Some(Sabotage::NoSync),
        crashes: 20.0,
        fault_ms: 10_000.0,
        ..base(2)
    })
    .run();
    assert!(!report.converged);
    let why = report.failure.unwrap();
    assert!(why.contains("local edits were lost"), "{why}");
}

#[test]
fn a_real_node_that_drops_some_ops_is_caught() {
    // `--sabotage broken-node` runs the real node behind a filter: it acks,
    // then drops, every received op with a counter of 7 mod 16, however
    // often it is sent again.
    for seed in 0..5 {
        let broken = Simulation::<DroppingNode>::new(SimConfig {
            sabotage: Some(Sabotage::BrokenNode),
            ..base(seed)
        })
        .run();
        assert_eq!(broken.faults.sabotage.as_deref(), Some("broken-node"));
        assert!(!broken.converged, "seed {seed}");
        let why = broken.failure.unwrap();
        assert!(why.starts_with("not converged"), "{why}");
        // The same run without the filter converges: the loss alone is not the cause.
        let working = Simulation::<Node>::new(base(seed)).run();
        assert!(working.converged, "seed {seed}: {:?}", working.failure);
    }
}

/// The real node, broken: its timers never fire (no retransmission on
/// timeout, no anti-entropy, no pings), as if its timer handling were lost.
/// Like `DroppingNode` (which breaks what the node receives), this one is
/// made around the real code: a node that never repairs a loss (no
/// retransmission, no anti-entropy) is caught.
struct Timerless(Node);

impl Hosted for Timerless {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self {
        Timerless(<Node as Hosted>::new(doc, config, rng, now))
    }
    fn doc(&self) -> &Doc {
        self.0.doc()
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Time> {
        None
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.0.poll_event()
    }
    fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        self.0.add_peer(now, addr)
    }
}

impl SimNode for Timerless {
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), rumor::doc::Error> {
        self.0.edit(now, edit)
    }
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.0.handle_datagram(now, from, bytes)
    }
    fn handle_timeout(&mut self, _now: Time) {}
    fn set_online(&mut self, now: Time, online: bool) {
        self.0.set_online(now, online)
    }
    fn retransmits(&self) -> u64 {
        <Node as SimNode>::retransmits(&self.0)
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        <Node as SimNode>::peer_addrs(&self.0)
    }
    fn break_config(_config: &mut Config) -> bool {
        false
    }
}

#[test]
fn a_real_node_whose_timers_never_fire_is_caught() {
    let mut caught = Vec::new();
    for seed in 0..10 {
        let broken = Simulation::<Timerless>::new(base(seed)).run();
        if !broken.converged {
            let why = broken.failure.unwrap();
            assert!(why.starts_with("not converged"), "{why}");
            caught.push(seed);
        }
        let working = Simulation::<Node>::new(base(seed)).run();
        assert!(working.converged, "seed {seed}: {:?}", working.failure);
    }
    eprintln!("caught in seeds {caught:?}");
    assert!(caught.len() >= 3, "caught only in seeds {caught:?}");
}

/// The real node, seen through a forged document: the ops other replicas
/// made reach it with every inserted char replaced by `#` (lengths kept, so
/// every count and position still agrees). The safety check vouches for
/// each op a replica holds against the reference, so it is caught.
struct Forger {
    node: Node,
    forged: Doc,
}

impl Forger {
    /// Brings the forged document up to the node's, forging others' inserts.
    fn forge(&mut self) {
        let me = self.node.doc().replica();
        for mut op in self.node.doc().ops_since(self.forged.version_ref()) {
            if let rumor::OpKind::Insert { text, .. } = &mut op.kind {
                if op.id.replica != me {
                    *text = text.chars().map(|_| '#').collect();
                }
            }
            self.forged.apply(op).expect("a forged op still fits");
        }
    }
}

impl Hosted for Forger {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self {
        let forged = Doc::new(doc.replica());
        let mut f = Forger {
            node: <Node as Hosted>::new(doc, config, rng, now),
            forged,
        };
        f.forge();
        f
    }
    fn doc(&self) -> &Doc {
        &self.forged
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.node.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.node.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.node.poll_event()
    }
    fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        self.node.add_peer(now, addr)
    }
}

impl SimNode for Forger {
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), rumor::doc::Error> {
        let r = self.node.edit(now, edit);
        self.forge();
        r
    }
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.node.handle_datagram(now, from, bytes);
        self.forge();
    }
    fn handle_timeout(&mut self, now: Time) {
        self.node.handle_timeout(now);
        self.forge();
    }
    fn set_online(&mut self, now: Time, online: bool) {
        self.node.set_online(now, online)
    }
    fn retransmits(&self) -> u64 {
        <Node as SimNode>::retransmits(&self.node)
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        <Node as SimNode>::peer_addrs(&self.node)
    }
    fn break_config(_config: &mut Config) -> bool {
        false
    }
}

#[test]
fn a_replica_whose_ops_differ_from_their_authors_is_caught() {
    for seed in 0..3 {
        let report = Simulation::<Forger>::new(base(seed)).run();
        assert!(!report.converged, "seed {seed}");
        let why = report.failure.unwrap();
        assert!(why.contains("holds an op with other content"), "{why}");
    }
}

/// A broken host: the real node over a disk that acknowledges writes it
/// never syncs, so an edit is acknowledged (and sent) before it is durable.
/// Swarm runs, which draw crashes and disk faults, catch it within a few
/// hundred seeds (in practice, at the first seed that crashes a node that
/// had typed).
#[test]
fn a_host_that_acknowledges_before_syncing_is_caught_within_a_few_hundred_swarm_seeds() {
    let world = |seed| {
        SimConfig {
            seed,
            nodes: 3,
            ops: 40,
            fault_ms: 15_000.0,
            ..SimConfig::default()
        }
        .swarm()
    };
    let caught = (0..300).find(|&seed| {
        let report = Simulation::<Node>::new(SimConfig {
            sabotage: Some(Sabotage::NoSync),
            ..world(seed)
        })
        .run();
        !report.converged
    });
    let seed = caught.expect("no swarm seed in 0..300 caught a host that never syncs");
    eprintln!("caught at seed {seed}");
    // The same world with an honest disk converges: the lie is the cause.
    let honest = Simulation::<Node>::new(world(seed)).run();
    assert!(honest.converged, "seed {seed}: {:?}", honest.failure);
}
