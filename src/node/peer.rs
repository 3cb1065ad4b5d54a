//! What the node keeps about one peer.
//!
//! The sending side is driven by state, not by a memory of what was sent:
//! `known` is what the peer has (from its digests, raised by acks). New
//! ops are queued for the peers the gossip rule names (`gossip.rs`);
//! whatever a digest shows missing is queued again from `pull`. Losing or
//! duplicating any message only delays that.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::{Id, IdSpan, Op, ReplicaId, VersionVector};

use super::in_flight::InFlight;
use super::received::ReceivedPackets;
use super::rtt::RttEstimator;
use super::send_queue::SendQueue;
use super::snapshot::Outgoing;
use super::timers::{peer_timer, TimerTable};
use super::{Config, PeerInfo, PeerState, Time};
use crate::wire::{AckFrame, Frame};

#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Without a group key, an address that wrote to us first is not yet
    /// known to receive what we send (the source may be spoofed): until it
    /// acknowledges one of our datagrams, it gets at most as many bytes as
    /// it sent (this budget), so the node cannot amplify an attack on it.
    /// `None`: verified, added by the user, or a group member. A learned
    /// address starts at zero, with one probe allowed (`probe`).
    pub budget: Option<usize>,
    /// Shown to be a live peer at this address: with a group key, it
    /// answered our challenge (`handshake.rs`); without, it acknowledged
    /// one of our datagrams. Until then a newcomer may take its place.
    pub proven: bool,
    /// Added by the user (`add`, `--peer`): never gives its place up.
    pub configured: bool,
    /// A learned address may get one small probe before it answers.
    pub probe: bool,
    /// With a group key: its challenge to us, echoed in every datagram we
    /// send it until one sealed for us shows it has taken us in.
    pub answer: Option<u64>,
    /// First ids of ops from this peer that arrived before their causes
    /// (some may have been applied since): bounded by `max_held_per_peer`.
    pub held: BTreeSet<Id>,
    pub replica: Option<ReplicaId>,
    pub name: Option<String>,
    /// The peer's current session (from its hello).
    session: Option<u64>,
    pub state: PeerState,
    /// Learned from another peer's list (not added by the user, nor heard first).
    pub learned: bool,
    /// The addresses this peer named in its peer lists: peers it reaches
    /// itself (in a small group, its ops go to them directly; see
    /// `relay.rs`).
    pub listed: BTreeSet<SocketAddr>,
    pub added_at: Time,
    pub last_heard: Option<Time>,
    /// First-contact retries (pings to a configured peer never heard
    /// from, a newcomer's `Join`) timed while it was silent: each waits
    /// twice as long as the last (see `liveness::first_contact_wait`).
    pub contact_backoff: u32,
    pub rtt: RttEstimator,
    pub timers: TimerTable<{ peer_timer::COUNT }>,

    // Sending.
    /// What the peer has: its last digest, raised by acknowledged ops.
    pub known: VersionVector,
    /// Set when the peer lacks ops whatever the gossip rule says (its
    /// digest showed a gap, or it is back after being down): the next
    /// refill queues every op the doc has beyond this (less what is in
    /// flight). A peer we have not heard a digest from (new to us, or a
    /// new replica at its address) starts without one: what it lacks is
    /// asked first, with our digest, not guessed (a restarted node would
    /// otherwise send its whole document to peers that have it).
    pub pull: Option<VersionVector>,
    /// Ops to send, with their byte count.
    pub queue: SendQueue,
    /// Datagrams sent and not yet acknowledged or declared lost.
    pub in_flight: InFlight,
    pub next_packet: u64,
    pub largest_acked: Option<u64>,
    /// Control frames to send (digests, peer lists), oldest first.
    pub control: VecDeque<Frame>,
    /// A snapshot on its way to the peer (see `snapshot`).
    pub snapshot_out: Option<Outgoing>,
    /// When the last snapshot to this peer was acknowledged whole. Asks
    /// (a `Join`, a digest lacking everything) it sent before it had
    /// loaded that snapshot can still arrive for about an RTO: they do
    /// not start another one.
    pub snapshot_delivered: Option<Time>,
    pub ping_due: bool,
    pub hello_due: bool,

    // Receiving.
    received: ReceivedPackets,
    /// Something arrived since the last ack we sent.
    ack_pending: bool,
    /// The ack must go out now (ping, two unacked datagrams, or the delay ran out).
    ack_now: bool,
    /// Ack-eliciting datagrams received since our last ack.
    unacked_eliciting: u32,
}

