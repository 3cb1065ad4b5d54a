//! The event queue and virtual clock: events ordered by (time, insertion sequence).
//!
//! Ties at the same instant are broken by the order events were pushed, never
//! by address or pointer, so a run is a pure function of its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual time in microseconds since the start of the run.
pub type Micros = u64;

/// A heap entry: when, the tie-break, and where the event waits. The
/// events themselves stay put in `slots`: the heap moves these 24 bytes on
/// every push and pop, not whole events.
struct Entry {
    at: Micros,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // BinaryHeap is a max-heap: reverse so the earliest (time, seq) pops first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A priority queue of future events plus the virtual clock it drives.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    /// The pending events, by slot; a slot is reused once its event pops.
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
    now: Micros,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            now: 0,
        }
    }

    /// The current virtual time: the time of the last event popped.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// Schedules `event` at `at`; a time in the past is moved to now (time never runs backwards).
    pub fn push(&mut self, at: Micros, event: E) {
        let at = at.max(self.now);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 4 billion pending events")
            }
        };
        self.heap.push(Entry {
            at,
            seq: self.next_seq,
            slot,
        });
        self.next_seq += 1;
    }

    /// Takes the earliest event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(Micros, E)> {
        let entry = self.heap.pop()?;
        self.now = entry.at;
        let event = self.slots[entry.slot as usize]
            .take()
            .expect("a queued entry's slot holds its event");
        self.free.push(entry.slot);
        Some((entry.at, event))
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<Micros> {
        self.heap.peek().map(|e| e.at)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(30, "c");
        q.push(10, "a1");
        q.push(20, "b");
        q.push(10, "a2");
        q.push(10, "a3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(10, "a1"), (10, "a2"), (10, "a3"), (20, "b"), (30, "c")]
        );
        assert_eq!(q.now(), 30);
    }

    #[test]
    fn past_events_run_now_after_earlier_pushes() {
        let mut q = EventQueue::new();
        q.push(100, 1);
        assert_eq!(q.pop(), Some((100, 1)));
        q.push(100, 2);
        q.push(5, 3); // in the past: runs at 100, after 2
        assert_eq!(q.pop(), Some((100, 2)));
        assert_eq!(q.pop(), Some((100, 3)));
        assert!(q.is_empty());
    }
}
