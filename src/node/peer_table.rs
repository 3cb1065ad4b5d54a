//! The peer table: the peers by address, and which of them changed.
//!
//! In a group of hundreds the node must not look at every peer after each
//! datagram. What a peer may send, whether it waits for a pull and when its
//! next timer is due change only when the peer itself changes (or a timer
//! of its runs out, which changes it too), and every change goes through
//! `get_mut`, `values_mut` or `insert` here. So the table notes each
//! changed address once per watcher (the sender in `poll_transmit`, the
//! refill of pulls, the deadline index, the gossip view), and each watcher
//! looks at what changed since it last looked, not at the whole table.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;

use crate::doc::ReplicaId;

use super::peer::Peer;
use super::{PeerState, Time};

/// The parts of the node that look at the peers that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watcher {
    /// `poll_transmit`: the peer may have something to send.
    Send = 0,
    /// `refill_queues`: the peer may wait for a pull.
    Pull = 1,
    /// The deadline index: the peer's timers may have moved.
    Deadline = 2,
    /// The gossip view: the peer may have come up, gone down or changed
    /// replica.
    Members = 3,
}

const WATCHERS: usize = 4;
const ALL: u8 = (1 << WATCHERS) - 1;

#[derive(Debug)]
struct Slot {
    peer: Peer,
    /// One bit per watcher: changed since that watcher last looked.
    changed: u8,
    /// The deadline this peer has in `by_deadline`.
    indexed: Option<Time>,
    /// The replica this peer counted as in the last look at the members
    /// (none: not a live member then).
    member: Option<ReplicaId>,
}

/// Peers ordered by address (iteration order reaches decisions and
/// messages), with what changed since each watcher last looked and an
/// index of the peers' next deadlines.
///
/// The peers sit in vectors in address order, found by binary search: a
/// group has a few peers to a few hundred, added and removed rarely and
/// looked up several times per datagram (a B-tree search cost more than
/// the work done on the peer found). What refers to a peer inside the
/// table (the lists of changes, the deadline index) holds its position,
/// renumbered when a peer comes or goes.
#[derive(Debug, Default)]
pub struct PeerTable {
    /// Each key's rank, apart: the search reads these alone.
    ranks: Vec<u64>,
    keys: Vec<Key>,
    slots: Vec<Slot>,
    /// Per watcher, the positions whose bit was set, in the order they
    /// changed (a position is listed again only once the watcher has
    /// looked).
    changed: [Vec<u32>; WATCHERS],
    /// Positions, for the watchers inside the table.
    scratch: Vec<u32>,
    /// Each peer's next deadline as last indexed (a peer the deadline
    /// watcher has not looked at since it changed may have moved), earliest
    /// on top, by position. Entries are never taken out when a deadline
    /// moves: one that is no longer its peer's `Slot::indexed` is stale and
    /// skipped (a heap push per move costs less than a tree's removal and
    /// insertion, which ran for most datagrams sent or received).
    by_deadline: BinaryHeap<Reverse<(Time, u32)>>,
    /// A live member was removed since the last look at the members.
    member_removed: bool,
    /// Bumped when a peer with a replica leaves the table or a peer's
    /// replica is set (see [`PeerTable::note_replica`]).
    replicas_changed: u64,
    /// The peers' replicas, sorted (a replica may be listed twice: two
    /// addresses may speak for it). Kept as replicas are set and peers
    /// leave, so that a digest's report does not read every peer.
    replicas: Vec<ReplicaId>,
}

