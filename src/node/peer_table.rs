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
#[derive(Debug, Default)]
pub struct PeerTable {
    slots: Slots,
    /// Per watcher, the addresses whose bit was set, in the order they
    /// changed (an address is listed again only once the watcher has
    /// looked; a removed peer's address may linger until then).
    changed: [Vec<SocketAddr>; WATCHERS],
    /// Each peer's next deadline as last indexed (a peer the deadline
    /// watcher has not looked at since it changed may have moved), earliest
    /// on top. Entries are never taken out when a deadline moves: one that
    /// is no longer its peer's `Slot::indexed` is stale and skipped (a heap
    /// push per move costs less than a tree's removal and insertion, which
    /// ran for most datagrams sent or received).
    by_deadline: BinaryHeap<Reverse<(Time, Key)>>,
    /// A live member was removed since the last look at the members.
    member_removed: bool,
    /// Bumped when a peer with a replica leaves the table or a peer's
    /// replica is set (see [`PeerTable::note_replica`]).
    replicas_changed: u64,
}

impl PeerTable {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn contains_key(&self, addr: &SocketAddr) -> bool {
        self.slots.contains_key(&Key::new(*addr))
    }

    pub fn get(&self, addr: &SocketAddr) -> Option<&Peer> {
        self.slots.get(&Key::new(*addr)).map(|s| &s.peer)
    }