impl Peer {
    pub fn new(addr: SocketAddr, config: &Config, now: Time) -> Peer {
        Peer {
            addr,
            budget: None,
            proven: false,
            configured: false,
            probe: false,
            answer: None,
            held: BTreeSet::new(),
            replica: None,
            name: None,
            session: None,
            state: PeerState::Down,
            learned: false,
            listed: BTreeSet::new(),
            added_at: now,
            last_heard: None,
            contact_backoff: 0,
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto)
                .with_max_ack_delay(config.max_ack_delay),
            timers: TimerTable::default(),
            known: VersionVector::new(),
            pull: None,
            queue: SendQueue::default(),
            in_flight: InFlight::default(),
            next_packet: 0,
            largest_acked: None,
            control: VecDeque::new(),
            snapshot_out: None,
            snapshot_delivered: None,
            ping_due: true,
            hello_due: true,
            received: ReceivedPackets::default(),
            ack_pending: false,
            ack_now: false,
            unacked_eliciting: 0,
        }
    }

    pub fn info(&self) -> PeerInfo {
        PeerInfo {
            addr: self.addr,
            replica: self.replica,
            name: self.name.clone(),
            state: self.state,
            rtt: self.rtt.srtt(),
            acked: self.known.clone(),
            last_heard: self.last_heard,
        }
    }

    /// Whether `build_datagram` may find something to send (a cheap
    /// superset of its test: it holds nothing back but queued ops).
    pub fn may_send(&self) -> bool {
        self.ack_now
            || self.ping_due
            || !self.control.is_empty()
            || !self.queue.is_empty()
            || self.snapshot_out.is_some()
    }

    /// Forgets everything about what the peer has and what is on its way:
    /// a digest exchange will establish it again.
    pub fn reset_sending(&mut self) {
        self.pull = Some(self.known.clone());
        // Dropped, not cleared: a long catch-up must not keep its room.
        self.queue = SendQueue::default();
        self.in_flight = InFlight::default();
        self.snapshot_out = None;
        self.snapshot_delivered = None;
        self.timers.clear(peer_timer::LOSS);
    }

    /// A new replica at this address (the process restarted with fresh
    /// data, or rejoined): nothing we knew about it holds, and what it
    /// lacks is to be asked (see `pull`).
    pub fn reset_replica(&mut self, replica: ReplicaId) {
        self.replica = Some(replica);
        self.known = VersionVector::new();
        self.listed.clear();
        self.reset_sending();
        self.pull = None;
        self.received = ReceivedPackets::default();
        self.largest_acked = None;
        self.hello_due = true;
    }

    /// The peer's hello names `session`: a new one means it restarted and
    /// numbers its packets from zero again.
    pub fn heard_session(&mut self, session: u64) {
        if self.session != Some(session) {
            self.session = Some(session);
            self.received = ReceivedPackets::default();
        }
    }

    /// Notes packet number `packet` as received; false if it was already.
    /// An ack-eliciting one is owed an ack.
    pub fn received_packet(&mut self, packet: u64, now: Time, eliciting: bool) -> bool {
        let new = self.received.insert(packet, now);
        if eliciting {
            self.ack_pending = true;
            self.unacked_eliciting += 1;
        }
        new
    }

    /// After an ack-eliciting datagram: the ack goes at once after a ping
    /// or a second such datagram, else within `max_ack_delay`.
    pub fn schedule_ack(&mut self, now: Time, ping: bool, max_ack_delay: Duration) {
        if ping || self.unacked_eliciting >= 2 {
            self.ack_now = true;
        } else {
            self.timers
                .set_earliest(peer_timer::ACK, now + max_ack_delay);
        }
    }

    /// The ack delay ran out: an owed ack goes now.
    pub fn ack_timeout(&mut self, now: Time) {
        if self.timers.expire(peer_timer::ACK, now) && self.ack_pending {
            self.ack_now = true;
        }
    }

    /// An ack must go out now.
    pub fn ack_due(&self) -> bool {
        self.ack_now
    }

    /// The ack to send, if one is owed.
    pub fn ack_frame(&self, now: Time) -> Option<AckFrame> {
        if self.ack_pending {
            self.received.ack_frame(now)
        } else {
            None
        }
    }

    /// An ack went out: none is owed until something more arrives.
    pub fn ack_sent(&mut self) {
        self.ack_pending = false;
        self.ack_now = false;
        self.unacked_eliciting = 0;
        self.timers.clear(peer_timer::ACK);
    }

    /// While a snapshot is on its way to the peer, what it carries is not
    /// also queued as ops.
    pub fn leave_to_snapshot(&mut self, me: ReplicaId) {
        if let Some(out) = &self.snapshot_out {
            if let Some(pull) = self.pull.as_mut() {
                pull.merge(&out.version);
            }
            self.queue
                .retain(|op| !out.version.contains_span(&op.span()), me);
        }
    }

    /// Queues a digest, replacing any digest still waiting.
    pub fn queue_digests(&mut self, digests: Vec<Frame>) {
        self.control.retain(|f| !matches!(f, Frame::Digest(_)));
        self.control.extend(digests);
    }

    /// Queues a peer list, replacing any list still waiting.
    pub fn queue_peer_list(&mut self, list: Frame) {
        self.control.retain(|f| !matches!(f, Frame::Peers(_)));
        self.control.push_back(list);
    }

    /// The peer acknowledged a datagram carrying the op whose span is `span`.
    pub fn known_raise(&mut self, span: IdSpan) {
        raise_contiguous(&mut self.known, span);
    }

    /// The peer has the op whose span is `span` (it sent it to us).
    pub fn learned_has(&mut self, span: IdSpan) {
        raise_contiguous(&mut self.known, span);
        if let Some(pull) = self.pull.as_mut() {
            raise_contiguous(pull, span);
        }
    }

    /// The peer announced it has at least `count` ops of `replica`.
    pub fn announced(&mut self, replica: ReplicaId, count: u64) {
        if count > self.known.get(replica) {
            self.known.set(replica, count);
        }
    }
}

