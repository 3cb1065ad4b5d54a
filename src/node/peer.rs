//! What the node keeps about one peer.
//!
//! Each part that keeps a rule between its fields is a type of its own,
//! in the module of its concept: its standing (`admission.rs`), whether it
//! is heard (`liveness.rs`), round-trip times (`rtt.rs`), its timers
//! (`timers.rs`), the ops queued for it (`send_queue.rs`), the datagrams in
//! flight and packet numbers (`in_flight.rs`), a snapshot on its way
//! (`snapshot.rs`) and the ack owed to it (`received.rs`). What the peer
//! has (`known`, `pull`), who it is and the ops it sent early are kept
//! here, private, changed only through the methods below.
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

use super::admission::Admission;
use super::in_flight::InFlight;
use super::liveness::Liveness;
use super::received::AckState;
use super::rtt::RttEstimator;
use super::send_queue::SendQueue;
use super::snapshot::SnapshotSend;
use super::timers::{peer_timer, TimerTable};
use super::{Config, PeerInfo, PeerState, Time};
use crate::wire::{AckFrame, DigestFrame, Frame};

/// One peer. Its parts that keep rules of their own are types of their
/// own, each in the module of its concept, and reachable from the node's
/// modules (`pub(super)`): only their methods change them. The rest is
/// private here, read through getters and changed through the methods
/// below.
#[derive(Clone, Debug)]
pub struct Peer {
    addr: SocketAddr,
    /// Proven live or not, added by the user or learned, and what it may
    /// be sent until proven (`admission.rs`).
    pub(super) admission: Admission,
    /// Heard lately or not: its state, when it was last heard, the
    /// first-contact backoff (`liveness.rs`).
    pub(super) liveness: Liveness,
    /// Round-trip time and retransmission timeout (`rtt.rs`).
    pub(super) rtt: RttEstimator,
    /// Loss, delayed ack, ping and coalescing deadlines (`timers.rs`).
    pub(super) timers: TimerTable<{ peer_timer::COUNT }>,
    /// First ids of ops from this peer that arrived before their causes
    /// (some may have been applied since): bounded by `max_held_per_peer`.
    held: BTreeSet<Id>,
    replica: Option<ReplicaId>,
    name: Option<String>,
    /// The peer's current session (from its hello).
    session: Option<u64>,
    /// The addresses this peer named in its peer lists: peers it reaches
    /// itself (in a small group, its ops go to them directly; see
    /// `relay.rs`).
    listed: BTreeSet<SocketAddr>,

    // Sending.
    /// What the peer has: its last digest, raised by acknowledged ops.
    known: VersionVector,
    /// Set when the peer lacks ops whatever the gossip rule says (its
    /// digest showed a gap, or it is back after being down): the next
    /// refill queues every op the doc has beyond this (less what is in
    /// flight). A peer we have not heard a digest from (new to us, or a
    /// new replica at its address) starts without one: what it lacks is
    /// asked first, with our digest, not guessed (a restarted node would
    /// otherwise send its whole document to peers that have it).
    pull: Option<VersionVector>,
    /// Ops to send, with their byte count (`send_queue.rs`).
    pub(super) queue: SendQueue,
    /// Datagrams sent and not yet acknowledged or declared lost, and the
    /// packet numbers (`in_flight.rs`).
    pub(super) in_flight: InFlight,
    /// Control frames to send (digests, peer lists, joins, tags, ...),
    /// oldest first: a plain FIFO that each part of the node adds its own
    /// kind of frame to, so it stays open to them.
    pub(super) control: VecDeque<Frame>,
    /// A snapshot on its way to the peer (`snapshot.rs`).
    pub(super) snapshot: SnapshotSend,
    // Flags that many events raise and `transmit.rs` clears once sent:
    // plain data, no rule ties them to other fields.
    pub(super) ping_due: bool,
    pub(super) hello_due: bool,

    // Receiving.
    /// What arrived and the ack we owe (`received.rs`); its delay timer
    /// is in `timers`, kept in step by the ack methods below.
    acks: AckState,
}