    /// The peer, to change: every watcher will look at it.
    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        let slot = self.slots.get_mut(&Key::new(*addr))?;
        note(&mut self.changed, slot, *addr, ALL);
        Some(&mut slot.peer)
    }

    /// The peer, to build a datagram for: every watcher but the sender
    /// will look at it. A build that sends nothing leaves the peer with
    /// nothing to send until it changes again or one of its timers runs
    /// out; one that sends marks it with [`PeerTable::mark_sendable`].
    pub fn get_mut_to_build(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        let slot = self.slots.get_mut(&Key::new(*addr))?;
        note(
            &mut self.changed,
            slot,
            *addr,
            ALL & !(1 << Watcher::Send as u8),
        );
        Some(&mut slot.peer)
    }

    /// The sender is to look at `addr` again (it sent, and may have more).
    pub fn mark_sendable(&mut self, addr: SocketAddr) {
        if let Some(slot) = self.slots.get_mut(&Key::new(addr)) {
            note(&mut self.changed, slot, addr, 1 << Watcher::Send as u8);
        }
    }

    /// Every peer, to change: every watcher will look at every one.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        let changed = &mut self.changed;
        self.slots.iter_mut().map(move |(key, slot)| {
            note(changed, slot, key.addr, ALL);
            &mut slot.peer
        })
    }

    /// Every watcher is to look at every peer (something the node keeps
    /// for all peers changed).
    pub fn mark_all(&mut self) {
        for _ in self.values_mut() {}
    }

    pub fn values(&self) -> impl Iterator<Item = &Peer> {
        self.slots.iter().map(|(_, s)| &s.peer)
    }

    pub fn keys(&self) -> impl Iterator<Item = &SocketAddr> {
        self.slots.iter().map(|(key, _)| &key.addr)
    }

    /// Adds (or replaces) the peer at `addr`.
    pub fn insert(&mut self, addr: SocketAddr, peer: Peer) {
        self.remove(&addr);
        let mut slot = Slot {
            peer,
            changed: 0,
            indexed: None,
            member: None,
        };
        note(&mut self.changed, &mut slot, addr, ALL);
        self.slots.insert(Key::new(addr), slot);
    }

    pub fn remove(&mut self, addr: &SocketAddr) -> Option<Peer> {
        // (Its entry in the deadline index, if any, is stale now.)
        let slot = self.slots.remove(&Key::new(*addr))?;
        self.member_removed |= slot.member.is_some();
        self.replicas_changed += u64::from(slot.peer.replica.is_some());
        Some(slot.peer)
    }

    /// The peers that changed since `watcher` last looked, that are still
    /// in the table, in the order they changed, into `out` (cleared first).
    pub fn take_changed(&mut self, watcher: Watcher, out: &mut Vec<SocketAddr>) {
        out.clear();
        let bit = 1 << watcher as u8;
        let list = std::mem::take(&mut self.changed[watcher as usize]);
        for addr in &list {
            if let Some(slot) = self.slots.get_mut(&Key::new(*addr)) {
                if slot.changed & bit != 0 {
                    slot.changed &= !bit;
                    out.push(*addr);
                }
            }
        }
        // Keep the list's room for next time.
        let mut list = list;
        list.clear();
        self.changed[watcher as usize] = list;
    }

    /// The peer at `addr` is `replica` (bumps [`PeerTable::replicas_changed`]
    /// if it was not).
    pub fn note_replica(&mut self, addr: &SocketAddr, replica: ReplicaId) {
        if let Some(peer) = self.get_mut(addr) {
            if peer.replica != Some(replica) {
                peer.replica = Some(replica);
                self.replicas_changed += 1;
            }
        }
    }

    /// A peer's replica was set (by `Peer::reset_replica`).
    pub fn bump_replicas(&mut self) {
        self.replicas_changed += 1;
    }

    /// A counter that moves whenever the set of the peers' replicas may
    /// have changed.
    pub fn replicas_changed(&self) -> u64 {
        self.replicas_changed
    }

    /// Whether the live members (peers not down whose replica is known)
    /// changed since the last call.
    pub fn members_changed(&mut self, scratch: &mut Vec<SocketAddr>) -> bool {
        self.take_changed(Watcher::Members, scratch);
        let mut changed = std::mem::take(&mut self.member_removed);
        for addr in scratch.iter() {
            let slot = self.slots.get_mut(&Key::new(*addr)).expect("listed as present");
            let p = &slot.peer;
            let member = p.replica.filter(|_| p.state != PeerState::Down);
            if member != slot.member {
                slot.member = member;
                changed = true;
            }
        }
        changed
    }

    /// Brings the deadline index up to date with the peers' timers.
    pub fn index_deadlines(&mut self, scratch: &mut Vec<SocketAddr>) {
        self.take_changed(Watcher::Deadline, scratch);
        for addr in scratch.iter() {
            let slot = (self.slots.get_mut(&Key::new(*addr))).expect("listed as present");
            let next = slot.peer.timers.next();
            if next != slot.indexed {
                if let Some(t) = next {
                    self.by_deadline.push(Reverse((t, Key::new(*addr))));
                }
                slot.indexed = next;
            }
        }
        self.drop_stale();
    }

    /// Whether `entry` of the deadline index is its peer's deadline as
    /// indexed (the peer is still here and its deadline has not moved).
    fn is_current(&self, &Reverse((t, key)): &Reverse<(Time, Key)>) -> bool {
        self.slots.get(&key).is_some_and(|s| s.indexed == Some(t))
    }

    /// Pops stale entries off the top of the deadline index, and rebuilds
    /// it when stale entries are most of it.
    fn drop_stale(&mut self) {
        if self.by_deadline.len() > 4 * self.slots.len() + 64 {
            let current = self
                .slots
                .iter()
                .filter_map(|(key, s)| Some(Reverse((s.indexed?, *key))));
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
        self.index_deadlines(out);
        out.clear();
        while let Some(&Reverse((t, key))) = self.by_deadline.peek() {
            if t > now {
                break;
            }
            self.by_deadline.pop();
            let Some(slot) = self.slots.get_mut(&key) else {
                continue;
            };
            if slot.indexed != Some(t) {
                continue;
            }
            // Out of the index: the deadline watcher indexes it afresh.
            slot.indexed = None;
            note(&mut self.changed, slot, key.addr, 1 << Watcher::Deadline as u8);
            out.push(key.addr);
        }
        out.sort_unstable();
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
            _ => self
                .by_deadline
                .iter()
                .filter(|e| self.is_current(e))
                .filter(|Reverse((_, key))| self.slots.get(key).is_some_and(|s| s.changed & bit == 0))
                .map(|Reverse((t, _))| *t)
                .min(),
        };
        let changed = list
            .iter()
            .filter_map(|a| self.slots.get(&Key::new(*a)))
            .filter(|s| s.changed & bit != 0)
            .filter_map(|s| s.peer.timers.next());
        indexed.into_iter().chain(changed).min()
    }
}

