//! What the simulator needs from a protocol node: exactly the sans-IO API of
//! `rumor::node::Node` (DESIGN.md, "The node, sans-IO").
//!
//! The simulator drives the real `Node` through this trait; the other
//! implementations are [`crate::broken::DroppingNode`], the real node
//! broken on purpose from the outside, and [`crate::toy::ToyNode`], a
//! minimal flooding protocol used to test the simulator itself (including a
//! deliberately broken variant): both are there for the checker to catch.

use std::net::SocketAddr;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rumor::doc::Error;
use rumor::host::Hosted;
use rumor::node::{Config, Edit, Event, Membership, Node, Time, Transmit};
use rumor::{Doc, VersionVector};

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
    /// Snapshots, for the host's compaction and newcomers (see
    /// `rumor::host::Hosted`); a protocol without them keeps its whole log.
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        None
    }
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        None
    }
    fn offer_snapshot(&mut self, _version: VersionVector, _bytes: Arc<[u8]>) {}
    fn prepare_snapshot(&mut self) {}
    /// The membership kept across restarts (see `rumor::host::Hosted`); a
    /// protocol without one keeps none. A wrapper of the real node must
    /// forward these, or its restarts silently forget their members.
    fn membership_changes(&self) -> Option<(u64, bool, u32)> {
        None
    }
    fn membership(&self) -> Option<Membership> {
        None
    }
    fn restore_membership(&mut self, _now: Time, _membership: &Membership) {}
}

/// A [`SimNode`] as the host sees it (the host is rumor's, the trait the
/// simulator's: this wrapper joins them).
pub struct AsHosted<N>(pub N);

impl<N: SimNode> Hosted for AsHosted<N> {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self {
        AsHosted(N::new(doc, config, rng, now))
    }
    fn doc(&self) -> &Doc {
        self.0.doc()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.0.poll_event()
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.0.poll_timeout()
    }
    fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        self.0.add_peer(now, addr);
        true
    }
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        self.0.snapshot_now()
    }
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        self.0.current_snapshot()
    }
    fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        self.0.offer_snapshot(version, bytes)
    }
    fn prepare_snapshot(&mut self) {
        self.0.prepare_snapshot()
    }
    fn membership_changes(&self) -> Option<(u64, bool, u32)> {
        self.0.membership_changes()
    }
    fn membership(&self) -> Option<Membership> {
        self.0.membership()
    }
    fn restore_membership(&mut self, now: Time, membership: &Membership) {
        self.0.restore_membership(now, membership)
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
        self.peers().into_iter().map(|p| p.addr).collect()
    }
    /// No knob: the broken real node is [`crate::broken::DroppingNode`].
    fn break_config(_config: &mut Config) -> bool {
        false
    }
    fn discovers() -> bool {
        true
    }
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        Some(Node::snapshot_now(self))
    }
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        Node::current_snapshot(self)
    }
    fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        Node::offer_snapshot(self, version, bytes)
    }
    fn prepare_snapshot(&mut self) {
        Node::prepare_snapshot(self)
    }
    fn membership_changes(&self) -> Option<(u64, bool, u32)> {
        Some(Node::membership_changes(self))
    }
    fn membership(&self) -> Option<Membership> {
        Some(Node::membership(self))
    }
    fn restore_membership(&mut self, now: Time, membership: &Membership) {
        Node::restore_membership(self, now, membership)
    }
}