/// Raises `v` over `span` if the span starts within what `v` includes.
pub fn raise_contiguous(v: &mut VersionVector, span: IdSpan) {
    let have = v.get(span.start.replica);
    if span.start.counter <= have && span.end_counter() > have {
        v.set(span.start.replica, span.end_counter());
    }
}

/// The part of `op` that `v` lacks (ops of one replica are contiguous, so
/// it is a suffix), or `None` if `v` has it all.
pub fn trim_known(op: Op, v: &VersionVector) -> Option<Op> {
    let have = v.get(op.id.replica);
    let len = op.len();
    let end = op.id.counter + len;
    if end <= have {
        None
    } else if op.id.counter >= have {
        Some(op)
    } else {
        Some(op.slice(have - op.id.counter, len))
    }
}

/// The parts of `op` outside every span in `spans`.
pub fn subtract_spans(op: Op, spans: &[IdSpan]) -> Vec<Op> {
    let start = op.id.counter;
    let len = op.len();
    // Offsets (from the op's first counter) covered by some span, as ranges.
    let mut cut: Vec<(u64, u64)> = spans
        .iter()
        .filter(|s| s.start.replica == op.id.replica)
        .filter_map(|s| {
            let lo = s.start.counter.max(start);
            let hi = s.end_counter().min(start + len);
            (lo < hi).then(|| (lo - start, hi - start))
        })
        .collect();
    if cut.is_empty() {
        return vec![op];
    }
    cut.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for (lo, hi) in cut {
        if lo > at {
            out.push(op.slice(at, lo));
        }
        at = at.max(hi);
    }
    if at < len {
        out.push(op.slice(at, len));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Id, OpKind, ReplicaId};

    fn ins(counter: u64, left: Option<Id>, text: &str) -> Op {
        Op {
            id: Id::new(ReplicaId(1), counter),
            kind: OpKind::Insert {
                left,
                right: None,
                text: text.into(),
            },
        }
    }

    #[test]
    fn trim_and_subtract() {
        let op = ins(10, None, "abcdefghij");
        let v: VersionVector = [(ReplicaId(1), 13)].into_iter().collect();
        let t = trim_known(op.clone(), &v).unwrap();
        assert_eq!(t.id.counter, 13);
        assert_eq!(t.len(), 7);
        assert!(trim_known(op.clone(), &[(ReplicaId(1), 20)].into_iter().collect()).is_none());

        let spans = [
            IdSpan::new(Id::new(ReplicaId(1), 12), 2),
            IdSpan::new(Id::new(ReplicaId(2), 0), 100),
            IdSpan::new(Id::new(ReplicaId(1), 18), 5),
        ];
        let parts = subtract_spans(op, &spans);
        let got: Vec<(u64, u64)> = parts.iter().map(|p| (p.id.counter, p.len())).collect();
        assert_eq!(got, vec![(10, 2), (14, 4)]);
    }
}
