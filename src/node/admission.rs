//! Whether a datagram gets in: authentication and decoding, replay
//! windows, and the challenge handshake of an address not proven yet.

use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::ReplicaId;
use crate::wire::{self, DatagramBuilder, DecodeError, Frame, Header, SealId};

use super::{truncate, Event, Node, Refusal, Seal, Time, Transmit, MAX_NAME, PROBE_BYTES};

/// A challenge sent before any round trip from here was measured waits
/// `Config::initial_rto` divided by this for its answer.
const CHALLENGE_BEFORE_RTT_DIVISOR: u32 = 4;

/// A peer's standing: whether it is shown to be live at its address, who
/// put it in the table, and how much it may be sent until it is shown.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    /// Without a group key, an address that wrote to us first is not yet
    /// known to receive what we send (the source may be spoofed): until it
    /// acknowledges one of our datagrams, it gets at most as many bytes as
    /// it sent (this budget), so the node cannot amplify an attack on it.
    /// `None`: verified, added by the user, or a group member. A learned
    /// address starts at zero, with one probe allowed (`probe`).
    budget: Option<usize>,
    /// Shown to be a live peer at this address: with a group key, it
    /// answered our challenge (`handshake.rs`); without, it acknowledged
    /// one of our datagrams. Until then a newcomer may take its place.
    proven: bool,
    /// Added by the user (`add`, `--peer`): never gives its place up.
    configured: bool,
    /// A learned address may get one small probe before it answers.
    probe: bool,
    /// Learned in the clear from a peer list whose sender was proven: it
    /// may be probed again while it is silent (see `probe_again`).
    vouched: bool,
    /// In the clear, it wrote to us before we knew of it (a newcomer's
    /// first contact): until it acknowledges one of our datagrams, it
    /// gets only answers (see `answers_only`).
    wrote_first: bool,
    /// With a group key: its challenge to us, echoed in every datagram we
    /// send it until one sealed for us shows it has taken us in.
    answer: Option<u64>,
}

impl Admission {
    pub fn proven(&self) -> bool {
        self.proven
    }

    pub fn configured(&self) -> bool {
        self.configured
    }

    /// The answer to its challenge that goes in every datagram to it.
    pub fn answer(&self) -> Option<u64> {
        self.answer
    }

    /// Whether it may be sent anything at all, not only what it paid for.
    pub fn unlimited(&self) -> bool {
        self.budget.is_none()
    }

    /// Added by the user: never forgotten, nor limited.
    pub fn configure(&mut self) {
        self.configured = true;
        self.budget = None;
    }

    /// Learned from a peer list or a LAN announcement: one small probe,
    /// and (with `limited`, in the clear) nothing more until it answers.
    pub fn learn(&mut self, limited: bool) {
        self.probe = true;
        if limited {
            self.budget = Some(0);
        }
    }

    /// A learned address silent so far may get one more probe (the last
    /// may have been lost, or its answers to it). An address that wrote
    /// first gets answers only, never probes.
    /// Only an address a proven peer named, and only in the clear: anyone
    /// may send a list of addresses, and a stranger's list gets each
    /// address one probe at most (within the bytes it sent); with a key a
    /// learned address gets one challenge.
    /// True if it may.
    pub fn probe_again(&mut self) -> bool {
        let may = self.vouched && !self.proven && !self.configured && !self.wrote_first;
        self.probe |= may;
        may
    }

    /// Learned in the clear from a proven peer's list.
    pub fn vouch(&mut self) {
        self.vouched = true;
    }

    /// In the clear, it wrote first: it gets no more than it sends.
    pub fn wrote_first(&mut self) {
        self.budget = Some(0);
        self.wrote_first = true;
    }

    /// A datagram `len` bytes long came from it.
    pub fn received(&mut self, len: usize) {
        if let Some(budget) = &mut self.budget {
            *budget += len;
        }
    }

    /// It acknowledged one of our datagrams: a real peer at that address.
    pub fn acknowledged(&mut self) {
        self.budget = None;
        self.proven = true;
    }

