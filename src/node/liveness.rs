//! Membership and liveness: which addresses are peers, who is alive,
//! and the peer lists they exchange.

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;

use crate::doc::ReplicaId;
use crate::wire::{self, Frame};

use super::in_flight::{InFlight, FIRST_PACKET_SPAN};
use super::loss::arm_loss_timer;
use super::peer::Peer;
use super::timers::peer_timer;
use super::{
    Config, Event, Node, PeerState, Time, FIRST_TRY_COPIED_BYTES, FIRST_TRY_COPIED_TRIES,
    FIRST_TRY_COPIES, MAX_PEER_LIST, PROBE_BYTES,
};

/// Before any round trip is known, first contact is retried after
/// `Config::initial_rto` divided by this (as challenges are): a ping and a
/// `Join` are small, and the wait doubles to a ping interval within two
/// silent tries.
const FIRST_CONTACT_BEFORE_RTT_DIVISOR: u32 = 4;

/// What a ping timeout found (see [`Liveness::ping_timeout`]).
pub struct Silence {
    /// Since the peer was last heard (or added).
    pub length: Duration,
    /// The state that silence gives (a down peer stays down regardless).
    pub state: PeerState,
    /// The peer went down just now.
    pub went_down: bool,
}

/// Whether a peer is heard: when it entered the table and was last heard,
/// the state that gives, and how far first-contact retries backed off.
#[derive(Clone, Debug)]
pub struct Liveness {
    state: PeerState,
    added_at: Time,
    last_heard: Option<Time>,
    /// First-contact retries (pings to a configured peer never heard
    /// from, a newcomer's `Join`) timed while it was silent: each waits
    /// twice as long as the last (see [`Liveness::first_contact_wait`]).
    contact_backoff: u32,
}

impl Liveness {
    /// A peer that entered the table at `now`, not heard yet.
    pub fn new(now: Time) -> Liveness {
        Liveness {
            state: PeerState::Down,
            added_at: now,
            last_heard: None,
            contact_backoff: 0,
        }
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    pub fn added_at(&self) -> Time {
        self.added_at
    }

    pub fn last_heard(&self) -> Option<Time> {
        self.last_heard
    }

    /// It was heard at `now`: it is alive. Returns the state it was in.
    pub fn heard(&mut self, now: Time) -> PeerState {
        self.last_heard = Some(now);
        std::mem::replace(&mut self.state, PeerState::Alive)
    }

    /// Its ping interval ran out at `now`: how long it has been silent,
    /// and what that makes it. A down peer stays down until it is heard.
    pub fn ping_timeout(&mut self, now: Time, config: &Config) -> Silence {
        let silence = now - self.last_heard.unwrap_or(self.added_at);
        let interval = config.ping_interval;
        let by_silence = if silence >= interval * config.down_after {
            PeerState::Down
        } else if silence >= interval * config.suspect_after {
            PeerState::Suspect
        } else {
            PeerState::Alive
        };
        let went_down = by_silence == PeerState::Down && self.state != PeerState::Down;
        if self.state != PeerState::Down || by_silence == PeerState::Down {
            self.state = by_silence;
        }
        Silence {
            length: silence,
            state: by_silence,
            went_down,
        }
    }

    /// First-contact tries timed so far while the peer was silent.
    pub fn contact_tries(&self) -> u32 {
        self.contact_backoff
    }

    /// How long until the next first-contact retry, sent at `now`: `base`,
    /// doubling with each retry while the peer is silent, up to
    /// `interval`; back to `base` once it is heard within `interval`.
    pub fn first_contact_wait(
        &mut self,
        now: Time,
        base: Duration,
        interval: Duration,
    ) -> Duration {
        let heard_lately = self.last_heard.is_some_and(|at| now < at + interval);
        self.contact_backoff = if heard_lately {
            0
        } else {
            self.contact_backoff.saturating_add(1).min(16)
        };
        let doublings = self.contact_backoff.saturating_sub(1);
        base.saturating_mul(1 << doublings).min(interval)
    }
}

impl Node {
    /// Makes sure `addr` is in the peer table; false if the table is full.
    /// A full table makes room by forgetting the oldest peer that has not
    /// shown itself live (so strangers that never answer cannot hold it);
    /// for a peer the user adds (`configured`), else the least recently
    /// heard peer the user did not add.
    pub(super) fn ensure_peer(&mut self, now: Time, addr: SocketAddr, configured: bool) -> bool {
        if self.peers.contains_key(&addr) {
            return true;
        }
        if self.peers.len() >= self.config.max_peers {
            let unproven = self
                .peers
                .values()
                .filter(|p| !p.admission.proven() && !p.admission.configured())
                .min_by_key(|p| (p.liveness.added_at(), p.addr()))
                .map(Peer::addr);
            let unadded = || {
                self.peers
                    .values()
                    .filter(|p| !p.admission.configured())
                    .min_by_key(|p| (p.last_heard(), p.addr()))
                    .map(Peer::addr)
            };
            let victim = match unproven {
                Some(a) => a,
                None => match configured.then(unadded).flatten() {
                    Some(a) => a,
                    None => return false,
                },
            };
            self.peers.remove(&victim);
            self.snapshots_in.remove(&victim);
        }
        let mut peer = Peer::new(addr, &self.config, now);
        if self.config.key.is_none() {
            // In the clear an ack verifies the address: see FIRST_PACKET_SPAN.
            let first = self.rng.random_range(0..FIRST_PACKET_SPAN);
            peer.in_flight = InFlight::starting_at(first);
        }
        peer.timers
            .set(peer_timer::PING, now + self.config.ping_interval);
        self.peers.insert(addr, peer);
        self.left_passive(&addr);
        true
    }

