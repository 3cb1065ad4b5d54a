//! Partial views: in a large group a node keeps full state for a bounded
//! number of peers, and only the addresses of the others.
//!
//! Every peer in the table costs a few kilobytes (its `Peer`, the version
//! vector of what it has, queues, timers) and a handshake, and every
//! member's report names every replica: a table holding the whole group
//! makes memory and handshakes grow as N^2 over the group. So, as in
//! HyParView's active and passive views, once a node was told of more
//! than `PARTIAL_AFTER` (384) addresses (configured, or learned from peer
//! lists or announcements), the addresses it has not contacted yet are
//! kept in a *passive* list, and it contacts random ones of them until it
//! has `Config::view_max` live peers: the peers it chose, plus those that
//! chose it (a datagram from a member is always taken in). Random choices
//! make a random graph of degree about `2 * view_max`, connected with
//! overwhelming probability; a node whose live peers drop below the bound
//! (peers down, a partition) contacts more from its passive list.
//!
//! What changes in such a group (smaller groups behave as before):
//!
//! - Ops are not pushed down a global tree (the trees need every node to
//!   see the same members): as in a group without peer exchange, a node
//!   relays each new op to every live peer not known to have it, a flood
//!   over the random graph of views. That costs about `2 * view_max`
//!   copies of each op per node where a tree costs one, but reaches every
//!   node in about log(N) / log(2 * view_max) hops with no lazy repair
//!   (random pushes to a few peers missed some node for almost every op
//!   in a 300-node group, and the lazy repair took a second).
//! - Cleanup needs every member's report (`stability.rs`), and a node
//!   hears reports from its own peers only: in such a group members it
//!   does not hear hold cleanup back (safety over liveness), and it
//!   declares gone only members it could hear (its peers): silence from
//!   one it never hears directly says nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use rand::RngExt;

use super::{Node, PeerState, Time};

/// A node keeps a partial view once it was told of more than this many
/// addresses (and more than `Config::view_max`): in smaller groups every
/// address known is a peer, as before partial views, and ops go down the
/// trees (one copy per node; a 300-node simulation of 500 ops fits in
/// about 450 MB).
pub(super) const PARTIAL_AFTER: usize = 384;

/// Addresses known but not contacted (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Passive {
    /// The addresses, and whether the user configured each one.
    addrs: BTreeMap<SocketAddr, bool>,
    /// The node was told of more than `PARTIAL_AFTER` addresses once
    /// (configured, or learned): from then on it keeps a partial view
    /// (never undone, so it does not flap).
    partial: bool,
    /// Until then, the addresses it was told of (datagrams from strangers
    /// do not count: they cannot turn a small group's node partial).
    told: BTreeSet<SocketAddr>,
    /// The passive list gained an address: see whether the view needs it.
    fill_due: bool,
}

impl Node {
    /// Whether this node keeps a partial view (see the module docs).
    pub(super) fn partial_view(&self) -> bool {
        self.passive.partial
    }

    /// The addresses this node knows but keeps no peer state for (its
    /// passive list; empty in a small group).
    pub fn passive_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.passive.addrs.keys().copied()
    }

    /// How many peers the table holds (with their full state).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// `addr` (configured or learned) is not in the table: in a large group
    /// it goes to the passive list (true), to be contacted if the view
    /// needs it; false: the caller makes it a peer, as in a small group.
    pub(super) fn defer_to_passive(&mut self, addr: SocketAddr, configured: bool) -> bool {
        let max = self.config.view_max;
        if max == 0 || self.peers.contains_key(&addr) {
            return false;
        }
        if !self.passive.partial {
            self.passive.told.insert(addr);
            if self.passive.told.len() <= PARTIAL_AFTER.max(max) {
                return false;
            }
            self.passive.told = BTreeSet::new();
            self.passive.partial = true;
            // Peers we were told of and have not heard from yet go back to
            // the passive list with the rest: which of them to contact is
            // drawn from all of them (the first ones told of are not
            // special), when the view is filled.
            let untouched: Vec<(SocketAddr, bool)> = self
                .peers
                .values()
                .filter(|p| p.last_heard().is_none() && !p.admission.proven())
                .map(|p| (p.addr(), p.admission.configured()))
                .collect();
            for (a, c) in untouched {
                self.peers.remove(&a);
                self.snapshots_in.remove(&a);
                self.handshakes.remove(&a);
                self.passive.addrs.insert(a, c);
            }
            self.peers.shrink_to_fit();
        }
        if self.passive.addrs.len() < self.config.max_peers.max(max) {
            let was = self.passive.addrs.entry(addr).or_insert(false);
            *was |= configured;
        }
        self.passive.fill_due = true;
        true
    }

    /// `addr` is a peer now: it is no longer passive.
    pub(super) fn left_passive(&mut self, addr: &SocketAddr) {
        if self.passive.partial {
            self.passive.addrs.remove(addr);
        }
    }

    /// The view has fewer than `view_max` live peers and the passive list
    /// may fill it: contacts random addresses of it until it has.
    pub(super) fn fill_view(&mut self, now: Time) {
        if !self.passive.fill_due {
            return;
        }
        self.passive.fill_due = false;
        let max = self.config.view_max;
        let mut live = self
            .peers
            .values()
            .filter(|p| p.state() != PeerState::Down)
            .count();
        let clear = self.seal_keys.is_none();
        while live < max && !self.passive.addrs.is_empty() {
            let i = self.rng.random_range(0..self.passive.addrs.len());
            let (&addr, &configured) = self.passive.addrs.iter().nth(i).expect("in range");
            self.passive.addrs.remove(&addr);
            if self.own_addrs.contains(&addr) || self.peers.contains_key(&addr) {
                continue;
            }
            if !self.ensure_peer(now, addr, configured) {
                break;
            }
            if let Some(peer) = self.peers.get_mut(&addr) {
                if configured {
                    peer.admission.configure();
                } else {
                    peer.admission.learn(clear);
                }
            }
            self.start_exchange(now, addr);
            live += 1;
        }
    }

    /// At each peer exchange: if peers went down, the view may need more.
    pub(super) fn check_view(&mut self) {
        if self.passive.partial && !self.passive.addrs.is_empty() {
            self.passive.fill_due = true;
        }
    }
}
