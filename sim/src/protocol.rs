//! What the simulator needs from a protocol node: exactly the sans-IO API of
//! `rumor::node::Node` (DESIGN.md, "The node, sans-IO").
//!
//! The simulator drives the real `Node` through this trait; the only other
//! implementation is [`crate::toy::ToyNode`], a minimal flooding protocol
//! used to test the simulator itself (including a deliberately broken
//! variant that the checker must catch).

use std::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rumor::doc::Error;
use rumor::node::{Config, Edit, Event, Node, Time, Transmit};
use rumor::Doc;

pub trait SimNode {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self;
    fn doc(&self) -> &Doc;
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), Error>;
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]);
    fn handle_timeout(&mut self, now: Time);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Time>;
    fn poll_event(&mut self) -> Option<Event>;
    fn add_peer(&mut self, now: Time, addr: SocketAddr);
    fn set_online(&mut self, now: Time, online: bool);
    /// Datagrams resent because they were not acknowledged in time.
    fn retransmits(&self) -> u64;
    /// The addresses of the peers the node knows (added or learned).
    fn peer_addrs(&self) -> Vec<SocketAddr>;
    /// Turns `config` into that of a deliberately broken node (for
    /// `Sabotage::BrokenNode`, to prove the checker catches a protocol bug).
    /// Returns false if this protocol has no such knob.
    fn break_config(config: &mut Config) -> bool;
    /// False while the node is a newcomer waiting for a member's document
    /// (`node::Config::joining`).
    fn is_joined(&self) -> bool {
        true
    }
    /// Whether the protocol cleans up history (`node::Config::collect_min_runs`):
    /// only then does `--settle` wait for it.
    fn cleans_up() -> bool {
        true
    }
}

impl SimNode for Node {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self {
        Node::new(doc, config, rng, now)
    }
    fn doc(&self) -> &Doc {
        Node::doc(self)
    }
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), Error> {
        Node::edit(self, now, edit)
    }
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        Node::handle_datagram(self, now, from, bytes)
    }
    fn handle_timeout(&mut self, now: Time) {
        Node::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Node::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Time> {
        Node::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }
    fn add_peer(&mut self, now: Time, addr: SocketAddr) {
        Node::add_peer(self, now, addr);
    }
    fn set_online(&mut self, now: Time, online: bool) {
        Node::set_online(self, now, online)
    }
    fn is_joined(&self) -> bool {
        Node::is_joined(self)
    }
    fn retransmits(&self) -> u64 {
        self.stats().retransmits
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        self.peers().into_iter().map(|p| p.addr).collect()
    }
    /// The node's own test knob: it drops some received ops.
    fn break_config(config: &mut Config) -> bool {
        config.test_drop_ops = true;
        true
    }
}
