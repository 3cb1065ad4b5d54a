//! A minimal protocol node for testing the simulator itself.
//!
//! It pushes each local edit to every known peer once and, unless built
//! broken, runs anti-entropy: every 200 ms it sends its version vector (and
//! the peers it knows) to each peer, which answers with the ops it lacks.
//! That is enough to converge through loss, partitions and crashes. The
//! broken variant ([`ToyNode::BROKEN_NAME`]) has no anti-entropy, so one lost
//! datagram is lost for good: the simulator's checker must catch it.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rumor::doc::Error;
use rumor::node::{Config, Edit, Event, Time, Transmit};
use rumor::{Doc, Op, VersionVector};
use serde::{Deserialize, Serialize};

use rumor::host::Hosted;

use crate::protocol::SimNode;

#[derive(Serialize, Deserialize)]
enum Msg {
    Digest {
        version: VersionVector,
        peers: Vec<SocketAddr>,
    },
    Ops(Vec<Op>),
}

const TICK: Duration = Duration::from_millis(200);
/// Longest op piece sent, in chars (4 bytes each at most): well under any MTU.
const PIECE: u64 = 128;

pub struct ToyNode {
    doc: Doc,
    mtu: usize,
    anti_entropy: bool,
    online: bool,
    peers: BTreeSet<SocketAddr>,
    next_tick: Time,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl ToyNode {
    /// A node whose `Config::name` ends with this has no anti-entropy.
    pub const BROKEN_NAME: &'static str = "+broken";

    fn send(&mut self, to: SocketAddr, msg: &Msg) {
        if let Ok(bytes) = postcard::to_allocvec(msg) {
            self.out.push_back(Transmit { to, bytes });
        }
    }

    /// Sends `ops` to `to`, cut into pieces and packed into datagrams under the MTU.
    fn send_ops(&mut self, to: SocketAddr, ops: Vec<Op>) {
        let mut batch: Vec<Op> = Vec::new();
        let mut size = 16;
        for op in ops {
            let len = op.len();
            let mut from = 0;
            while from < len {
                let to_c = (from + PIECE).min(len);
                let piece = if from == 0 && to_c == len {
                    op.clone()
                } else {
                    op.slice(from, to_c)
                };
                from = to_c;
                let piece_size = postcard::to_allocvec(&piece).map_or(0, |b| b.len());
                if size + piece_size > self.mtu && !batch.is_empty() {
                    self.send(to, &Msg::Ops(std::mem::take(&mut batch)));
                    size = 16;
                }
                size += piece_size;
                batch.push(piece);
            }
        }
        if !batch.is_empty() {
            self.send(to, &Msg::Ops(batch));
        }
    }
}

impl Hosted for ToyNode {
    fn new(doc: Doc, config: Config, _rng: ChaCha8Rng, now: Time) -> Self {
        ToyNode {
            doc,
            mtu: config.mtu,
            anti_entropy: !config.name.ends_with(Self::BROKEN_NAME),
            online: true,
            peers: BTreeSet::new(),
            next_tick: now + TICK,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
    fn doc(&self) -> &Doc {
        &self.doc
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Time> {
        Some(self.next_tick)
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    fn add_peer(&mut self, _now: Time, addr: SocketAddr) -> bool {
        self.peers.insert(addr)
    }
}

impl SimNode for ToyNode {
    fn edit(&mut self, _now: Time, edit: Edit) -> Result<(), Error> {
        let before = self.doc.version();
        match edit {
            Edit::Insert { pos, text } => self.doc.insert(pos, &text)?,
            Edit::Delete { pos, len } => self.doc.delete(pos, len)?,
        }
        if self.online {
            let ops = self.doc.ops_since(&before);
            for peer in self.peers.clone() {
                self.send_ops(peer, ops.clone());
            }
        }
        Ok(())
    }
    fn handle_datagram(&mut self, _now: Time, from: SocketAddr, bytes: &[u8]) {
        if !self.online {
            return;
        }
        self.peers.insert(from);
        match postcard::from_bytes::<Msg>(bytes) {
            Ok(Msg::Digest { version, peers }) => {
                self.peers.extend(peers);
                let ops = self.doc.ops_since(&version);
                if !ops.is_empty() {
                    self.send_ops(from, ops);
                }
            }
            Ok(Msg::Ops(ops)) => {
                let mut patches = Vec::new();
                for op in ops {
                    if let Ok(applied) = self.doc.apply(op) {
                        patches.extend(applied.patches);
                    }
                }
                if !patches.is_empty() {
                    self.events.push_back(Event::RemoteEdit { patches });
                }
            }
            Err(_) => {}
        }
    }
    fn handle_timeout(&mut self, now: Time) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        if !(self.online && self.anti_entropy) {
            return;
        }
        let version = self.doc.version();
        let peers: Vec<SocketAddr> = self.peers.iter().copied().collect();
        for &peer in &peers {
            let msg = Msg::Digest {
                version: version.clone(),
                peers: peers.clone(),
            };
            self.send(peer, &msg);
        }
    }
    fn set_online(&mut self, _now: Time, online: bool) {
        self.online = online;
        if !online {
            self.out.clear();
        }
    }
    fn retransmits(&self) -> u64 {
        0
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers.iter().copied().collect()
    }
    fn break_config(config: &mut Config) -> bool {
        config.name.push_str(Self::BROKEN_NAME);
        true
    }
    fn cleans_up() -> bool {
        false
    }
}