impl PeerTable {
    /// Gives back the room of peers removed in bulk (see `view.rs`).
    pub fn shrink_to_fit(&mut self) {
        self.ranks.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.changed.iter_mut().for_each(Vec::shrink_to_fit);
        self.scratch.shrink_to_fit();
        self.by_deadline.shrink_to_fit();
        self.replicas.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The position of `addr`, or where it would go.
    #[inline(always)]
    fn find(&self, addr: &SocketAddr) -> Result<usize, usize> {
        let rank = rank(addr);
        if rank == u64::MAX {
            return self.keys.binary_search(&Key::new(*addr));
        }
        // An IPv4 address: its rank is the whole key.
        let at = self.ranks.partition_point(|&r| r < rank);
        match self.ranks.get(at) {
            Some(&r) if r == rank => Ok(at),
            _ => Err(at),
        }
    }

    pub fn contains_key(&self, addr: &SocketAddr) -> bool {
        self.find(addr).is_ok()
    }

    pub fn get(&self, addr: &SocketAddr) -> Option<&Peer> {
        self.find(addr).ok().map(|i| &self.slots[i].peer)
    }

    /// The peer at position `i`, noted as changed for the watchers in `bits`.
    fn noted(&mut self, i: usize, bits: u8) -> &mut Peer {
        let slot = &mut self.slots[i];
        note(&mut self.changed, slot, i, bits);
        &mut slot.peer
    }

    /// The peer, to change: every watcher will look at it.
    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        let i = self.find(addr).ok()?;
        Some(self.noted(i, ALL))
    }

    /// The peer, to build a datagram for: every watcher but the sender
    /// will look at it. A build that sends nothing leaves the peer with
    /// nothing to send until it changes again or one of its timers runs
    /// out; one that sends marks it with [`PeerTable::mark_sendable`].
    pub fn get_mut_to_build(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        let i = self.find(addr).ok()?;
        Some(self.noted(i, ALL & !(1 << Watcher::Send as u8)))
    }

    /// The sender is to look at `addr` again (it sent, and may have more).
    pub fn mark_sendable(&mut self, addr: SocketAddr) {
        if let Ok(i) = self.find(&addr) {
            self.noted(i, 1 << Watcher::Send as u8);
        }
    }

