//! An in-memory network for protocol tests: N nodes, a virtual clock, and
//! seeded loss, duplication, reordering (random delay) and cut links.
//! Everything is deterministic in the seed.
//!
//! The datagrams travel through the simulator's own network model
//! (`rumor_sim::net::Network` decides each one's fate, `rumor_sim::queue`
//! holds them in flight): one model of the network for the simulator, the
//! protocol tests and the node bench.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumor::doc::{Doc, ReplicaId};
use rumor::node::{Config, Edit, Event, Node, Time};
use rumor_sim::net::{LinkFaults, Network, Route};
use rumor_sim::queue::EventQueue;

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 20_000 + i as u16))
}

/// A datagram on its way.
struct InFlight {
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Faults {
    pub loss: f64,
    pub dup: f64,
    /// One-way delay, drawn uniformly per datagram (a wide range reorders).
    pub delay_min: Duration,
    pub delay_max: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            loss: 0.0,
            dup: 0.0,
            delay_min: Duration::from_millis(10),
            delay_max: Duration::from_millis(10),
        }
    }
}

impl Faults {
    /// The same faults in the simulator's terms: a uniform delay in
    /// `delay_min..=delay_max` is a mean with a jitter of half the range.
    fn link(&self) -> LinkFaults {
        let lo = self.delay_min.as_micros() as u64;
        let hi = (self.delay_max.as_micros() as u64).max(lo);
        LinkFaults {
            loss: self.loss,
            dup: self.dup,
            reorder: 0.0,
            delay: lo + (hi - lo) / 2,
            jitter: (hi - lo) / 2,
        }
    }
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub now: Time,
    pub faults: Faults,
    /// Directed links that drop everything (partitions).
    pub cut: BTreeSet<(usize, usize)>,
    pub events: Vec<Vec<Event>>,
    pub delivered: u64,
    pub dropped: u64,
    pub bytes_delivered: u64,
    /// Every datagram sent, when set (for fuzzing with real traffic).
    pub record: Option<Vec<Vec<u8>>>,
    /// One line per datagram sent (when, who to whom, its frames, its
    /// fate), when set: to see where a slow run's time went.
    pub trace: Option<Vec<String>>,
    /// A fresh replica fed every op any node gains, as it gains it (so it
    /// holds ops that nodes later clean up).
    pub oracle: Doc,
    /// What the oracle has taken from each node.
    seen: Vec<rumor::doc::VersionVector>,
    /// Decides each datagram's fate; its faults are set from `faults` at every send.
    network: Network,
    queue: EventQueue<InFlight>,
    rng: ChaCha8Rng,
}

