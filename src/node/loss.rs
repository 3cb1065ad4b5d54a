//! Acknowledgements and loss: acks received, datagrams declared lost,
//! and their ops queued again.

use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::ReplicaId;
use crate::wire::{self, Frame};

use super::in_flight::SentPacket;
use super::peer::{trim_known, Peer};
use super::timers::peer_timer;
use super::{Node, PeerState, Stats, Time, PACKET_THRESHOLD};

/// A peer not heard from for this many base timeouts is silent (see
/// `is_silent`).
const SILENT_AFTER_RTOS: u32 = 8;

impl Node {
    pub(super) fn on_ack(&mut self, now: Time, from: SocketAddr, ack: &wire::AckFrame) {
        let me = self.doc.replica();
        let max_ack_delay = self.config.max_ack_delay;
        let ping_interval = self.config.ping_interval;
        let path_rto = &mut self.path_rto;
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        if !peer.in_flight.was_sent(ack.largest) {
            return; // acks something never sent: stale or forged
        }
        let Some(ranges) = ack.ranges_inclusive() else {
            return;
        };
        let is_acked = |pn: u64| ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi);
        let mut newly_acked = false;
        // Out and back in place: this runs per ack, keep the deque's buffer.
        let mut in_flight = std::mem::take(&mut peer.in_flight);
        in_flight.retain(|sent| {
            if !is_acked(sent.packet) {
                return true;
            }
            newly_acked = true;
            if sent.ack {
                peer.our_ack_arrived();
            }
            if sent.packet == ack.largest {
                // The peer's delay, capped by what it may hold an ack
                // back, except for the path's first sample (RFC 9002 does
                // not cap it before the handshake is confirmed): a
                // newcomer repeats its first ack until one arrives, so the
                // first to arrive may be much later than its packet, and
                // uncorrected it would set the timeout to that lateness.
                let reported = Duration::from_micros(ack.delay_us);
                let first = peer.rtt.srtt().is_none();
                let delay = if first {
                    reported
                } else {
                    reported.min(max_ack_delay)
                };
                let rtt = (now - sent.sent).saturating_sub(delay);
                peer.rtt.sample(rtt.max(Duration::from_micros(1)));
                // Only a sample whose delay the cap bounds times other
                // paths: an uncapped one is the peer's word alone, and a
                // forged delay must not shorten our waits for others.
                if reported <= max_ack_delay {
                    *path_rto = Some(peer.rtt.base_rto());
                }
            }
            for op in &sent.ops {
                peer.known_raise(op.span());
            }
            if let Some(version) = peer.snapshot.acked(&sent.chunks, now) {
                peer.snapshot_delivered(&version);
                self.stats.snapshots_sent += 1;
            }
            false
        });
        peer.in_flight = in_flight;
        // It received what we sent: a real peer at that address. So too
        // when the datagram acknowledged was given up as lost already: at
        // heavy loss an unverified newcomer's ack often arrives after our
        // answer's timeout, and ignored, it left the newcomer unverified
        // (answered with acks only) until a later ack beat the timeout.
        let newly_proven = !peer.admission.proven();
        peer.admission.acknowledged();
        if !newly_acked {
            if newly_proven {
                self.introduce(from);
            }
            return;
        }
        peer.rtt.on_ack();
        peer.in_flight.acked_up_to(ack.largest);
        let lost_digest =
            Self::detect_losses(&mut self.stats, peer, now, me, ping_interval, *path_rto);
        self.resend_digest(from, lost_digest);
        if newly_proven {
            self.introduce(from);
        }
    }

    /// A datagram to `addr` that carried our digest was lost: a fresh one
    /// goes in its place (asking for the peer's in reply if the lost one
    /// did), unless one waits to go already.
    pub(super) fn resend_digest(&mut self, addr: SocketAddr, lost: Option<bool>) {
        let Some(reply) = lost else {
            return;
        };
        let waiting_or_gone = self.peers.get(&addr).is_none_or(|p| {
            p.state() == PeerState::Down || p.control.iter().any(|f| matches!(f, Frame::Digest(_)))
        });
        if waiting_or_gone {
            return;
        }
        let digests = self.digest_frames(reply);
        self.stats.digests_sent += digests.len() as u64;
        if let Some(peer) = self.peers.get_mut(&addr) {
            peer.queue_digests(digests);
        }
    }

    /// Declares lost every datagram that is: sent before an acknowledged
    /// one and either three numbers older or not acknowledged within the
    /// loss delay (RFC 9002, 6.1), or unacknowledged for a whole RTO. Only
    /// the RTO backs off. Re-arms the loss timer for the next deadline.
    /// Returns whether a lost datagram carried our digest (and whether
    /// one of those asked for a reply), for [`Node::resend_digest`].
    pub(super) fn detect_losses(
        stats: &mut Stats,
        peer: &mut Peer,
        now: Time,
        me: ReplicaId,
        ping_interval: Duration,
        path_rto: Option<Duration>,
    ) -> Option<bool> {
        let largest = peer.in_flight.largest_acked();
        let loss_delay = peer.rtt.loss_delay();
        let rto = retransmission_timeout(peer, now, ping_interval, path_rto);
        let overtaken = |s: &SentPacket| largest.is_some_and(|l| s.packet < l);
        let by_threshold = |s: &SentPacket| {
            overtaken(s)
                && (largest.is_some_and(|l| s.packet + PACKET_THRESHOLD <= l)
                    || loss_delay.is_some_and(|d| s.sent + d <= now))
        };
        let by_timeout = |s: &SentPacket| s.sent + rto <= now;
        let is_lost = |s: &SentPacket| by_threshold(s) || by_timeout(s);
        let lost = peer.in_flight.take_lost(is_lost);
        // Back off for data (or a digest) lost to the RTO only, and only
        // while the peer is silent (RFC 6298's backoff is for a path that
        // may be gone): pings to a silent peer have their own pace,
        // threshold losses prove the path works, and a peer heard lately
        // is there, so the next try waits one RTO, not twice the last wait.
        let timed_out = |s: &SentPacket| (s.is_data() || s.digest.is_some()) && !by_threshold(s);
        if lost.iter().any(timed_out) && is_silent(peer, now, ping_interval, path_rto) {
            peer.rtt.on_timeout();
        }
        let mut lost_digest: Option<bool> = None;
        for sent in lost {
            if let Some(reply) = sent.digest {
                lost_digest = Some(lost_digest.unwrap_or(false) | reply);
            }
            Self::requeue_lost(stats, peer, sent, me);
        }
        arm_loss_timer(peer, now, ping_interval, path_rto);
        lost_digest
    }

    /// Puts a lost datagram's ops back at the front of the queue (less what
    /// the peer is now known to have).
    pub(super) fn requeue_lost(
        stats: &mut Stats,
        peer: &mut Peer,
        sent: SentPacket,
        me: ReplicaId,
    ) {
        if sent.is_data() {
            stats.retransmits += 1;
        }
        peer.hello_due |= sent.hello;
        if let Some(list) = sent.peer_list {
            if !peer.control.iter().any(|f| matches!(f, Frame::Peers(_))) {
                peer.control.push_back(Frame::Peers(list));
            }
        }
        peer.snapshot.lost(&sent.chunks);
        for op in sent.ops.into_iter().rev() {
            if let Some(op) = trim_known(op, peer.known()) {
                peer.queue.requeue(op, me);
            }
        }
    }
}