    /// Pings `addr` and sends it our digest now.
    pub(super) fn start_exchange(&mut self, now: Time, addr: SocketAddr) {
        self.queue_our_digest(addr);
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.ping_due = true;
        let wait = self.first_contact_wait(now, addr);
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.timers.set(peer_timer::PING, now + wait);
    }

    /// Whether `peer` is still being reached for the first time: a
    /// configured peer never heard from (in the clear; with a group key
    /// the challenge retries do this, see `admission.rs`), or one a
    /// newcomer asks to join by and gets no snapshot from yet.
    fn first_contact(&self, peer: &Peer) -> bool {
        let unheard = self.seal_keys.is_none() && peer.last_heard().is_none();
        let joining = !self.joined && !self.snapshots_in.contains_key(&peer.addr());
        peer.admission.configured() && (unheard || joining)
    }

    /// How long until the next ping to `addr` (sent now). While it is
    /// first contact, a short timeout as for challenges: the peer's RTO if
    /// measured, else the last RTO measured from this node, else a quarter
    /// of `initial_rto`; doubling while the peer is silent, up to a ping
    /// interval (the pace otherwise). Only configured peers (no budget to
    /// respect: the user named them) get it.
    pub(super) fn first_contact_wait(&mut self, now: Time, addr: SocketAddr) -> Duration {
        let interval = self.config.ping_interval;
        let Some(peer) = self.peers.get(&addr) else {
            return interval;
        };
        if !self.first_contact(peer) {
            return interval;
        }
        let base = match peer.rtt.srtt() {
            Some(_) => peer.rtt.base_rto(),
            None => self
                .path_rto
                .unwrap_or(self.config.initial_rto / FIRST_CONTACT_BEFORE_RTT_DIVISOR),
        };
        let peer = self.peers.get_mut(&addr).expect("listed");
        peer.liveness.first_contact_wait(now, base, interval)
    }