impl Peer {
    pub fn new(addr: SocketAddr, config: &Config, now: Time) -> Peer {
        Peer {
            addr,
            admission: Admission::default(),
            liveness: Liveness::new(now),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto)
                .with_max_ack_delay(config.max_ack_delay),
            timers: TimerTable::default(),
            held: BTreeSet::new(),
            replica: None,
            name: None,
            session: None,
            listed: BTreeSet::new(),
            known: VersionVector::new(),
            pull: None,
            queue: SendQueue::default(),
            in_flight: InFlight::default(),
            control: VecDeque::new(),
            snapshot: SnapshotSend::default(),
            ping_due: true,
            hello_due: true,
            acks: AckState::default(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The replica that last spoke from its address, once one has.
    pub fn replica(&self) -> Option<ReplicaId> {
        self.replica
    }

    /// The replica that speaks from its address is `replica` (the same as
    /// before, or its first): see [`Peer::reset_replica`] for a new one.
    pub fn set_replica(&mut self, replica: ReplicaId) {
        self.replica = Some(replica);
    }

    /// The name from its hello (already cleaned); empty: none.
    pub fn set_name(&mut self, name: String) {
        self.name = (!name.is_empty()).then_some(name);
    }

    pub fn state(&self) -> PeerState {
        self.liveness.state()
    }

    pub fn last_heard(&self) -> Option<Time> {
        self.liveness.last_heard()
    }

    /// What the peer is known to have.
    pub fn known(&self) -> &VersionVector {
        &self.known
    }

    /// Whether it waits for the ops it lacks to be queued (see `pull`).
    pub fn has_pull(&self) -> bool {
        self.pull.is_some()
    }

    /// The point from which what it lacks is to be queued, taken: the
    /// caller queues it.
    pub fn take_pull(&mut self) -> Option<VersionVector> {
        self.pull.take()
    }

    /// Whether it named `addr` in a peer list to us: it reaches that
    /// peer itself (see `relay.rs`).
    pub fn named(&self, addr: &SocketAddr) -> bool {
        self.listed.contains(addr)
    }

    /// Remembers the addresses it named in a peer list (the caller keeps
    /// only ones in our table); past `max` it starts over, so what a peer
    /// can make us hold stays bounded.
    pub fn names(&mut self, addrs: Vec<SocketAddr>, max: usize) {
        if self.listed.len() + addrs.len() > max {
            self.listed.clear();
        }
        self.listed.extend(addrs);
    }

    pub fn info(&self) -> PeerInfo {
        PeerInfo {
            addr: self.addr,
            replica: self.replica,
            name: self.name.clone(),
            state: self.state(),
            rtt: self.rtt.srtt(),
            acked: self.known.clone(),
            last_heard: self.last_heard(),
        }
    }

    /// Whether `build_datagram` may find something to send (a cheap
    /// superset of its test: it holds nothing back but queued ops).
    pub fn may_send(&self) -> bool {
        self.acks.due()
            || self.ping_due
            || !self.control.is_empty()
            || !self.queue.is_empty()
            || self.snapshot.is_sending()
    }

    /// Forgets everything about what the peer has and what is on its way:
    /// a digest exchange will establish it again.
    pub fn reset_sending(&mut self) {
        self.pull = Some(self.known.clone());
        // Dropped, not cleared: a long catch-up must not keep its room.
        self.queue = SendQueue::default();
        self.in_flight.clear();
        self.snapshot.clear();
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
        self.acks.restart_numbering();
        self.in_flight.new_receiver();
        self.hello_due = true;
    }

    /// The peer's hello names `session`: a new one means it restarted and
    /// numbers its packets from zero again.
    pub fn heard_session(&mut self, session: u64) {
        if self.session != Some(session) {
            self.session = Some(session);
            self.acks.restart_numbering();
        }
    }

    /// Notes packet number `packet` as received; false if it was already.
    /// An ack-eliciting one is owed an ack.
    pub fn received_packet(&mut self, packet: u64, now: Time, eliciting: bool) -> bool {
        self.acks.received(packet, now, eliciting)
    }

    /// After an ack-eliciting datagram: the ack goes at once after a ping
    /// or a second such datagram, else within `max_ack_delay`.
    pub fn schedule_ack(&mut self, now: Time, ping: bool, max_ack_delay: Duration) {
        if !self.acks.schedule(ping) {
            self.timers
                .set_earliest(peer_timer::ACK, now + max_ack_delay);
        }
    }

    /// The ack delay ran out: an owed ack goes now.
    pub fn ack_timeout(&mut self, now: Time) {
        if self.timers.expire(peer_timer::ACK, now) {
            self.acks.delay_ran_out();
        }
    }

    /// An ack must go out now.
    pub fn ack_due(&self) -> bool {
        self.acks.due()
    }

    /// The ack to send, if one is owed.
    pub fn ack_frame(&self, now: Time) -> Option<AckFrame> {
        self.acks.frame(now)
    }

    /// The ack owed, or a repeat until it is known to have received an ack
    /// of ours (`AckState::frame_to_send`).
    pub fn ack_frame_until_ours_arrived(&self, now: Time) -> Option<AckFrame> {
        self.acks.frame_to_send(now)
    }

    /// It acknowledged a datagram of ours that carried an ack.
    pub fn our_ack_arrived(&mut self) {
        self.acks.ours_arrived();
    }

    /// An ack went out: none is owed until something more arrives.
    pub fn ack_sent(&mut self) {
        self.acks.sent();
        self.timers.clear(peer_timer::ACK);
    }

    /// While a snapshot is on its way to the peer, what it carries is not
    /// also queued as ops.
    pub fn leave_to_snapshot(&mut self, me: ReplicaId) {
        if let Some(version) = self.snapshot.sending_version() {
            if let Some(pull) = self.pull.as_mut() {
                pull.merge(version);
            }
            self.queue
                .retain(|op| !version.contains_span(&op.span()), me);
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

    /// The peer has `version` (it sent us a snapshot of it).
    pub fn has_version(&mut self, version: &VersionVector) {
        self.known.merge(version);
        if let Some(pull) = self.pull.as_mut() {
            pull.merge(version);
        }
    }

    /// The snapshot of `version` we sent was acknowledged whole.
    pub fn snapshot_delivered(&mut self, version: &VersionVector) {
        self.known.merge(version);
    }

    /// Its digest `d` is the truth about what it has of the replicas it
    /// covers (acks were only hints). If it lacks any of `ours` there,
    /// all it lacks of them is queued again at the next refill: from its
    /// pull point (or from `pushed`, what went down the gossip trees, if it
    /// has none) raised to the digest, in place of what waits for them.
    pub fn digest_heard(
        &mut self,
        d: &DigestFrame,
        ours: &VersionVector,
        pushed: &VersionVector,
        me: ReplicaId,
    ) {
        let mut replicas: BTreeSet<ReplicaId> = self.known.iter().map(|(r, _)| r).collect();
        replicas.extend(d.version.iter().map(|(r, _)| r));
        replicas.extend(ours.iter().map(|(r, _)| r));
        for &r in replicas.iter().filter(|&&r| d.covers(r)) {
            self.known.set(r, d.version.get(r));
        }
        let peer_lacks = ours
            .iter()
            .any(|(r, n)| d.covers(r) && n > d.version.get(r));
        if peer_lacks {
            // Queue again exactly what it lacks (less what is in flight),
            // and whatever has not gone down the gossip trees yet.
            let mut pull = self.pull.take().unwrap_or_else(|| pushed.clone());
            for &r in replicas.iter().filter(|&&r| d.covers(r)) {
                pull.set(r, d.version.get(r));
            }
            self.pull = Some(pull);
            self.queue.retain(|op| !d.covers(op.id.replica), me);
        }
    }

    /// An op `id` from this peer arrived before its causes, `version`
    /// being what the doc has: false if the peer holds `limit` such ops
    /// already (those applied since are forgotten first).
    pub fn hold(&mut self, id: Id, limit: usize, version: &VersionVector) -> bool {
        if self.held.len() >= limit {
            self.held.retain(|held| !version.contains(*held));
        }
        if self.held.len() >= limit && !self.held.contains(&id) {
            return false;
        }
        self.held.insert(id);
        true
    }

    /// Forgets the held ops `still_held` says the doc no longer holds.
    pub fn forget_held(&mut self, still_held: impl Fn(Id) -> bool) {
        self.held.retain(|&id| still_held(id));
    }

    /// It challenged us (with a group key): the answer goes at once, and
    /// in every datagram until it takes us in.
    pub fn challenged(&mut self, nonce: u64) {
        self.admission.challenged(nonce);
        self.ping_due = true;
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
