//! With a group key: which addresses have shown that a member is there
//! now, and the challenge each other address must answer first.
//!
//! A sealed datagram that authenticates was written by a member, but not
//! necessarily now, nor to this node: it may be a copy captured and never
//! delivered, one sent to another member (a sender's seal sequence runs
//! across all its destinations), or one this node accepted before it
//! restarted (the replay window, `replay.rs`, lives in memory). So a sealed
//! datagram from an address that has not proven itself does not reach the
//! peer table or the document: the node answers it only with a small
//! sealed `Challenge` (a random number), and takes the address in once a
//! datagram from it echoes that number in a sealed `Response`. Only a
//! member that receives at the address can write that, and only after the
//! challenge was sent, so the reply is fresh and bound to this node (the
//! number is its own, drawn for that address) and to the address (the
//! echo must come from it).
//!
//! Until then the address gets no more bytes than it sent (no
//! amplification): the answer to its challenge first, then ours if it
//! fits. The handshakes pending are bounded (the oldest is dropped first):
//! only authentic datagrams start one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::Time;
use crate::doc::ReplicaId;

/// One address's handshake in progress.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// Our challenge to it: the number its `Response` must echo.
    pub nonce: u64,
    /// When our challenge last went out (`None`: not yet).
    pub challenged: Option<Time>,
    /// Challenges sent so far: a response times the round trip only if
    /// there was one.
    challenges: u32,
    /// Retries timed while the address was silent (see `retry_after`).
    backoff: u32,
    /// Its latest challenge to us, not yet answered.
    pub owed: Option<u64>,
    /// Bytes it sent us less bytes we sent it: what our answers may take.
    pub budget: usize,
    /// The member whose sealed datagram came last from it, and when: a
    /// member of the group even if not (yet) at this address, so cleanup
    /// waits for it (see `stability`).
    pub heard: Option<(ReplicaId, Time)>,
    started: Time,
}

impl Handshake {
    /// Our challenge goes out now.
    pub fn challenge_sent(&mut self, now: Time) {
        self.challenges = self.challenges.saturating_add(1);
        self.challenged = Some(now);
    }

    /// How long to wait for the answer to the challenge just sent (at
    /// `now`) before sending it again: `base`, a retransmission timeout,
    /// while the address was heard from within `quiet` (it is there, and
    /// a lost answer is bad luck, not a sign it is gone); otherwise twice
    /// as long as the last wait, up to `quiet`.
    pub fn retry_after(&mut self, now: Time, base: Duration, quiet: Duration) -> Duration {
        let heard_lately = self.heard.is_some_and(|(_, at)| now < at + quiet);
        self.backoff = if heard_lately {
            0
        } else {
            self.backoff.saturating_add(1).min(16)
        };
        let doublings = self.backoff.saturating_sub(1);
        base.saturating_mul(1 << doublings).min(quiet)
    }

    /// The round trip the answer to our challenge took, if only one was
    /// sent (Karn: otherwise which copy it answers is not known).
    pub fn round_trip(&self, now: Time) -> Option<Duration> {
        let sent = self.challenged.filter(|_| self.challenges == 1)?;
        Some(now.saturating_since(sent))
    }
}

/// The handshakes in progress, by address, at most `max` of them.
#[derive(Clone, Debug)]
pub struct Handshakes {
    /// Ordered by address: eviction order is deterministic.
    pending: BTreeMap<SocketAddr, Handshake>,
    max: usize,
}

impl Handshakes {
    pub fn new(max: usize) -> Handshakes {
        Handshakes {
            pending: BTreeMap::new(),
            max: max.max(1),
        }
    }

    /// `addr`'s handshake, started now (with a fresh challenge) if there
    /// is none. If there are `max` already, the oldest makes room, one of
    /// an address `keep` does not name first (the node keeps its peers'
    /// handshakes: strangers' replays cannot push them out).
    pub fn entry(
        &mut self,
        addr: SocketAddr,
        now: Time,
        rng: &mut ChaCha8Rng,
        keep: impl Fn(&SocketAddr) -> bool,
    ) -> &mut Handshake {
        if !self.pending.contains_key(&addr) && self.pending.len() >= self.max {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(a, h)| (keep(a), h.started, **a))
                .map(|(&a, _)| a);
            if let Some(a) = oldest {
                self.pending.remove(&a);
            }
        }
        self.pending.entry(addr).or_insert_with(|| Handshake {
            nonce: rng.random(),
            challenged: None,
            challenges: 0,
            backoff: 0,
            owed: None,
            budget: 0,
            heard: None,
            started: now,
        })
    }

    pub fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Handshake> {
        self.pending.get_mut(addr)
    }

    pub fn remove(&mut self, addr: &SocketAddr) -> Option<Handshake> {
        self.pending.remove(addr)
    }

    /// The members heard from in handshakes, and when.
    pub fn heard(&self) -> impl Iterator<Item = (ReplicaId, Time)> + '_ {
        self.pending.values().filter_map(|h| h.heard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    #[test]
    fn challenges_go_again_at_the_base_pace_while_heard_and_double_while_silent() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut h = Handshakes::new(4);
        let hs = h.entry(addr(1), Time::ZERO, &mut rng, |_| false);
        let (base, quiet) = (Duration::from_millis(100), Duration::from_secs(1));
        let ms = Time::from_millis;
        let mut waits = Vec::new();
        for t in [0, 100, 300, 700, 1500] {
            hs.challenge_sent(ms(t));
            waits.push(hs.retry_after(ms(t), base, quiet).as_millis());
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000], "silent: doubling");
        // Its own challenge arrives: it is there, our answers are lost.
        hs.heard = Some((ReplicaId(9), ms(2400)));
        hs.challenge_sent(ms(2500));
        assert_eq!(hs.retry_after(ms(2500), base, quiet), base);
        // Five sent: which one an answer echoes is not known.
        assert_eq!(hs.round_trip(ms(2540)), None);
        let hs = h.entry(addr(2), ms(0), &mut rng, |_| false);
        hs.challenge_sent(ms(10));
        assert_eq!(hs.round_trip(ms(50)), Some(Duration::from_millis(40)));
    }

    #[test]
    fn bounded_dropping_the_oldest_and_each_keeps_its_challenge() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut h = Handshakes::new(2);
        let none = |_: &SocketAddr| false;
        let first = h.entry(addr(1), Time(1), &mut rng, none).nonce;
        assert_eq!(h.entry(addr(1), Time(5), &mut rng, none).nonce, first);
        h.entry(addr(2), Time(2), &mut rng, none);
        h.entry(addr(3), Time(3), &mut rng, none);
        assert!(h.get_mut(&addr(1)).is_none(), "the oldest made room");
        assert!(h.get_mut(&addr(2)).is_some() && h.get_mut(&addr(3)).is_some());
        assert_ne!(h.entry(addr(1), Time(6), &mut rng, none).nonce, first);
        // A kept address (3, the oldest now) stays while there are others.
        let peer = |a: &SocketAddr| *a == addr(3);
        h.entry(addr(4), Time(7), &mut rng, peer);
        assert!(h.get_mut(&addr(3)).is_some() && h.get_mut(&addr(1)).is_none());
    }
}
