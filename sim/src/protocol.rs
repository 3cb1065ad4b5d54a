//! What the simulator needs from a protocol node: exactly the sans-IO API of
//! `rumor::node::Node` (DESIGN.md, "The node, sans-IO"). The part a host
//! drives is `rumor::host::Hosted`, so the simulator runs each node inside
//! the same `rumor::host::Host` as `rumor` does; `SimNode` adds the rest.
//!
//! The simulator drives the real `Node` through these traits; the other
//! implementations are [`crate::broken::DroppingNode`], the real node
//! broken on purpose from the outside, and [`crate::toy::ToyNode`], a
//! minimal flooding protocol used to test the simulator itself (including a
//! deliberately broken variant): both are there for the checker to catch.

use std::net::SocketAddr;

use rumor::doc::Error;
use rumor::host::Hosted;
use rumor::node::{Config, Edit, Node, Time};

/// What the simulator drives beyond what the host does (`Hosted`: boot,
/// polls, snapshots, membership): edits, datagrams, timers, going offline,
/// and what the checker and the report read.
pub trait SimNode: Hosted {
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), Error>;
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]);
    fn handle_timeout(&mut self, now: Time);
    fn set_online(&mut self, now: Time, online: bool);
    /// Datagrams resent because they were not acknowledged in time.
    fn retransmits(&self) -> u64;
    /// Times the node rejoined its group under a new replica id.
    fn rejoins(&self) -> u64 {
        0
    }
    /// False while a newcomer waits for the group's document.
    fn is_joined(&self) -> bool {
        true
    }
    /// The addresses of the peers the node knows (added or learned).
    fn peer_addrs(&self) -> Vec<SocketAddr>;
    /// How many of them it keeps full peer state for (fewer than it
    /// knows in a large group: `node::Config::view_max`).
    fn peers_held(&self) -> usize {
        self.peer_addrs().len()
    }
    /// Turns `config` into that of a deliberately broken node (for
    /// `Sabotage::BrokenNode`, to prove the checker catches a protocol bug).
    /// Returns false if this protocol has no such knob (the real node has
    /// none: its broken variant is another type, [`crate::broken::DroppingNode`]).
    fn break_config(config: &mut Config) -> bool;
    /// Whether the protocol cleans up history (`node::Config::collect_min_runs`):
    /// only then does `--settle` wait for it.
    fn cleans_up() -> bool {
        true
    }
    /// Whether the protocol finds peers by LAN announcements
    /// (`node::Config::discovery`): only then does `--lan` apply (for
    /// another protocol it is an ordinary run).
    fn discovers() -> bool {
        false
    }
}

impl SimNode for Node {
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), Error> {
        Node::edit(self, now, edit)
    }
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        Node::handle_datagram(self, now, from, bytes)
    }
    fn handle_timeout(&mut self, now: Time) {
        Node::handle_timeout(self, now)
    }
    fn set_online(&mut self, now: Time, online: bool) {
        Node::set_online(self, now, online)
    }
    fn retransmits(&self) -> u64 {
        self.stats().retransmits
    }
    fn rejoins(&self) -> u64 {
        self.stats().rejoins
    }
    fn is_joined(&self) -> bool {
        Node::is_joined(self)
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> = self.peers().into_iter().map(|p| p.addr).collect();
        addrs.extend(self.passive_addrs());
        addrs
    }
    fn peers_held(&self) -> usize {
        self.peer_count()
    }
    /// No knob: the broken real node is [`crate::broken::DroppingNode`].
    fn break_config(_config: &mut Config) -> bool {
        false
    }
    fn discovers() -> bool {
        true
    }
}
