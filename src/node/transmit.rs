//! Building datagrams: what goes in the next one to a peer (acks,
//! control frames, a snapshot chunk, queued ops), within the window.

use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::{Op, ReplicaId};
use crate::wire::{self, DatagramBuilder, Frame, Header, SealId};

use super::in_flight::SentPacket;
use super::loss::retransmission_timeout;
use super::peer::{trim_known, Peer};
use super::timers::peer_timer;
use super::{
    truncate, Node, PeerState, ACK_RESERVE, DEFAULT_HOLD, MAX_NAME, MIN_REPLY, MIN_SPLIT_ROOM,
};

impl Node {
    /// Largest op frame: it must fit a datagram beside an ack.
    pub(super) fn max_frame(&self) -> usize {
        self.config.mtu - DatagramBuilder::overhead() - ACK_RESERVE
    }

    /// The next datagram for `addr`, if it has anything worth sending.
    pub(super) fn build_datagram(&mut self, addr: SocketAddr) -> Option<Vec<u8>> {
        let me = self.doc.replica();
        let now = self.last_now;
        let config = &self.config;
        let asking_to_join = !self.joined && !self.snapshots_in.contains_key(&addr);
        let peer = self.peers.get_mut_to_build(&addr)?;
        if self.seal_keys.is_some() && !peer.admission.proven() {
            // Not shown to be a member at this address yet: only the
            // handshake goes to it (an added peer until it answers, a
            // learned one once), and nothing waits for it meanwhile.
            let due = peer.admission.challenge_due(peer.ping_due);
            let again = peer.admission.configured();
            peer.ping_due = false;
            peer.control.clear();
            if !due {
                return None;
            }
            let packet = peer.in_flight.take_packet();
            let (bytes, retry) = self.challenge(addr, packet);
            if again {
                // Nothing is in flight to it: its loss timer is the
                // challenge's retransmission timeout.
                let peer = self.peers.get_mut_to_build(&addr)?;
                peer.timers.set(peer_timer::LOSS, now + retry);
            }
            return Some(bytes);
        }
        let window_open = peer.in_flight.data_bytes() == 0
            || peer.in_flight.data_bytes() + config.mtu <= config.window_bytes;
        peer.queue.mark_waiting(now);
        // Nagle with Minshall's refinement: while a small data datagram is
        // unacknowledged, hold a small queue back so typing batches up per
        // round trip; the tail of a bulk transfer goes at once. Ops are held
        // a little over one smoothed RTT at most: if the ack is lost, they
        // go anyway (and their acks reveal the loss).
        // (This runs for every peer on every poll: cheap tests first.)
        let hold_until = peer.queue.since().map(|t| {
            let hold = peer.rtt.srtt().map_or(DEFAULT_HOLD, |srtt| srtt * 5 / 4);
            t + hold.max(Duration::from_millis(1))
        });
        let coalescing = config.coalesce
            && hold_until.is_some_and(|t| now < t)
            && !peer.queue.retransmit_pending()
            && peer.queue.bytes() < config.mtu / 2
            && peer.in_flight.iter().any(|s| s.small && s.is_data());
        if coalescing {
            if let Some(t) = hold_until {
                peer.timers.set_earliest(peer_timer::COALESCE, t);
            }
        }
        // An address that wrote first and is not verified yet gets only
        // what earns its ack (an ack and a ping), small enough to go twice
        // within what it sent (see `Node::answer_goes_twice`): the rest
        // waits for that ack, which ends the limit.
        let answer_only = self.seal_keys.is_none() && peer.admission.answers_only();
        let ops_ready = !answer_only && !peer.queue.is_empty() && window_open && !coalescing;
        let chunk_ready = !answer_only && window_open && peer.snapshot.has_unsent();
        let control_ready = !answer_only && !peer.control.is_empty();
        let wants = peer.ack_due() || peer.ping_due || control_ready || ops_ready || chunk_ready;
        if !wants {
            return None;
        }
        let header = Header {
            sender: self.doc.replica(),
            packet: peer.in_flight.next_packet(),
            document: self.document,
        };
        // An unverified address gets no more bytes than it sent (in the
        // clear, so the seal's share of the overhead is not used), but for
        // one probe to a learned address.
        let allowance = peer.admission.allowance();
        let mtu = match allowance {
            Some(allowance) if allowance < MIN_REPLY => return None,
            Some(allowance) => allowance.min(config.mtu) + wire::SEAL_OVERHEAD,
            None => config.mtu,
        };
        let mut builder = DatagramBuilder::new(header, mtu);
        let mut had_ack = false;
        // A newcomer asking the peer to join acks what it heard in every
        // datagram until one of its acks is known to have arrived: in the
        // clear the peer serves it only then, and a lone ack that is lost
        // is never sent again. (Only then: an ack repeated long after its
        // packet arrived makes the peer's round-trip sample too long.)
        let ack = if asking_to_join && peer.admission.configured() {
            peer.ack_frame_until_ours_arrived(self.last_now)
        } else {
            peer.ack_frame(self.last_now)
        };
        if let Some(ack) = ack {
            had_ack = builder.push(&Frame::Ack(ack));
        }
        if let Some(nonce) = peer.admission.answer() {
            // Until it shows it took us in: any datagram may be lost.
            builder.push(&Frame::Response(nonce));
        }
        let hello = peer.hello_due
            && !answer_only
            && builder.push(&Frame::Hello {
                session: self.session,
                name: truncate(&config.name, MAX_NAME),
            });
        let mut digest: Option<bool> = None;
        let mut peer_list = None;
        while let Some(frame) = peer.control.front().filter(|_| !answer_only) {
            if builder.push(frame) {
                match frame {
                    Frame::Digest(d) => digest = Some(digest.unwrap_or(false) | d.reply),
                    Frame::Peers(list) => peer_list = Some(list.clone()),
                    _ => {}
                }
                peer.control.pop_front();
            } else if builder.is_empty() && peer.admission.unlimited() {
                // It fits no datagram at all: drop it rather than let it
                // hold back every control frame behind it.
                peer.control.pop_front();
            } else {
                break;
            }
        }
        if peer.ping_due && builder.push(&Frame::Ping) {
            peer.ping_due = false;
        }
        let mut chunks = Vec::new();
        if chunk_ready {
            chunks.extend(
                peer.snapshot
                    .send_chunk(|chunk| builder.push(&Frame::Snapshot(chunk))),
            );
        }
        let ops = if ops_ready && chunks.is_empty() {
            let window_left = config
                .window_bytes
                .saturating_sub(peer.in_flight.data_bytes());
            pack_ops(peer, &mut builder, window_left, me)
        } else {
            Vec::new()
        };
        if peer.queue.is_empty() {
            peer.queue.emptied();
            peer.timers.clear(peer_timer::COALESCE);
        }
        if builder.is_empty() {
            return None;
        }
        if !peer.admission.unlimited() && !builder.is_ack_eliciting() {
            // Not verified yet: an ack alone earns nothing back, while a
            // ping earns the ack that verifies the address (until then it
            // gets no more bytes than it sent, however long it talks).
            builder.push(&Frame::Ping);
        }
        let eliciting = builder.is_ack_eliciting();
        peer.admission.sent(allowance, builder.len_in_clear());
        let bytes = match &mut self.seal_keys {
            Some(keys) => {
                let id = SealId {
                    epoch: config.epoch,
                    seq: self.sealed_count,
                };
                self.sealed_count += 1;
                // For that replica only: not to be replayed to another.
                // (Not to a peer that does not answer: its replica id may
                // have changed meanwhile, a new one each run, and one bound
                // to an id it no longer has could never be opened.)
                match peer.replica().filter(|_| peer.state() != PeerState::Down) {
                    Some(to) => builder.finish_sealed_to(keys, id, to),
                    None => builder.finish_sealed_with(keys, id),
                }
            }
            None => builder.finish(),
        };
        peer.in_flight.take_packet();
        if had_ack {
            peer.ack_sent();
        }
        if hello {
            peer.hello_due = false;
        }
        self.stats.ops_sent += ops.len() as u64;
        if eliciting {
            let sent = SentPacket {
                packet: header.packet,
                sent: self.last_now,
                size: bytes.len(),
                ops,
                hello,
                small: bytes.len() < config.mtu / 2,
                chunks,
                digest,
                peer_list,
                ack: had_ack,
            };
            peer.in_flight.push(sent);
            if peer.timers.get(peer_timer::LOSS).is_none() {
                let rto = retransmission_timeout(
                    peer,
                    self.last_now,
                    config.ping_interval,
                    self.path_rto,
                );
                peer.timers.set(peer_timer::LOSS, self.last_now + rto);
            }
        }
        Some(bytes)
    }
}