/// How long a datagram to `peer` waits for its ack: the RTO, backed off
/// no further than `RttEstimator::rto_while_heard` while the peer was
/// heard from within a ping interval (a live peer pings at least that
/// often). Before the peer's first sample, the RTO starts from `path_rto`
/// (the node's last measured one) if known, not from the initial 1 s.
pub(super) fn retransmission_timeout(
    peer: &Peer,
    now: Time,
    ping_interval: Duration,
    path_rto: Option<Duration>,
) -> Duration {
    let heard_lately = peer.last_heard().is_some_and(|h| now < h + ping_interval);
    let rtt = peer.rtt.or_path(path_rto);
    if heard_lately {
        rtt.rto_while_heard()
    } else {
        rtt.rto()
    }
}

/// The peer has not been heard from for a ping interval (a live peer
/// pings at least that often), or for `SILENT_AFTER_RTOS` of its base
/// timeouts if that is sooner (so a peer that just went away is not sent
/// a ping interval's worth of retransmissions at the base pace).
fn is_silent(peer: &Peer, now: Time, ping_interval: Duration, path_rto: Option<Duration>) -> bool {
    let base = peer.rtt.or_path(path_rto).base_rto();
    let limit = ping_interval.min(base.saturating_mul(SILENT_AFTER_RTOS));
    peer.last_heard().is_none_or(|h| now >= h + limit)
}

/// Arms the loss timer for the next deadline of what is in flight to
/// `peer` (or clears it): the loss delay of a datagram a later one
/// overtook, else its RTO.
pub(super) fn arm_loss_timer(
    peer: &mut Peer,
    now: Time,
    ping_interval: Duration,
    path_rto: Option<Duration>,
) {
    let largest = peer.in_flight.largest_acked();
    let loss_delay = peer.rtt.loss_delay();
    let rto = retransmission_timeout(peer, now, ping_interval, path_rto);
    let next = peer
        .in_flight
        .iter()
        .map(|s| match loss_delay {
            Some(d) if largest.is_some_and(|l| s.packet < l) => s.sent + d,
            _ => s.sent + rto,
        })
        .min();
    match next {
        Some(at) => peer.timers.set(peer_timer::LOSS, at),
        None => peer.timers.clear(peer_timer::LOSS),
    }
}