impl Net {
    pub fn new(n: usize, seed: u64, config: Config) -> Net {
        // Random-looking 64-bit replica ids, as real replicas have.
        let docs = (0..n)
            .map(|i| {
                Doc::new(ReplicaId(
                    0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1),
                ))
            })
            .collect();
        Net::with_docs(docs, seed, config)
    }

    /// Nodes over existing documents (say, with a long shared history).
    pub fn with_docs(docs: Vec<Doc>, seed: u64, config: Config) -> Net {
        let configs = vec![config; docs.len()];
        Net::with_configs(docs, seed, configs)
    }

    /// Nodes each with its own config.
    pub fn with_configs(docs: Vec<Doc>, seed: u64, configs: Vec<Config>) -> Net {
        let n = docs.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nodes = docs
            .into_iter()
            .zip(configs)
            .enumerate()
            .map(|(i, (doc, config))| {
                let mut c = config;
                c.name = format!("n{i}");
                Node::new(doc, c, ChaCha8Rng::seed_from_u64(rng.random()), Time::ZERO)
            })
            .collect();
        Net {
            nodes,
            now: Time::ZERO,
            faults: Faults::default(),
            cut: BTreeSet::new(),
            events: vec![Vec::new(); n],
            delivered: 0,
            dropped: 0,
            bytes_delivered: 0,
            record: None,
            trace: None,
            oracle: Doc::new(ReplicaId(1)),
            seen: vec![rumor::doc::VersionVector::new(); n],
            // The harness checks the MTU itself, at the sender.
            network: Network::new(n, Faults::default().link(), vec![usize::MAX; n * n]),
            queue: EventQueue::new(),
            rng,
        }
    }

    fn index_of(&self, a: SocketAddr) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| addr(i) == a)
    }

    /// `i` learns of `j` (one direction, like `rumor add`).
    pub fn add_peer(&mut self, i: usize, j: usize) {
        self.nodes[i].add_peer(self.now, addr(j));
        self.drain(i);
    }

    pub fn full_mesh(&mut self) {
        for i in 0..self.nodes.len() {
            for j in 0..self.nodes.len() {
                if i != j {
                    self.add_peer(i, j);
                }
            }
        }
    }

    pub fn edit(&mut self, i: usize, edit: Edit) {
        self.nodes[i].edit(self.now, edit).expect("edit in range");
        self.drain(i);
    }

    pub fn insert(&mut self, i: usize, pos: usize, text: &str) {
        self.edit(
            i,
            Edit::Insert {
                pos,
                text: text.into(),
            },
        );
    }

    /// A random edit at node `i`: mostly inserts, some deletes.
    pub fn random_edit(&mut self, i: usize, rng: &mut ChaCha8Rng) {
        let len = self.nodes[i].doc().len();
        if len > 0 && rng.random_bool(0.3) {
            let pos = rng.random_range(0..len);
            let n = rng.random_range(1..=(len - pos).min(5));
            self.edit(i, Edit::Delete { pos, len: n });
        } else {
            let pos = rng.random_range(0..=len);
            let n = rng.random_range(1..=8);
            let text: String = (0..n)
                .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                .collect();
            self.edit(i, Edit::Insert { pos, text });
        }
    }

    pub fn set_online(&mut self, i: usize, online: bool) {
        self.nodes[i].set_online(self.now, online);
        self.drain(i);
    }

    pub fn sync_now(&mut self, i: usize) {
        self.nodes[i].sync_now(self.now);
        self.drain(i);
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &i in a {
            for &j in b {
                self.cut.insert((i, j));
                self.cut.insert((j, i));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Collects node `i`'s events and puts its datagrams on the network.
    fn drain(&mut self, i: usize) {
        let doc = self.nodes[i].doc();
        if doc.can_serve(&self.seen[i]) {
            for op in doc.ops_since(&self.seen[i]) {
                self.oracle
                    .apply(op)
                    .expect("every op a node gains applies");
            }
        }
        self.seen[i] = doc.version();
        while let Some(e) = self.nodes[i].poll_event() {
            self.events[i].push(e);
        }
        while let Some(t) = self.nodes[i].poll_transmit() {
            let mtu = self.nodes[i].config().mtu;
            assert!(
                t.bytes.len() <= mtu,
                "{} bytes over the {mtu}-byte MTU",
                t.bytes.len()
            );
            if let Some(log) = &mut self.record {
                log.push(t.bytes.clone());
            }
            let Some(to) = self.index_of(t.to) else {
                self.dropped += 1;
                continue;
            };
            let cut = self.cut.contains(&(i, to));
            let route = (!cut).then(|| {
                self.network.faults = self.faults.link();
                self.network.route(i, to, t.bytes.len(), &mut self.rng)
            });
            if let Some(trace) = &mut self.trace {
                let fate = match route {
                    None => "cut",
                    Some(Route::Dropped(_)) => "lost",
                    Some(Route::Delivered { .. }) => "",
                };
                trace.push(format!(
                    "{:>8.1} ms {i}->{to} {:>4} B {} {fate}",
                    self.now.as_micros() as f64 / 1000.0,
                    t.bytes.len(),
                    frame_kinds(&t.bytes),
                ));
            }
            match route {
                None | Some(Route::Dropped(_)) => self.dropped += 1,
                Some(Route::Delivered { delay, copy }) => {
                    for delay in std::iter::once(delay).chain(copy) {
                        let at = self.now.as_micros() + delay;
                        let bytes = t.bytes.clone();
                        self.queue.push(at, InFlight { from: i, to, bytes });
                    }
                }
            }
        }
    }

    /// The next thing that happens: a delivery or a node's timer.
    fn next_at(&self) -> Option<Time> {
        let d = self.queue.peek_time().map(Time::from_micros);
        let t = self.nodes.iter().filter_map(Node::poll_timeout).min();
        d.into_iter().chain(t).min()
    }

    /// Processes everything due at the next instant; false if nothing is left before `limit`.
    pub fn step(&mut self, limit: Time) -> bool {
        let Some(at) = self.next_at() else {
            return false;
        };
        if at > limit {
            return false;
        }
        self.now = self.now.max(at);
        while self
            .queue
            .peek_time()
            .is_some_and(|at| at <= self.now.as_micros())
        {
            let (_, f) = self.queue.pop().expect("peeked");
            self.delivered += 1;
            self.bytes_delivered += f.bytes.len() as u64;
            self.nodes[f.to].handle_datagram(self.now, addr(f.from), &f.bytes);
            self.drain(f.to);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
                self.drain(i);
            }
        }
        true
    }

    /// Runs the network for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = limit;
    }

    /// Runs until every replica has the same ops and text, or `max` passes.
    /// Returns the virtual time it took.
    pub fn run_until_converged(&mut self, max: Duration) -> Option<Duration> {
        let start = self.now;
        let limit = self.now + max;
        loop {
            if self.converged() {
                return Some(self.now - start);
            }
            if !self.step(limit) {
                return None;
            }
        }
    }

    /// Runs until nodes `among` agree (same version and text, nothing held).
    #[allow(dead_code)]
    pub fn run_until_converged_among(&mut self, among: &[usize], max: Duration) -> bool {
        let limit = self.now + max;
        loop {
            let first = self.nodes[among[0]].doc();
            if among.iter().all(|&i| {
                let d = self.nodes[i].doc();
                d.version_ref() == first.version_ref()
                    && d.pending_len() == 0
                    && d.text() == first.text()
            }) {
                return true;
            }
            if !self.step(limit) {
                return false;
            }
        }
    }

    /// Same version, same text, nothing held, everywhere.
    pub fn converged(&self) -> bool {
        let first = self.nodes[0].doc();
        let v = first.version_ref();
        let same_ops = self
            .nodes
            .iter()
            .all(|n| n.doc().version_ref() == v && n.doc().pending_len() == 0);
        // Texts are compared only once the ops agree (they are long).
        same_ops && {
            let t = first.text();
            self.nodes.iter().all(|n| n.doc().text() == t)
        }
    }

    /// Checks that nothing typed is lost: every replica has every op each
    /// replica made (its own counter), and the text equals a fresh replica
    /// fed every op.
    pub fn assert_nothing_lost(&self) {
        let mut all = rumor::doc::VersionVector::new();
        for n in &self.nodes {
            let r = n.doc().replica();
            all.set(r, n.doc().version().get(r));
        }
        let mut reference = Doc::new(ReplicaId(1));
        for n in &self.nodes {
            assert!(
                n.doc().version().dominates(&all),
                "{:?} lacks ops: has {:?}, all made {:?}",
                n.doc().replica(),
                n.doc().version(),
                all
            );
            for op in n.doc().ops_since(&rumor::doc::VersionVector::new()) {
                reference.apply(op).expect("own ops apply");
            }
        }
        assert_eq!(reference.text(), self.nodes[0].doc().text());
    }

    pub fn text(&self, i: usize) -> String {
        self.nodes[i].doc().text()
    }
}

/// The kinds of frames in a datagram in the clear, for a trace line.
fn frame_kinds(bytes: &[u8]) -> String {
    use rumor::wire::{decode, Frame};
    let Ok((header, frames)) = decode(bytes) else {
        return "(sealed or garbage)".into();
    };
    let mut kinds: Vec<String> = vec![format!("#{}", header.packet)];
    for f in &frames {
        let kind = match f {
            Frame::Ack(a) => format!("Ack({})", a.largest),
            Frame::Op(_) => "Op".into(),
            Frame::Snapshot(_) => "Snapshot".into(),
            Frame::Digest(_) => "Digest".into(),
            Frame::Peers(_) => "Peers".into(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("?")
                .to_string(),
        };
        kinds.push(kind);
    }
    kinds.join(" ")
}