/// Moves ops from the peer's queue into the datagram while they fit it and
/// the window (the first op always may: the window bounds bursts, it does
/// not stall); cuts the op that does not fit whole when the room left is
/// worth it, and leaves the rest at the front of the queue.
fn pack_ops(
    peer: &mut Peer,
    builder: &mut DatagramBuilder,
    mut window_left: usize,
    me: ReplicaId,
) -> Vec<Op> {
    let mut ops = Vec::new();
    while let Some(op) = peer.queue.pop_front(me) {
        // Whatever the peer acknowledged meanwhile is not sent again.
        let Some(op) = trim_known(op, peer.known()) else {
            continue;
        };
        let len = wire::op_frame_len(&op, me);
        let window_allows = ops.is_empty() || len <= window_left;
        if window_allows && builder.push_op(&op) {
            window_left = window_left.saturating_sub(len);
            ops.push(op);
            continue;
        }
        let room = builder.remaining();
        if window_allows && room >= MIN_SPLIT_ROOM && op.len() > 1 {
            let mut pieces = wire::split_to_fit(&op, room, me);
            if pieces.len() > 1 && builder.push_op(&pieces[0]) {
                let first = pieces.remove(0);
                for piece in pieces.into_iter().rev() {
                    peer.queue.push_front(piece, me);
                }
                ops.push(first);
                break;
            }
        }
        peer.queue.push_front(op, me);
        break;
    }
    ops
}
