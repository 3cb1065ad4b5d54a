//! Whether a datagram gets in: authentication and decoding, replay
//! windows, and the challenge handshake of an address not proven yet.

use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::ReplicaId;
use crate::wire::{self, DatagramBuilder, DecodeError, Frame, Header, SealId};

use super::{truncate, Event, Node, Refusal, Seal, Time, Transmit, MAX_NAME};

/// A challenge sent before any round trip from here was measured waits
/// `Config::initial_rto` divided by this for its answer.
const CHALLENGE_BEFORE_RTT_DIVISOR: u32 = 4;

impl Node {
    /// With a key, a sealed datagram from an address that has not proven
    /// itself (see `handshake.rs`): true if it answers our challenge (the
    /// address is a peer now, and the datagram is read like any other);
    /// else it is dropped, and answered with the handshake alone.
    pub(super) fn handshake(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: ReplicaId,
        frames: &[Frame],
        len: usize,
    ) -> bool {
        let peers = &self.peers;
        let hs = self
            .handshakes
            .entry(from, now, &mut self.rng, |a| peers.contains_key(a));
        hs.budget = hs.budget.saturating_add(len);
        hs.heard = Some((sender, now));
        // A proven address may be sent anything: its challenge is answered
        // with what goes to it anyway (a member there rejoined or restarted).
        let proven = peers.get(&from).is_some_and(|p| p.proven);
        let mut answered = false;
        for f in frames {
            match *f {
                Frame::Challenge(nonce) if proven => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.answer = Some(nonce);
                        p.ping_due = true; // (the answer goes at once)
                    }
                }
                Frame::Challenge(nonce) => hs.owed = Some(nonce),
                Frame::Response(nonce) => {
                    answered |= hs.challenged.is_some() && nonce == hs.nonce;
                }
                _ => {}
            }
        }
        if !answered {
            self.stats.drops.unproven += 1;
            self.answer_unproven(now, from);
            return false;
        }
        let (owed, round_trip) = self
            .handshakes
            .remove(&from)
            .map_or((None, None), |h| (h.owed, h.round_trip(now)));
        if !self.ensure_peer(now, from, false) {
            self.stats.drops.peer_table_full += 1;
            return false;
        }
        let peer = self.peers.get_mut(&from).expect("ensured");
        let newly_proven = !peer.proven;
        peer.proven = true;
        // The answer came at once: the first RTT sample, so what we send
        // next is timed by this path, not by the initial timeout.
        if let Some(rtt) = round_trip.filter(|_| peer.rtt.srtt().is_none()) {
            peer.rtt.sample(rtt.max(Duration::from_micros(1)));
            self.path_rto = Some(peer.rtt.base_rto());
        }
        if owed.is_some() {
            peer.answer = owed;
        }
        // What it sent while unproven was dropped: a digest exchange now
        // shows each side what the other lacks, without waiting for
        // retransmission timers that backed off meanwhile.
        self.start_exchange(now, from);
        if newly_proven {
            self.introduce(from);
        }
        true
    }

    /// Sends an address that has not proven itself the answer to its
    /// challenge, and ours (at most once per `min_rto`), within what it
    /// sent us: the answer first, ours only if both fit.
    pub(super) fn answer_unproven(&mut self, now: Time, to: SocketAddr) {
        let (Some(keys), Some(hs)) = (self.seal_keys.as_mut(), self.handshakes.get_mut(&to)) else {
            return;
        };
        let challenge_due = hs
            .challenged
            .is_none_or(|at| now >= at + self.config.min_rto);
        let header = Header {
            sender: self.doc.replica(),
            packet: 0,
            document: self.document,
        };
        let tries: &[bool] = if challenge_due {
            &[true, false]
        } else {
            &[false]
        };
        for &challenge in tries {
            let mut builder = DatagramBuilder::new(header, self.config.mtu);
            if let Some(nonce) = hs.owed {
                builder.push(&Frame::Response(nonce));
            }
            if challenge {
                builder.push(&Frame::Challenge(hs.nonce));
            }
            if builder.is_empty() {
                return;
            }
            let id = SealId {
                epoch: self.config.epoch,
                seq: self.sealed_count,
            };
            self.sealed_count += 1;
            let bytes = builder.finish_sealed_with(keys, id);
            if bytes.len() > hs.budget {
                continue;
            }
            hs.budget -= bytes.len();
            hs.owed = None;
            if challenge {
                hs.challenge_sent(now);
            }
            self.direct.push_back(Transmit { to, bytes });
            return;
        }
    }

    /// A sealed challenge to our peer `to`, which has not proven itself
    /// yet (with the answer to its own challenge, if it sent one), and how
    /// long to wait for the answer before sending it again.
    pub(super) fn challenge(&mut self, to: SocketAddr, packet: u64) -> (Vec<u8>, Duration) {
        let now = self.last_now;
        let peers = &self.peers;
        let hs = self
            .handshakes
            .entry(to, now, &mut self.rng, |a| peers.contains_key(a));
        hs.challenge_sent(now);
        // Before any round trip from here is known, a quarter of the
        // initial timeout: a challenge is small, and while the address
        // stays silent the wait doubles to a ping interval within two tries.
        let base = self
            .path_rto
            .unwrap_or(self.config.initial_rto / CHALLENGE_BEFORE_RTT_DIVISOR);
        let retry = hs.retry_after(now, base, self.config.ping_interval);
        let header = Header {
            sender: self.doc.replica(),
            packet,
            document: self.document,
        };
        let mut builder = DatagramBuilder::new(header, self.config.mtu);
        if let Some(nonce) = hs.owed.take() {
            builder.push(&Frame::Response(nonce));
        }
        builder.push(&Frame::Challenge(hs.nonce));
        // Our hello too: the probe is at least as large as the answer it
        // asks for (a response and a challenge), which the other side
        // sends only within what it received.
        builder.push(&Frame::Hello {
            session: self.session,
            name: truncate(&self.config.name, MAX_NAME),
        });
        let id = SealId {
            epoch: self.config.epoch,
            seq: self.sealed_count,
        };
        self.sealed_count += 1;
        let bytes = match &mut self.seal_keys {
            Some(keys) => builder.finish_sealed_with(keys, id),
            None => builder.finish(),
        };
        (bytes, retry)
    }

    /// Authenticates (with a key) and decodes a datagram; counts why not.
    /// The seal is `Some((id, bound))`: `bound` if sealed for this replica.
    pub(super) fn open(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Option<(Header, Option<Seal>, Vec<Frame>)> {
        let me = self.doc.replica();
        if self.opened_as[0] != me {
            self.opened_as = [me, self.opened_as[0]];
        }
        let known = if self.opened_as[1] == me { 1 } else { 2 };
        let opened = wire::open_with_keys_as(
            bytes,
            self.seal_keys.as_mut(),
            &self.opened_as[..known],
            &mut self.open_buf,
        )
        .and_then(|o| {
            Ok((
                o.header,
                o.seal.map(|id| (id, o.bound)),
                wire::decode_payload(&o.header, o.payload)?,
            ))
        });
        let e = match opened {
            Ok(d) => return Some(d),
            Err(e) => e,
        };
        let drops = &mut self.stats.drops;
        let reason = match e {
            DecodeError::NotRumor => {
                drops.not_rumor += 1;
                None
            }
            DecodeError::WrongVersion(_) => {
                drops.wrong_version += 1;
                None
            }
            DecodeError::TooLarge(_) | DecodeError::Malformed(_) => {
                drops.malformed += 1;
                None
            }
            DecodeError::Sealed => {
                drops.sealed += 1;
                Some(Refusal::Sealed)
            }
            DecodeError::Unsealed => {
                drops.unsealed += 1;
                Some(Refusal::Unsealed)
            }
            DecodeError::BadTag => {
                drops.bad_tag += 1;
                Some(Refusal::BadTag)
            }
        };
        // One refusal of each reason waits at a time: a flood of junk must
        // not grow the event queue (the counters have the total).
        if let Some(reason) = reason {
            if !std::mem::replace(&mut self.refusal_queued[reason as usize], true) {
                self.events.push_back(Event::Refused { from, reason });
            }
        }
        None
    }
}