    /// A retry to `addr`, never heard (a first contact, or the probe of a
    /// learned address), carries what the first try did (our hello, our
    /// digest, and a newcomer's `Join`), not only a ping:
    /// whichever try arrives first starts the exchange by itself, and in
    /// the clear it earns answers, since the peer may send an address it
    /// has not verified no more bytes than it received (a bare `Join` and
    /// ping, 18 bytes, was below the smallest answer).
    fn retry_contact(&mut self, addr: SocketAddr) {
        let heard = self
            .peers
            .get(&addr)
            .is_some_and(|p| p.last_heard().is_some());
        if heard {
            // It answered: the exchange started, what was lost goes again
            // by the loss timers.
            return;
        }
        self.queue_our_digest(addr);
        if let Some(peer) = self.peers.get_mut(&addr) {
            peer.hello_due = true;
        }
    }

    /// How many times a datagram of `len` bytes to `addr` goes: more than
    /// once only as a first-contact try to a peer never heard, in the
    /// clear. RFC 9002 (6.2.4) lets a probe sent at a timeout go as two
    /// datagrams, so that one loss does not cost a whole backed-off
    /// timeout. The first few tries of a small datagram go three times
    /// (three 45-byte tries are a tenth of one QUIC Initial, far inside
    /// any initial window; at 51% loss per datagram one arrives with 0.87
    /// instead of 0.74); later tries to a peer still silent, and large
    /// ones (a long digest), go twice. The tries still wait twice as long
    /// each time while the peer is silent. (With a key a try is a sealed
    /// challenge, whose copy the peer would refuse as a replay.)
    pub(super) fn first_try_copies(&self, addr: SocketAddr, len: usize) -> usize {
        if self.seal_keys.is_some() {
            return 1;
        }
        let Some(peer) = self.peers.get(&addr) else {
            return 1;
        };
        if peer.last_heard().is_some() || !self.first_contact(peer) {
            return 1;
        }
        let early = peer.liveness.contact_tries() <= FIRST_TRY_COPIED_TRIES;
        if early && len <= FIRST_TRY_COPIED_BYTES {
            FIRST_TRY_COPIES
        } else {
            2
        }
    }

    /// Whether `bytes`, just built for `addr`, go twice: an answer to an
    /// address that wrote first and is not verified yet (only an ack and
    /// a ping, see `transmit.rs`), while what it sent us pays for the
    /// copy too (the copy is charged here). We may send it nothing more
    /// until it acknowledges one of them, so one lost answer would cost
    /// its next try, which backs off while it hears nothing.
    pub(super) fn answer_goes_twice(&mut self, addr: SocketAddr, bytes: &[u8]) -> bool {
        if self.seal_keys.is_some() {
            return false;
        }
        let Some(peer) = self.peers.get_mut(&addr) else {
            return false;
        };
        let allowance = peer.admission.allowance();
        if !peer.admission.answers_only() || allowance.is_none_or(|a| a < bytes.len()) {
            return false;
        }
        peer.admission.sent(allowance, bytes.len());
        true
    }

    /// A valid datagram from `addr`, sent by `replica`, arrived.
    pub(super) fn on_heard(&mut self, now: Time, addr: SocketAddr, replica: ReplicaId) {
        // A member from its first datagram on, and remembered durably
        // before we answer it (the host writes the membership before it
        // sends): if we let it in with a snapshot and then restart, we
        // must still wait for its reports.
        self.stability.note_member(replica);
        let peer = self.peers.get_mut(&addr).expect("ensured");
        if let Some(old) = peer.replica().filter(|&r| r != replica) {
            let old_heard = peer.last_heard().unwrap_or(now);
            peer.reset_replica(replica);
            // One socket, one process: the replica that spoke from here
            // before has ended its run or taken a fresh id. Once it is
            // quiet it is declared gone (see `Stability::supersede`).
            self.stability.supersede(old, old_heard, replica);
            self.peers.bump_replicas();
            // Ask what it has: it answers with its digest if it lacks any.
            self.queue_our_digest(addr);
        }
        self.peers.note_replica(&addr, replica);
        let peer = self.peers.get_mut(&addr).expect("ensured");
        let was = peer.liveness.heard(now);
        if peer.rtt.backoff() > 0 {
            // Heard again: what waits for an ack need not wait the whole
            // backed-off timeout (see `loss::retransmission_timeout`).
            arm_loss_timer(peer, now, self.config.ping_interval, self.path_rto);
        }
        if self.first_contact(self.peers.get(&addr).expect("ensured")) {
            // Heard while we still reach it for the first time: the next
            // try goes at the base pace, not after the wait that backed
            // off while it was silent (a newcomer asks again soon).
            let base = self.first_contact_wait(now, addr);
            let peer = self.peers.get_mut(&addr).expect("ensured");
            peer.timers.set_earliest(peer_timer::PING, now + base);
        }
        if was == PeerState::Down {
            self.events.push_back(Event::PeerUp(addr));
            // (Re)discovered: catch each other up, and tell it who we know.
            self.queue_our_digest(addr);
            let peer = self.peers.get_mut(&addr).expect("ensured");
            peer.hello_due = true;
            if !self.joined {
                peer.control.push_back(Frame::Join);
            }
            if self.config.peer_exchange {
                self.queue_peer_list(addr);
            }
        }
    }

