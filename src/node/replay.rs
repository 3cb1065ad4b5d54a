//! Replay protection for sealed datagrams: per sender, the newest epoch
//! seen and a sliding window over the sequence numbers of that epoch.
//!
//! A sealed datagram's (epoch, sequence) is authenticated, so only a group
//! member can make a new one; what an attacker can do is send a captured
//! one again. The window accepts each (sender, epoch, sequence) at most
//! once, refuses anything from an older epoch (the sender has restarted
//! since), and refuses sequences too far behind the newest to tell (so a
//! datagram delayed by more than [`WINDOW`] later ones is lost, which the
//! protocol repairs like any loss). Network duplicates are refused too.

use crate::doc::ReplicaId;
use crate::wire::SealId;

use super::Time;

/// Sequence numbers remembered behind the newest one, per sender.
pub const WINDOW: u64 = 128;

/// Why a sealed datagram was refused as a replay.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// This (epoch, sequence) was accepted before.
    Seen,
    /// From an epoch before the sender's newest: an earlier run.
    OldEpoch,
    /// Too far behind the newest sequence to tell.
    TooOld,
}

#[derive(Clone, Debug)]
struct Window {
    epoch: u64,
    /// Newest sequence accepted; bit i of `seen` is `newest - i`.
    newest: u64,
    seen: u128,
    last_used: Time,
}

impl Window {
    fn new(id: SealId, now: Time) -> Window {
        Window {
            epoch: id.epoch,
            newest: id.seq,
            seen: 1,
            last_used: now,
        }
    }

    fn accept(&mut self, id: SealId, now: Time) -> Result<(), Replay> {
        if id.epoch < self.epoch {
            return Err(Replay::OldEpoch);
        }
        if id.epoch > self.epoch {
            *self = Window::new(id, now);
            return Ok(());
        }
        if id.seq > self.newest {
            let shift = id.seq - self.newest;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.newest = id.seq;
        } else {
            let behind = self.newest - id.seq;
            if behind >= WINDOW {
                return Err(Replay::TooOld);
            }
            let bit = 1u128 << behind;
            if self.seen & bit != 0 {
                return Err(Replay::Seen);
            }
            self.seen |= bit;
        }
        self.last_used = now;
        Ok(())
    }
}

/// The windows of every sender heard, at most `max_senders` of them (the
/// least recently heard is forgotten first). Only authenticated datagrams
/// reach it, so only group members take room.
///
/// Sorted vectors, searched by replica: every sealed datagram looks its
/// sender up, in groups of hundreds, and senders come and go rarely (a
/// B-tree's search cost more than the rest of the check).
#[derive(Clone, Debug)]
pub struct ReplayWindows {
    /// The senders, in replica order (eviction ties go to the first).
    senders: Vec<ReplicaId>,
    /// Each sender's window, at its index in `senders`.
    windows: Vec<Window>,
    max_senders: usize,
}

impl ReplayWindows {
    pub fn new(max_senders: usize) -> ReplayWindows {
        ReplayWindows {
            senders: Vec::new(),
            windows: Vec::new(),
            max_senders: max_senders.max(1),
        }
    }

    /// Records `id` from `sender`, or says why it is a replay.
    pub fn accept(&mut self, sender: ReplicaId, id: SealId, now: Time) -> Result<(), Replay> {
        if let Ok(i) = self.senders.binary_search(&sender) {
            return self.windows[i].accept(id, now);
        }
        if self.windows.len() >= self.max_senders {
            let oldest = self
                .windows
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| w.last_used)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                self.senders.remove(i);
                self.windows.remove(i);
            }
        }
        let at = self.senders.partition_point(|&r| r < sender);
        self.senders.insert(at, sender);
        self.windows.insert(at, Window::new(id, now));
        Ok(())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(epoch: u64, seq: u64) -> SealId {
        SealId { epoch, seq }
    }

    #[test]
    fn each_sequence_once_in_any_order() {
        let mut w = ReplayWindows::new(8);
        let r = ReplicaId(5);
        for seq in [3, 1, 2, 0, 10, 4] {
            assert_eq!(w.accept(r, id(1, seq), Time(0)), Ok(()), "seq {seq}");
        }
        for seq in [3, 1, 2, 0, 10, 4] {
            assert_eq!(
                w.accept(r, id(1, seq), Time(0)),
                Err(Replay::Seen),
                "seq {seq}"
            );
        }
        assert_eq!(w.accept(r, id(1, 5), Time(0)), Ok(()));
    }

    #[test]
    fn far_behind_is_refused_and_far_ahead_slides() {
        let mut w = ReplayWindows::new(8);
        let r = ReplicaId(5);
        w.accept(r, id(1, 0), Time(0)).unwrap();
        w.accept(r, id(1, 1000), Time(0)).unwrap();
        assert_eq!(w.accept(r, id(1, 0), Time(0)), Err(Replay::TooOld));
        assert_eq!(
            w.accept(r, id(1, 1000 - WINDOW), Time(0)),
            Err(Replay::TooOld)
        );
        assert_eq!(w.accept(r, id(1, 1000 - WINDOW + 1), Time(0)), Ok(()));
        assert_eq!(w.accept(r, id(1, 999), Time(0)), Ok(()));
        assert_eq!(w.accept(r, id(1, 999), Time(0)), Err(Replay::Seen));
    }

    #[test]
    fn a_new_epoch_replaces_the_old_for_good() {
        let mut w = ReplayWindows::new(8);
        let r = ReplicaId(5);
        w.accept(r, id(1, 50), Time(0)).unwrap();
        assert_eq!(w.accept(r, id(2, 0), Time(0)), Ok(()));
        assert_eq!(w.accept(r, id(1, 51), Time(0)), Err(Replay::OldEpoch));
        assert_eq!(w.accept(r, id(2, 0), Time(0)), Err(Replay::Seen));
        // Other senders are independent.
        assert_eq!(w.accept(ReplicaId(6), id(1, 50), Time(0)), Ok(()));
    }

    #[test]
    fn bounded_in_senders_forgetting_the_least_recent() {
        let mut w = ReplayWindows::new(3);
        for r in 0..3 {
            w.accept(ReplicaId(r), id(1, 0), Time(r)).unwrap();
        }
        w.accept(ReplicaId(0), id(1, 1), Time(10)).unwrap();
        w.accept(ReplicaId(9), id(1, 0), Time(11)).unwrap();
        assert_eq!(w.len(), 3);
        // Replica 1 was the least recently heard: forgotten.
        assert_eq!(
            w.accept(ReplicaId(0), id(1, 1), Time(12)),
            Err(Replay::Seen)
        );
        assert_eq!(
            w.accept(ReplicaId(2), id(1, 0), Time(12)),
            Err(Replay::Seen)
        );
    }
}