/// The slots in address order, found by binary search over their keys:
/// a group has a few peers to a few hundred, added and removed rarely and
/// looked up several times per datagram (a search here costs a fraction of
/// a B-tree's).
#[derive(Debug, Default)]
struct Slots {
    /// Each key's rank, apart: the search reads these alone.
    ranks: Vec<u64>,
    keys: Vec<Key>,
    slots: Vec<Slot>,
}

impl Slots {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    #[inline]
    fn find(&self, key: &Key) -> Result<usize, usize> {
        if key.rank == u64::MAX {
            return self.keys.binary_search(key);
        }
        // An IPv4 address: its rank is the whole key.
        let at = self.ranks.partition_point(|&r| r < key.rank);
        match self.ranks.get(at) {
            Some(&r) if r == key.rank => Ok(at),
            _ => Err(at),
        }
    }

    fn contains_key(&self, key: &Key) -> bool {
        self.find(key).is_ok()
    }

    fn get(&self, key: &Key) -> Option<&Slot> {
        self.find(key).ok().map(|i| &self.slots[i])
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Slot> {
        self.find(key).ok().map(|i| &mut self.slots[i])
    }

    fn insert(&mut self, key: Key, slot: Slot) {
        match self.find(&key) {
            Ok(i) => self.slots[i] = slot,
            Err(i) => {
                self.ranks.insert(i, key.rank);
                self.keys.insert(i, key);
                self.slots.insert(i, slot);
            }
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Slot> {
        let i = self.find(key).ok()?;
        self.ranks.remove(i);
        self.keys.remove(i);
        Some(self.slots.remove(i))
    }

    fn iter(&self) -> impl Iterator<Item = (&Key, &Slot)> {
        self.keys.iter().zip(&self.slots)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Slot)> {
        self.keys.iter().zip(&mut self.slots)
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
        let rank = match addr {
            SocketAddr::V4(a) => (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port()),
            SocketAddr::V6(_) => u64::MAX,
        };
        Key { rank, addr }
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

impl std::ops::Index<&SocketAddr> for PeerTable {
    type Output = Peer;

    fn index(&self, addr: &SocketAddr) -> &Peer {
        self.get(addr).expect("no peer at this address")
    }
}

/// Notes `addr` as changed for the watchers in `bits` that had not yet.
fn note(changed: &mut [Vec<SocketAddr>; WATCHERS], slot: &mut Slot, addr: SocketAddr, bits: u8) {
    let new = bits & !slot.changed;
    if new == 0 {
        return;
    }
    slot.changed |= new;
    for (w, list) in changed.iter_mut().enumerate() {
        if new & (1 << w) != 0 {
            list.push(addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    use super::*;

    #[test]
    fn keys_order_as_socket_addresses() {
        let mut addrs = Vec::new();
        for ip in [[127, 0, 0, 1], [127, 0, 1, 0], [10, 0, 0, 2], [255, 0, 0, 0], [0, 0, 0, 0]] {
            for port in [0, 1, 7000, 7001, 256, 65535] {
                addrs.push(SocketAddr::from((Ipv4Addr::from(ip), port)));
            }
        }
        for port in [0, 7000] {
            addrs.push(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
            addrs.push(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 1, 2)));
        }
        for a in &addrs {
            for b in &addrs {
                assert_eq!(Key::new(*a).cmp(&Key::new(*b)), a.cmp(b), "{a} against {b}");
            }
        }
    }
}
