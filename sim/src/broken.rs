//! The real node, broken on purpose from the outside, to prove the checker
//! catches a protocol bug (`--sabotage broken-node`, [`Sabotage::BrokenNode`]).
//!
//! [`DroppingNode`] is the real `Node` behind a filter on what it receives:
//! from every datagram it removes each op carrying an id whose counter is 7
//! mod 16, and every snapshot chunk (a snapshot would carry those ops), then
//! hands the rest to the node, sealed again exactly as the sender sealed it.
//! So the node acknowledges the datagram, as the sender sent it, yet never
//! sees those ops: no resend can ever deliver them. The node itself has no
//! such knob.
//!
//! [`Sabotage::BrokenNode`]: crate::Sabotage::BrokenNode

use std::net::SocketAddr;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rumor::doc::{Error, ReplicaId};
use rumor::node::{Config, Edit, Event, Node, Time, Transmit};
use rumor::wire::{self, Frame, SealKeys};
use rumor::{Doc, Op, VersionVector};

use rumor::host::Hosted;

use crate::protocol::SimNode;

/// The real node, acknowledging but dropping some of the ops it receives
/// (see the module's documentation).
pub struct DroppingNode {
    node: Node,
    /// The group key's epoch keys, to open and seal again what arrives.
    keys: Option<SealKeys>,
    /// The replica ids datagrams are opened as: the node's, then the one it
    /// had before it last rejoined (as the node itself does).
    opened_as: [ReplicaId; 2],
    scratch: Vec<u8>,
}

/// Whether the broken node drops `op`: it carries an id whose counter is
/// 7 mod 16.
fn dropped(op: &Op) -> bool {
    let span = op.span();
    (span.start.counter..span.end_counter()).any(|c| c % 16 == 7)
}

impl DroppingNode {
    /// `bytes` without the ops and snapshot chunks the node must not see,
    /// or `None` to hand it `bytes` as they are (nothing to drop, or
    /// nothing the node would read: it counts that itself).
    fn filter(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let me = self.node.doc().replica();
        if self.opened_as[0] != me {
            self.opened_as = [me, self.opened_as[0]];
        }
        let known = if self.opened_as[1] == me { 1 } else { 2 };
        // One id at a time, to learn which one a bound datagram is bound to.
        let (header, seal, to, mut frames) = self.opened_as[..known].iter().find_map(|&r| {
            let opened =
                wire::open_with_keys_as(bytes, self.keys.as_mut(), &[r], &mut self.scratch).ok()?;
            let frames = wire::decode_payload(&opened.header, opened.payload).ok()?;
            Some((
                opened.header,
                opened.seal,
                opened.bound.then_some(r),
                frames,
            ))
        })?;
        let before = frames.len();
        frames.retain(|f| match f {
            Frame::Op(op) => !dropped(op),
            Frame::Snapshot(_) => false,
            _ => true,
        });
        if frames.len() == before {
            return None;
        }
        // What is left must still be acknowledged as promptly as the ops
        // would have been: a ping asks for that.
        if !frames.iter().any(Frame::is_ack_eliciting) {
            frames.push(Frame::Ping);
        }
        let key = self.keys.as_ref().map(SealKeys::group);
        Some(match (seal, key, to) {
            (Some(id), Some(key), Some(to)) => {
                wire::encode_sealed_to(key, &header, id, to, &frames)
            }
            (Some(id), Some(key), None) => wire::encode_sealed(key, &header, id, &frames),
            _ => wire::encode(&header, &frames),
        })
    }
}

impl Hosted for DroppingNode {
    fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Self {
        let keys = config.key.clone().map(SealKeys::new);
        let me = doc.replica();
        DroppingNode {
            node: Node::new(doc, config, rng, now),
            keys,
            opened_as: [me; 2],
            scratch: Vec::new(),
        }
    }
    fn doc(&self) -> &Doc {
        self.node.doc()
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
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        Some(self.node.snapshot_now())
    }
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        self.node.current_snapshot()
    }
    fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        self.node.offer_snapshot(version, bytes)
    }
    fn prepare_snapshot(&mut self) {
        self.node.prepare_snapshot()
    }
}

impl SimNode for DroppingNode {
    fn edit(&mut self, now: Time, edit: Edit) -> Result<(), Error> {
        self.node.edit(now, edit)
    }
    fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        match self.filter(bytes) {
            Some(filtered) => self.node.handle_datagram(now, from, &filtered),
            None => self.node.handle_datagram(now, from, bytes),
        }
    }
    fn handle_timeout(&mut self, now: Time) {
        self.node.handle_timeout(now)
    }
    fn set_online(&mut self, now: Time, online: bool) {
        self.node.set_online(now, online)
    }
    fn retransmits(&self) -> u64 {
        self.node.stats().retransmits
    }
    fn rejoins(&self) -> u64 {
        self.node.stats().rejoins
    }
    fn is_joined(&self) -> bool {
        self.node.is_joined()
    }
    fn peer_addrs(&self) -> Vec<SocketAddr> {
        <Node as SimNode>::peer_addrs(&self.node)
    }
    fn peers_held(&self) -> usize {
        <Node as SimNode>::peers_held(&self.node)
    }
    /// Broken by construction: the config needs no change.
    fn break_config(_config: &mut Config) -> bool {
        true
    }
    fn discovers() -> bool {
        true
    }
}