    /// Every peer, to change: every watcher will look at every one.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        let changed = &mut self.changed;
        self.slots.iter_mut().enumerate().map(move |(i, slot)| {
            note(changed, slot, i, ALL);
            &mut slot.peer
        })
    }

    /// Every watcher is to look at every peer (something the node keeps
    /// for all peers changed).
    pub fn mark_all(&mut self) {
        for _ in self.values_mut() {}
    }

    pub fn values(&self) -> impl Iterator<Item = &Peer> {
        self.slots.iter().map(|s| &s.peer)
    }

    pub fn keys(&self) -> impl Iterator<Item = &SocketAddr> {
        self.keys.iter().map(|key| &key.addr)
    }

    /// Adds (or replaces) the peer at `addr`.
    pub fn insert(&mut self, addr: SocketAddr, peer: Peer) {
        self.remove(&addr);
        let Err(i) = self.find(&addr) else {
            unreachable!("removed just now");
        };
        // The peers after it move one place up.
        self.renumber(|p| Some(if p >= i { p + 1 } else { p }));
        let key = Key::new(addr);
        self.ranks.insert(i, key.rank);
        self.keys.insert(i, key);
        self.slots.insert(
            i,
            Slot {
                peer,
                changed: 0,
                indexed: None,
                member: None,
            },
        );
        if self.slots[i].peer.replica().is_some() {
            self.relist_replicas();
        }
        self.noted(i, ALL);
    }

    pub fn remove(&mut self, addr: &SocketAddr) -> Option<Peer> {
        let i = self.find(addr).ok()?;
        self.ranks.remove(i);
        self.keys.remove(i);
        let slot = self.slots.remove(i);
        // Forgotten where it was listed; the peers after it move one down.
        self.renumber(|p| match p.cmp(&i) {
            Ordering::Less => Some(p),
            Ordering::Equal => None,
            Ordering::Greater => Some(p - 1),
        });
        self.member_removed |= slot.member.is_some();
        if let Some(r) = slot.peer.replica() {
            self.replicas_changed += 1;
            self.unlist_replica(r);
        }
        Some(slot.peer)
    }

    /// Maps every position held in the lists and the index through `f`
    /// (`None`: the peer is gone).
    fn renumber(&mut self, f: impl Fn(usize) -> Option<usize>) {
        let f = |p: u32| f(p as usize).map(|p| p as u32);
        for list in &mut self.changed {
            list.retain_mut(|p| f(*p).map(|q| *p = q).is_some());
        }
        let index = std::mem::take(&mut self.by_deadline).into_vec();
        self.by_deadline = (index.into_iter())
            .filter_map(|Reverse((t, p))| Some(Reverse((t, f(p)?))))
            .collect();
    }

    /// The positions that changed since `watcher` last looked, in the order
    /// they changed, into `self.scratch` (cleared first).
    fn take_changed_positions(&mut self, watcher: Watcher) {
        self.scratch.clear();
        let list = &mut self.changed[watcher as usize];
        if list.is_empty() {
            return; // (the usual case: this runs several times per input)
        }
        let bit = 1 << watcher as u8;
        let mut out = std::mem::take(&mut self.scratch);
        for &p in list.iter() {
            let slot = &mut self.slots[p as usize];
            if slot.changed & bit != 0 {
                slot.changed &= !bit;
                out.push(p);
            }
        }
        list.clear();
        self.scratch = out;
    }

    /// The peers that changed since `watcher` last looked and that `keep`
    /// accepts, in the order they changed, into `out` (cleared first).
    pub fn take_changed_if(
        &mut self,
        watcher: Watcher,
        out: &mut Vec<SocketAddr>,
        keep: impl Fn(&Peer) -> bool,
    ) {
        self.take_changed_positions(watcher);
        out.clear();
        let kept = (self.scratch.iter().map(|&p| p as usize))
            .filter(|&p| keep(&self.slots[p].peer))
            .map(|p| self.keys[p].addr);
        out.extend(kept);
    }

    /// The peer at `addr` is `replica` (bumps [`PeerTable::replicas_changed`]
    /// if it was not).
    pub fn note_replica(&mut self, addr: &SocketAddr, replica: ReplicaId) {
        if let Some(peer) = self.get_mut(addr) {
            let old = peer.replica();
            if old != Some(replica) {
                peer.set_replica(replica);
                self.replicas_changed += 1;
                if let Some(old) = old {
                    self.unlist_replica(old);
                }
                let at = self.replicas.partition_point(|&r| r < replica);
                self.replicas.insert(at, replica);
            }
        }
    }

    /// A peer's replica was set (by `Peer::reset_replica`).
    pub fn bump_replicas(&mut self) {
        self.replicas_changed += 1;
        self.relist_replicas();
    }

    /// The peers' replicas, sorted, each as often as peers name it.
    pub fn replicas(&self) -> &[ReplicaId] {
        debug_assert_eq!(self.replicas, {
            let mut all: Vec<ReplicaId> = self.values().filter_map(Peer::replica).collect();
            all.sort_unstable();
            all
        });
        &self.replicas
    }

    fn unlist_replica(&mut self, replica: ReplicaId) {
        if let Ok(at) = self.replicas.binary_search(&replica) {
            self.replicas.remove(at);
        }
    }

    /// Lists the peers' replicas anew (a replica was set outside
    /// [`PeerTable::note_replica`]).
    fn relist_replicas(&mut self) {
        let mut all = std::mem::take(&mut self.replicas);
        all.clear();
        all.extend(self.slots.iter().filter_map(|s| s.peer.replica()));
        all.sort_unstable();
        self.replicas = all;
    }

    /// A counter that moves whenever the set of the peers' replicas may
    /// have changed.
    pub fn replicas_changed(&self) -> u64 {
        self.replicas_changed
    }

    /// Whether the live members (peers not down whose replica is known)
    /// changed since the last call.
    pub fn members_changed(&mut self) -> bool {
        self.take_changed_positions(Watcher::Members);
        let mut changed = std::mem::take(&mut self.member_removed);
        for &p in &self.scratch {
            let slot = &mut self.slots[p as usize];
            let peer = &slot.peer;
            let member = peer.replica().filter(|_| peer.state() != PeerState::Down);
            if member != slot.member {
                slot.member = member;
                changed = true;
            }
        }
        changed
    }

    /// Brings the deadline index up to date with the peers' timers.
    pub fn index_deadlines(&mut self) {
        self.take_changed_positions(Watcher::Deadline);
        for &p in &self.scratch {
            let slot = &mut self.slots[p as usize];
            let next = slot.peer.timers.next();
            if next != slot.indexed {
                if let Some(t) = next {
                    self.by_deadline.push(Reverse((t, p)));
                }
                slot.indexed = next;
            }
        }
        self.drop_stale();
    }

    /// Whether `entry` of the deadline index is its peer's deadline as
    /// indexed (its deadline has not moved since).
    fn is_current(&self, &Reverse((t, p)): &Reverse<(Time, u32)>) -> bool {
        self.slots[p as usize].indexed == Some(t)
    }

    /// Pops stale entries off the top of the deadline index, and rebuilds
    /// it when stale entries are most of it.
    fn drop_stale(&mut self) {
        if self.by_deadline.len() > 4 * self.slots.len() + 64 {
            let current = (self.slots.iter().enumerate())
                .filter_map(|(p, s)| Some(Reverse((s.indexed?, p as u32))));
            self.by_deadline = current.collect();
        }
        while let Some(top) = self.by_deadline.peek() {
            if self.is_current(top) {
                break;
            }
            self.by_deadline.pop();
        }
    }

    /// The peers with a timer due at `now`, in address order, into `out`.
    pub fn due(&mut self, now: Time, out: &mut Vec<SocketAddr>) {
        self.index_deadlines();
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        while let Some(&Reverse((t, p))) = self.by_deadline.peek() {
            if t > now {
                break;
            }
            self.by_deadline.pop();
            let slot = &mut self.slots[p as usize];
            if slot.indexed != Some(t) {
                continue;
            }
            // Out of the index: the deadline watcher indexes it afresh.
            slot.indexed = None;
            note(
                &mut self.changed,
                slot,
                p as usize,
                1 << Watcher::Deadline as u8,
            );
            due.push(p);
        }
        // Positions are in address order.
        due.sort_unstable();
        out.clear();
        out.extend(due.iter().map(|&p| self.keys[p as usize].addr));
        self.scratch = due;
        self.drop_stale();
    }

    /// The earliest timer of any peer.
    pub fn next_deadline(&self) -> Option<Time> {
        // The index holds for every peer but those changed since it was
        // brought up to date: those are asked directly. (Right after it was,
        // none changed and its top is current: the usual case.)
        let bit = 1 << Watcher::Deadline as u8;
        let list = &self.changed[Watcher::Deadline as usize];
        let indexed = match self.by_deadline.peek() {
            Some(top) if list.is_empty() && self.is_current(top) => Some(top.0 .0),
            _ => (self.by_deadline.iter())
                .filter(|e| self.is_current(e))
                .filter(|Reverse((_, p))| self.slots[*p as usize].changed & bit == 0)
                .map(|Reverse((t, _))| *t)
                .min(),
        };
        let changed = (list.iter())
            .map(|&p| &self.slots[p as usize])
            .filter(|s| s.changed & bit != 0)
            .filter_map(|s| s.peer.timers.next());
        indexed.into_iter().chain(changed).min()
    }
}