    /// It answered our challenge (with a group key).
    pub fn answered(&mut self) {
        self.proven = true;
    }

    /// It challenged us: every datagram to it carries the answer until it
    /// takes us in.
    pub fn challenged(&mut self, nonce: u64) {
        self.answer = Some(nonce);
    }

    /// A datagram sealed for us shows it took us in.
    pub fn taken_in(&mut self) {
        self.answer = None;
    }

    /// With a group key, before it is proven: whether our challenge goes
    /// to it now (`ping_due` says one is due). The probe of a learned
    /// address is spent either way.
    pub fn challenge_due(&mut self, ping_due: bool) -> bool {
        let due = ping_due && (self.configured || self.probe);
        self.probe = false;
        due
    }

    /// The most bytes the next datagram to it may take in the clear, if
    /// it is limited: its budget, and the probe if one is allowed.
    pub fn allowance(&self) -> Option<usize> {
        self.budget
            .map(|b| b + if self.probe { PROBE_BYTES } else { 0 })
    }

    /// In the clear, it wrote to us before we knew of it and has not
    /// acknowledged any of our datagrams yet: until it does, what goes to
    /// it is only what earns that ack. (A learned address we probed gets
    /// what its budget allows, as before.)
    pub fn answers_only(&self) -> bool {
        self.budget.is_some() && self.wrote_first
    }

    /// A datagram `len` bytes long in the clear went to it, within
    /// `allowance` (from [`Admission::allowance`]). What the probe left
    /// over is not kept.
    pub fn sent(&mut self, allowance: Option<usize>, len: usize) {
        if let (Some(budget), Some(allowance)) = (&mut self.budget, allowance) {
            *budget = (*budget).min(allowance.saturating_sub(len));
        }
        self.probe = false;
    }
}

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
        let proven = peers.get(&from).is_some_and(|p| p.admission.proven());
        let mut answered = false;
        for f in frames {
            match *f {
                Frame::Challenge(nonce) if proven => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.challenged(nonce);
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
        let newly_proven = !peer.admission.proven();
        peer.admission.answered();
        // The answer came at once: the first RTT sample, so what we send
        // next is timed by this path, not by the initial timeout.
        if let Some(rtt) = round_trip.filter(|_| peer.rtt.srtt().is_none()) {
            peer.rtt.sample(rtt.max(Duration::from_micros(1)));
            self.path_rto = Some(peer.rtt.base_rto());
        }
        if let Some(nonce) = owed {
            peer.admission.challenged(nonce);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unproven_address_gets_what_it_sent_and_a_learned_one_one_probe() {
        let mut a = Admission::default();
        assert_eq!(a.allowance(), None, "a new peer is not limited");
        a.learn(true);
        assert_eq!(a.allowance(), Some(PROBE_BYTES));
        a.sent(a.allowance(), 30);
        // The probe is spent, and what it left over is not kept.
        assert_eq!(a.allowance(), Some(0));
        a.received(100);
        a.sent(a.allowance(), 60);
        assert_eq!(a.allowance(), Some(40));
        assert!(!a.proven() && !a.unlimited());
        a.acknowledged();
        assert!(a.proven() && a.unlimited());
        assert_eq!(a.allowance(), None);
    }

    #[test]
    fn a_challenge_goes_to_an_added_peer_each_time_and_to_a_learned_one_once() {
        let mut learned = Admission::default();
        learned.learn(false);
        assert!(!learned.challenge_due(false), "not due: nothing sent");
        assert!(
            !learned.challenge_due(true),
            "the probe went with the first look"
        );
        let mut fresh = Admission::default();
        fresh.learn(false);
        assert!(fresh.challenge_due(true));
        assert!(!fresh.challenge_due(true));
        let mut added = Admission::default();
        added.configure();
        assert!(added.challenge_due(true) && added.challenge_due(true));
        added.challenged(7);
        assert_eq!(added.answer(), Some(7));
        added.taken_in();
        assert_eq!(added.answer(), None);
    }
}
