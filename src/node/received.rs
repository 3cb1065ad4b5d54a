//! The receiver's record of which packet numbers arrived from one peer,
//! as a few ranges, newest first: what an ack frame reports.

use std::time::Duration;

use crate::wire::{AckFrame, AckRange};

use super::Time;

/// Ranges kept (and so reported); older ones are forgotten, which only
/// means the sender may resend something that did arrive.
const MAX_RANGES: usize = 8;
/// A packet number this far below the largest seen means the sender
/// restarted its numbering (a restarted process): start over.
const RESTART_GAP: u64 = 100_000;

/// What arrived from one peer and the ack we owe it: an ack is owed once
/// an ack-eliciting datagram arrived, and due at once after a ping or a
/// second such datagram (else when the delayed-ack timer runs out).
#[derive(Clone, Debug, Default)]
pub struct AckState {
    received: ReceivedPackets,
    /// Something arrived since the last ack we sent.
    pending: bool,
    /// The ack must go out now.
    now: bool,
    /// Ack-eliciting datagrams received since our last ack.
    unacked_eliciting: u32,
    /// The peer acknowledged a datagram of ours that carried an ack: it
    /// has one of our acks (in the clear, what verifies our address to
    /// it). Until then every datagram to it carries an ack.
    ours_arrived: bool,
}

impl AckState {
    /// Notes packet number `packet` as received; false if it was already.
    /// An ack-eliciting one is owed an ack.
    pub fn received(&mut self, packet: u64, now: Time, eliciting: bool) -> bool {
        let new = self.received.insert(packet, now);
        if eliciting {
            self.pending = true;
            self.unacked_eliciting += 1;
        }
        new
    }

    /// After an ack-eliciting datagram: true if that makes the ack go at
    /// once (after a ping or a second such datagram); else it may wait.
    pub fn schedule(&mut self, ping: bool) -> bool {
        let at_once = ping || self.unacked_eliciting >= 2;
        self.now |= at_once;
        at_once
    }

    /// The ack delay ran out: an owed ack goes now.
    pub fn delay_ran_out(&mut self) {
        if self.pending {
            self.now = true;
        }
    }

    /// An ack must go out now.
    pub fn due(&self) -> bool {
        self.now
    }

    /// The ack owed, if any.
    pub fn frame(&self, now: Time) -> Option<AckFrame> {
        if self.pending {
            self.received.ack_frame(now)
        } else {
            None
        }
    }

    /// The ack to put in the next datagram: the one owed, else, until the
    /// peer is known to have received an ack of ours, the ack of all that
    /// arrived (a lone ack is never sent again when it is lost, and in the
    /// clear the peer sends us no more than we sent it until one arrives).
    pub fn frame_to_send(&self, now: Time) -> Option<AckFrame> {
        match self.frame(now) {
            None if !self.ours_arrived => self.received.ack_frame(now),
            owed => owed,
        }
    }

    /// The peer acknowledged a datagram of ours that carried an ack.
    pub fn ours_arrived(&mut self) {
        self.ours_arrived = true;
    }

    /// An ack went out: none is owed until something more arrives.
    pub fn sent(&mut self) {
        self.pending = false;
        self.now = false;
        self.unacked_eliciting = 0;
    }

    /// The peer numbers its packets from zero again (a new session or a
    /// new replica): what arrived before says nothing of what comes.
    pub fn restart_numbering(&mut self) {
        self.received = ReceivedPackets::default();
        self.ours_arrived = false;
    }
}

#[derive(Clone, Debug, Default)]
pub struct ReceivedPackets {
    /// Inclusive ranges, disjoint and not adjacent, newest (highest) first.
    ranges: Vec<(u64, u64)>,
    /// When the largest packet number arrived (for the ack delay).
    largest_at: Time,
}

impl ReceivedPackets {
    /// Records `packet`; returns false if it was already recorded (a duplicate).
    pub fn insert(&mut self, packet: u64, now: Time) -> bool {
        if let Some(&(_, largest)) = self.ranges.first() {
            if packet.saturating_add(RESTART_GAP) < largest {
                self.ranges.clear();
            }
        }
        if self.ranges.first().is_none_or(|&(_, hi)| packet > hi) {
            self.largest_at = now;
        }
        let ranges = &mut self.ranges;
        // First range (newest first) whose start is at or below `packet`.
        let i = ranges.iter().position(|&(lo, _)| lo <= packet);
        match i {
            Some(i) if packet <= ranges[i].1 => return false,
            _ => {}
        }
        let i = i.unwrap_or(ranges.len());
        // Extend the range below (at i) upward, or the one above (i - 1) downward.
        let joins_below = i < ranges.len() && ranges[i].1 + 1 == packet;
        let joins_above = i > 0 && ranges[i - 1].0 == packet + 1;
        match (joins_above, joins_below) {
            (true, true) => {
                ranges[i - 1].0 = ranges[i].0;
                ranges.remove(i);
            }
            (true, false) => ranges[i - 1].0 = packet,
            (false, true) => ranges[i].1 = packet,
            (false, false) => ranges.insert(i, (packet, packet)),
        }
        ranges.truncate(MAX_RANGES);
        true
    }