    pub(super) fn peer_timeouts(&mut self, now: Time, addr: SocketAddr) {
        let me = self.doc.replica();
        let first_contact = self.first_contact(self.peers.get(&addr).expect("listed"));
        let config = &self.config;
        let peer = self.peers.get_mut(&addr).expect("listed");
        peer.ack_timeout(now);
        let mut lost_digest = None;
        let mut reprobe = false;
        if peer.timers.expire(peer_timer::LOSS, now) {
            if self.seal_keys.is_some() && !peer.admission.proven() {
                // Our challenge was not answered: it goes again.
                peer.ping_due = true;
            } else {
                lost_digest = Self::detect_losses(
                    &mut self.stats,
                    peer,
                    now,
                    me,
                    config.ping_interval,
                    self.path_rto,
                );
            }
        }
        // Held ops are due: `poll_transmit` sends them.
        peer.timers.expire(peer_timer::COALESCE, now);
        let ping_fired = peer.timers.expire(peer_timer::PING, now);
        if ping_fired {
            let interval = config.ping_interval;
            let silence = peer.liveness.ping_timeout(now, config);
            let new_state = silence.state;
            if silence.went_down {
                self.events.push_back(Event::PeerDown(addr));
                // Stop sending it data; when it answers again a digest
                // exchange tells what it lacks.
                peer.reset_sending();
                // Nor keep a half-received snapshot from it.
                self.snapshots_in.remove(&addr);
            }
            if silence.length >= interval || first_contact {
                peer.ping_due = true;
            }
            if !self.joined
                && new_state != PeerState::Down
                && !self.snapshots_in.contains_key(&addr)
                && !peer.control.contains(&Frame::Join)
            {
                // A newcomer asks again until a snapshot is on its way (the
                // datagram with the last ask may have been lost).
                peer.control.push_back(Frame::Join);
            }
            peer.timers.set(peer_timer::PING, now + interval);
            let learned_unproven = !peer.admission.configured() && !peer.admission.proven();
            if learned_unproven
                && new_state == PeerState::Alive
                && peer.last_heard().is_none()
                && peer.admission.probe_again()
            {
                // A learned address a proven peer named that has not
                // answered: probed again while its silence is short (at
                // most `suspect_after` probes in all), as a first contact
                // is retried.
                reprobe = true;
            }
            if learned_unproven && new_state == PeerState::Down {
                // Never shown itself live, and silent now: forget it (gossip
                // or its next datagram may bring it back).
                self.peers.remove(&addr);
            }
        }
        if reprobe || (ping_fired && first_contact) {
            self.retry_contact(addr);
        }
        if ping_fired && first_contact {
            let wait = self.first_contact_wait(now, addr);
            if let Some(peer) = self.peers.get_mut(&addr) {
                peer.timers.set(peer_timer::PING, now + wait);
            }
        }
        self.resend_digest(addr, lost_digest);
    }

