//! Timers in a fixed table: one slot per kind, so "what is armed" is one
//! array, not state scattered over the node.

use super::Time;

/// A table of `N` optional deadlines, indexed by a kind's number.
#[derive(Clone, Debug)]
pub struct TimerTable<const N: usize> {
    slots: [Option<Time>; N],
}

impl<const N: usize> Default for TimerTable<N> {
    fn default() -> Self {
        TimerTable { slots: [None; N] }
    }
}

impl<const N: usize> TimerTable<N> {
    pub fn set(&mut self, slot: usize, at: Time) {
        self.slots[slot] = Some(at);
    }

    /// Arms the slot unless it is already armed earlier.
    pub fn set_earliest(&mut self, slot: usize, at: Time) {
        self.slots[slot] = Some(self.slots[slot].map_or(at, |t| t.min(at)));
    }

    pub fn clear(&mut self, slot: usize) {
        self.slots[slot] = None;
    }

    pub fn get(&self, slot: usize) -> Option<Time> {
        self.slots[slot]
    }

    /// Disarms the slot and returns true if it was due at `now`.
    pub fn expire(&mut self, slot: usize, now: Time) -> bool {
        match self.slots[slot] {
            Some(t) if t <= now => {
                self.slots[slot] = None;
                true
            }
            _ => false,
        }
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Time> {
        self.slots.iter().flatten().min().copied()
    }
}

/// Node-wide timers.
pub mod node_timer {
    /// Digest exchange with one random peer.
    pub const ANTI_ENTROPY: usize = 0;
    /// Tell peers which peers we know.
    pub const PEER_EXCHANGE: usize = 1;
    /// Lazy announcement of what grew to a few random peers (gossip).
    pub const ANNOUNCE: usize = 2;
    /// The earliest pull of announced ops still missing (gossip).
    pub const PULL: usize = 3;
    /// The next LAN announcement (`discovery.rs`).
    pub const DISCOVER: usize = 4;
    /// A newcomer told of no peer founds a document (`join.rs`).
    pub const FOUND: usize = 5;
    pub const COUNT: usize = 6;
}

/// Timers of one peer.
pub mod peer_timer {
    /// Loss detection: the retransmission timeout of the oldest
    /// unacknowledged datagram, or earlier, the time threshold of one sent
    /// before an acknowledged datagram.
    pub const LOSS: usize = 0;
    /// Delayed ack: send the ack alone if nothing carried it by then.
    pub const ACK: usize = 1;
    /// Liveness: ping if not heard from, and re-evaluate alive/suspect/down.
    pub const PING: usize = 2;
    /// Small ops held back for coalescing go out by then, ack or not.
    pub const COALESCE: usize = 3;
    pub const COUNT: usize = 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_earliest_and_expire_disarms() {
        let mut t = TimerTable::<3>::default();
        assert_eq!(t.next(), None);
        t.set(0, Time(50));
        t.set(2, Time(10));
        t.set_earliest(2, Time(20));
        assert_eq!(t.next(), Some(Time(10)));
        assert!(!t.expire(0, Time(10)));
        assert!(t.expire(2, Time(10)));
        assert_eq!(t.next(), Some(Time(50)));
    }
}