    #[cfg(test)]
    pub fn largest(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.1)
    }

    /// The ack frame describing what arrived, if anything did.
    pub fn ack_frame(&self, now: Time) -> Option<AckFrame> {
        let (&(lo, hi), rest) = self.ranges.split_first()?;
        let mut ranges = Vec::with_capacity(rest.len());
        let mut prev_lo = lo;
        for &(lo, hi) in rest {
            ranges.push(AckRange {
                gap: prev_lo - hi - 1,
                len: hi - lo + 1,
            });
            prev_lo = lo;
        }
        let delay: Duration = now - self.largest_at;
        Some(AckFrame {
            largest: hi,
            delay_us: u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            first: hi - lo,
            ranges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(frame: &AckFrame) -> Vec<u64> {
        let mut out: Vec<u64> = frame
            .ranges_inclusive()
            .unwrap()
            .into_iter()
            .flat_map(|(lo, hi)| lo..=hi)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn ranges_merge_and_round_trip_through_the_frame() {
        let mut r = ReceivedPackets::default();
        for p in [0, 1, 2, 5, 7, 6, 9, 3] {
            assert!(r.insert(p, Time(0)));
        }
        assert!(!r.insert(6, Time(0)), "duplicate");
        let frame = r.ack_frame(Time(0)).unwrap();
        assert_eq!(frame.largest, 9);
        assert_eq!(acked(&frame), vec![0, 1, 2, 3, 5, 6, 7, 9]);
        r.insert(4, Time(0));
        r.insert(8, Time(0));
        let frame = r.ack_frame(Time(0)).unwrap();
        assert!(frame.ranges.is_empty());
        assert_eq!(frame.first, 9);
    }

    #[test]
    fn keeps_only_the_newest_ranges() {
        let mut r = ReceivedPackets::default();
        for p in (0..40).step_by(2) {
            r.insert(p, Time(0));
        }
        let frame = r.ack_frame(Time(0)).unwrap();
        assert_eq!(frame.ranges.len(), MAX_RANGES - 1);
        assert_eq!(acked(&frame), (24..40).step_by(2).collect::<Vec<_>>());
    }

    #[test]
    fn ack_delay_counts_from_the_largest() {
        let mut r = ReceivedPackets::default();
        r.insert(3, Time(1000));
        r.insert(1, Time(5000));
        assert_eq!(r.ack_frame(Time(7000)).unwrap().delay_us, 6000);
    }

    #[test]
    fn restarted_sender_starts_over() {
        let mut r = ReceivedPackets::default();
        r.insert(500_000, Time(0));
        assert!(r.insert(0, Time(0)));
        assert_eq!(r.largest(), Some(0));
    }

    #[test]
    fn an_ack_goes_in_every_datagram_until_one_of_ours_is_known_to_have_arrived() {
        let now = Time::from_millis(1);
        let mut acks = AckState::default();
        assert!(acks.frame_to_send(now).is_none(), "nothing arrived");
        assert!(acks.received(0, now, true));
        acks.sent();
        assert!(acks.frame(now).is_none(), "none owed");
        let again = acks.frame_to_send(now).expect("repeated");
        assert_eq!(acked(&again), [0]);
        acks.ours_arrived();
        assert!(acks.frame_to_send(now).is_none());
        // A new session at the peer: what we knew of it holds no more.
        acks.restart_numbering();
        assert!(acks.received(0, now, false));
        assert!(acks.frame_to_send(now).is_some());
    }

    #[test]
    fn an_ack_is_owed_after_an_eliciting_datagram_and_due_after_two() {
        let now = Time::from_millis(1);
        let mut acks = AckState::default();
        assert!(acks.received(0, now, false));
        assert!(acks.frame(now).is_none(), "nothing eliciting: no ack owed");
        assert!(acks.received(1, now, true));
        assert!(!acks.schedule(false) && !acks.due(), "one may wait");
        assert!(!acks.received(1, now, true), "a duplicate");
        assert!(acks.schedule(false) && acks.due(), "two go at once");
        assert_eq!(acked(&acks.frame(now).unwrap()), [0, 1]);
        acks.sent();
        assert!(!acks.due() && acks.frame(now).is_none());
        acks.delay_ran_out();
        assert!(!acks.due(), "nothing owed");
        assert!(acks.received(2, now, true));
        acks.delay_ran_out();
        assert!(acks.due());
        assert!(acks.schedule(true), "a ping is answered at once");
    }
}