impl std::ops::Index<&SocketAddr> for PeerTable {
    type Output = Peer;

    fn index(&self, addr: &SocketAddr) -> &Peer {
        self.get(addr).expect("no peer at this address")
    }
}

/// Notes position `p` as changed for the watchers in `bits` that had not yet.
#[inline]
fn note(changed: &mut [Vec<u32>; WATCHERS], slot: &mut Slot, p: usize, bits: u8) {
    let new = bits & !slot.changed;
    if new == 0 {
        return;
    }
    slot.changed |= new;
    for (w, list) in changed.iter_mut().enumerate() {
        if new & (1 << w) != 0 {
            list.push(p as u32);
        }
    }
}

/// A peer's address as the table's key: ordered as `SocketAddr` is, but
/// an IPv4 address compares as one integer (std compares the octets one by
/// one; the table is searched several times per datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    /// An IPv4 address and port, in `SocketAddr`'s order; above any of
    /// them for an IPv6 address (IPv4 addresses come first).
    rank: u64,
    addr: SocketAddr,
}

impl Key {
    fn new(addr: SocketAddr) -> Key {
        Key {
            rank: rank(&addr),
            addr,
        }
    }
}

/// An IPv4 address and port as one integer in `SocketAddr`'s order;
/// `u64::MAX` for an IPv6 address (after every IPv4 one).
#[inline]
fn rank(addr: &SocketAddr) -> u64 {
    match addr {
        SocketAddr::V4(a) => (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port()),
        SocketAddr::V6(_) => u64::MAX,
    }
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Key) -> Ordering {
        match self.rank.cmp(&other.rank) {
            Ordering::Equal if self.rank == u64::MAX => self.addr.cmp(&other.addr),
            order => order,
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    use super::*;

    #[test]
    fn keys_order_as_socket_addresses() {
        let mut addrs = Vec::new();
        for ip in [
            [127, 0, 0, 1],
            [127, 0, 1, 0],
            [10, 0, 0, 2],
            [255, 0, 0, 0],
            [0, 0, 0, 0],
        ] {
            for port in [0, 1, 7000, 7001, 256, 65535] {
                addrs.push(SocketAddr::from((Ipv4Addr::from(ip), port)));
            }
        }
        for port in [0, 7000] {
            addrs.push(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
            addrs.push(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::UNSPECIFIED,
                port,
                1,
                2,
            )));
        }
        for a in &addrs {
            for b in &addrs {
                assert_eq!(Key::new(*a).cmp(&Key::new(*b)), a.cmp(b), "{a} against {b}");
            }
        }
    }

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 7000))
    }

    #[test]
    fn deadlines_and_changes_follow_peers_that_come_and_go() {
        use super::super::timers::peer_timer;
        use super::super::Config;

        let config = Config::default();
        let ms = |n: u64| Time::ZERO + std::time::Duration::from_millis(n);
        let mut table = PeerTable::default();
        // Added out of order, one removed and one added again: positions move.
        for i in [5, 1, 9, 3, 7] {
            table.insert(addr(i), Peer::new(addr(i), &config, ms(0)));
        }
        let mut out = Vec::new();
        table.take_changed_if(Watcher::Send, &mut out, |_| true);
        out.sort_unstable();
        assert_eq!(out, [1, 3, 5, 7, 9].map(addr));
        table.take_changed_if(Watcher::Send, &mut out, |_| true);
        assert!(out.is_empty(), "each change is looked at once");
        for (i, at) in [(1, 400), (3, 100), (5, 300), (7, 200), (9, 500)] {
            let timers = &mut table.get_mut(&addr(i)).unwrap().timers;
            *timers = Default::default();
            timers.set(peer_timer::PING, ms(at));
        }
        table.index_deadlines();
        assert_eq!(table.next_deadline(), Some(ms(100)));
        table.remove(&addr(3));
        assert_eq!(table.next_deadline(), Some(ms(200)));
        table.insert(addr(2), Peer::new(addr(2), &config, ms(0)));
        let timers = &mut table.get_mut(&addr(2)).unwrap().timers;
        *timers = Default::default();
        timers.set(peer_timer::ACK, ms(250));
        // Not indexed yet: asked directly.
        assert_eq!(table.next_deadline(), Some(ms(200)));
        // A deadline moved later: its old place in the index no longer counts.
        let timers = &mut table.get_mut(&addr(7)).unwrap().timers;
        timers.set(peer_timer::PING, ms(350));
        assert_eq!(table.next_deadline(), Some(ms(250)));
        table.due(ms(300), &mut out);
        assert_eq!(out, [2, 5].map(addr), "in address order");
        assert_eq!(table.next_deadline(), Some(ms(250)), "still armed");
        table.take_changed_if(Watcher::Members, &mut out, |_| true);
        out.sort_unstable();
        assert_eq!(out, [1, 2, 5, 7, 9].map(addr));
        assert_eq!(
            table.keys().copied().collect::<Vec<_>>(),
            [1, 2, 5, 7, 9].map(addr)
        );
    }
}