    /// Takes in the addresses of a peer list (from `from`, in a datagram
    /// `len` bytes long), while the table has room (a learned address
    /// takes no one's place). Each new one gets one small probe and nothing
    /// more until it answers. In the clear, where anyone can send a list
    /// with anyone's addresses, one datagram starts at most `MAX_PEER_LIST`
    /// probes, and from a sender not shown live no more bytes of them than
    /// it had.
    pub(super) fn on_peer_list(
        &mut self,
        now: Time,
        from: SocketAddr,
        list: &[SocketAddr],
        len: usize,
    ) {
        if !self.config.peer_exchange {
            return;
        }
        let clear = self.seal_keys.is_none();
        let vouched = clear && self.peers.get(&from).is_some_and(|p| p.admission.proven());
        let mut probes = match self.peers.get(&from) {
            _ if !clear => usize::MAX,
            Some(p) if p.admission.proven() => MAX_PEER_LIST,
            _ => len / PROBE_BYTES,
        };
        for &addr in list {
            if probes == 0 || self.peers.len() >= self.config.max_peers {
                break;
            }
            if self.own_addrs.contains(&addr) {
                continue;
            }
            if let Some(peer) = self.peers.get_mut(&addr) {
                // Already learned (perhaps from a stranger's list first):
                // a proven peer naming it vouches for it all the same.
                if vouched && !peer.admission.configured() {
                    peer.admission.vouch();
                }
                continue;
            }
            if self.defer_to_passive(addr, false) {
                continue;
            }
            if self.ensure_peer(now, addr, false) {
                probes -= 1;
                if let Some(peer) = self.peers.get_mut(&addr) {
                    peer.admission.learn(clear);
                    if vouched {
                        peer.admission.vouch();
                    }
                }
                self.start_exchange(now, addr);
            }
        }
        // It reaches them itself (see `relay.rs`). Only addresses in our
        // table are kept, so what a peer can make us hold is bounded; and
        // only in a group small enough to push directly, the one case that
        // reads them (kept in a large one, they would cost each node a set
        // of O(N) addresses per peer). The table may also hold addresses
        // that are not members, hence the margin.
        let small = self.peers.len() <= 2 * self.config.direct_push_max;
        let known: Vec<SocketAddr> = list
            .iter()
            .copied()
            .filter(|a| small && self.peers.contains_key(a))
            .collect();
        let max_named = if small { self.config.max_peers } else { 0 };
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.names(known, max_named);
        }
    }

    /// `addr` just proved itself a peer: in a group small enough that
    /// every member pushes its ops to every other directly (`gossip.rs`),
    /// the other live peers are told of it at once, not at the next peer
    /// exchange (up to `peer_exchange_interval` later): until two members
    /// know each other, nobody carries their ops between them but lazy
    /// gossip. (Only once it proved itself: a spoofed address must not
    /// make our peers probe it.) It was told of them when it came up.
    pub(super) fn introduce(&mut self, addr: SocketAddr) {
        if !self.config.peer_exchange {
            return;
        }
        // Itself, the new peer and the others: looking past that many
        // would only cost a large group O(N) per proven peer.
        let most = self.config.direct_push_max.saturating_sub(2);
        let others: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.addr() != addr && p.state() != PeerState::Down && p.replica().is_some())
            .map(|p| p.addr())
            .take(most + 1)
            .collect();
        if others.len() > most {
            return;
        }
        let (max_frame, me) = (self.max_frame(), self.doc.replica());
        for to in others {
            let Some(peer) = self.peers.get_mut(&to) else {
                continue;
            };
            // Added to a list still waiting for it, if there is room.
            let waiting = peer.control.iter_mut().find_map(|f| match f {
                Frame::Peers(list) => Some(list),
                _ => None,
            });
            match waiting {
                Some(list) if list.contains(&addr) => {}
                Some(list) => {
                    list.push(addr);
                    if list.len() > MAX_PEER_LIST
                        || wire::encoded_len(&Frame::Peers(list.clone()), me) > max_frame
                    {
                        list.pop();
                    }
                }
                None => peer.control.push_back(Frame::Peers(vec![addr])),
            }
        }
    }

    pub(super) fn queue_peer_list(&mut self, to: SocketAddr) {
        let listable = self.listable_addrs();
        self.queue_peer_list_from(to, &listable);
    }

    /// The peers not down, in address order.
    fn live_peers(&self) -> impl Iterator<Item = &Peer> + '_ {
        self.peers.values().filter(|p| p.state() != PeerState::Down)
    }

    /// The addresses of the peers not down, in address order.
    pub(super) fn live_addrs(&self) -> Vec<SocketAddr> {
        self.live_peers().map(Peer::addr).collect()
    }

    /// The peers a peer list names: live, and shown to hear us (proven)
    /// or added by the user. An address that only wrote to us may be
    /// spoofed, or may not have heard our answers: naming it would make
    /// others probe it, and tell them we reach it (`relay.rs` then leaves
    /// our ops to us), when we may not.
    pub(super) fn listable_addrs(&self) -> Vec<SocketAddr> {
        self.live_peers()
            .filter(|p| p.admission.proven() || p.admission.configured())
            .map(Peer::addr)
            .collect()
    }

    /// Queues for `to` a list of the peers in `all_live` (see
    /// [`Node::live_addrs`]; listed once for a whole round) but itself.
    pub(super) fn queue_peer_list_from(&mut self, to: SocketAddr, all_live: &[SocketAddr]) {
        // As many live peers as fit one frame beside an ack (IPv6
        // addresses are long; a small MTU takes fewer).
        let (max_frame, me) = (self.max_frame(), self.doc.replica());
        // `all_live` without `to`, by index, without a copy.
        let skip = all_live.binary_search(&to).ok();
        let len = all_live.len() - usize::from(skip.is_some());
        let at = |i: usize| {
            all_live[if skip.is_some_and(|s| i >= s) {
                i + 1
            } else {
                i
            }]
        };
        // A group larger than one list: a random window of it each time,
        // so every member is told about every other within a few rounds.
        let start = match len {
            0..=MAX_PEER_LIST => 0,
            n => self.rng.random_range(0..n),
        };
        let mut list: Vec<SocketAddr> = (0..len.min(MAX_PEER_LIST))
            .map(|i| at((start + i) % len))
            .collect();
        while !list.is_empty() && wire::encoded_len(&Frame::Peers(list.clone()), me) > max_frame {
            list.pop();
        }
        if list.is_empty() {
            return;
        }
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.queue_peer_list(Frame::Peers(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_peer_comes_up_only_when_heard() {
        let config = Config::default();
        let interval = config.ping_interval;
        let start = Time::from_millis(0);
        let mut l = Liveness::new(start);
        assert_eq!(l.state(), PeerState::Down);
        // Heard once, then silent: suspect, then down once.
        assert_eq!(l.heard(start), PeerState::Down);
        let suspect = start + interval * config.suspect_after;
        assert!(!l.ping_timeout(suspect, &config).went_down);
        assert_eq!(l.state(), PeerState::Suspect);
        let down = start + interval * config.down_after;
        assert!(l.ping_timeout(down, &config).went_down);
        assert!(
            !l.ping_timeout(down + interval, &config).went_down,
            "only once"
        );
        // Silence that would say "alive" does not bring it up.
        let mut l = Liveness::new(start);
        let silence = l.ping_timeout(start + interval, &config);
        assert_eq!(
            (silence.state, silence.went_down),
            (PeerState::Alive, false)
        );
        assert_eq!(l.state(), PeerState::Down);
        assert_eq!(l.heard(start + interval), PeerState::Down);
        assert_eq!(l.state(), PeerState::Alive);
    }

    #[test]
    fn first_contact_waits_double_while_silent_up_to_the_interval() {
        let base = Duration::from_millis(100);
        let interval = Duration::from_secs(1);
        let start = Time::from_millis(0);
        let mut l = Liveness::new(start);
        let waits: Vec<u128> = (0..6)
            .map(|_| l.first_contact_wait(start, base, interval).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        l.heard(start);
        assert_eq!(l.first_contact_wait(start, base, interval), base);
    }
}
