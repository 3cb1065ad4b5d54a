//! The event queue and virtual clock: events ordered by (time, insertion sequence).
//!
//! Ties at the same instant are broken by the order events were pushed, never
//! by address or pointer, so a run is a pure function of its seed.

/// Virtual time in microseconds since the start of the run.
pub type Micros = u64;

/// A heap entry: when, the tie-break, and where the event waits. The
/// events themselves stay put in `slots`: the heap moves these 24 bytes on
/// every push and pop, not whole events.
#[derive(Clone, Copy)]
struct Entry {
    at: Micros,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// Pops before `other`: earlier, or as early and pushed first.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// Children per node of the heap. A large run keeps about a hundred
/// thousand events pending: a binary heap is 17 levels deep there, and
/// each level of a pop is a cache miss; with four children (96 bytes, as
/// near as the cache line they share) it is 9.
const ARITY: usize = 4;

/// A priority queue of future events plus the virtual clock it drives.
pub struct EventQueue<E> {
    /// A 4-ary min-heap by (time, sequence).
    heap: Vec<Entry>,
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
            heap: Vec::new(),
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
        let entry = Entry {
            at,
            seq: self.next_seq,
            slot,
        };
        self.next_seq += 1;
        // Sift up: parents later than the new entry move down.
        let mut i = self.heap.len();
        self.heap.push(entry);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    /// Takes the earliest event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(Micros, E)> {
        let last = self.heap.pop()?;
        let entry = match self.heap.first().copied() {
            None => last,
            Some(top) => {
                self.sift_down_from_root(last);
                top
            }
        };
        self.now = entry.at;
        let event = self.slots[entry.slot as usize]
            .take()
            .expect("a queued entry's slot holds its event");
        self.free.push(entry.slot);
        Some((entry.at, event))
    }

    /// Puts `entry` (the former last) at the root's place and sifts it
    /// down: the earliest child moves up while it is earlier.
    fn sift_down_from_root(&mut self, entry: Entry) {
        let len = self.heap.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= len {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + ARITY).min(len) {
                if self.heap[c].before(&self.heap[best]) {
                    best = c;
                }
            }
            if !self.heap[best].before(&entry) {
                break;
            }
            self.heap[i] = self.heap[best];
            i = best;
        }
        self.heap[i] = entry;
    }

    /// The time of the earliest pending event.
    pub fn peek_time(&self) -> Option<Micros> {
        self.heap.first().map(|e| e.at)
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
    fn pops_as_a_sorted_list_would_through_pushes_and_pops() {
        // Times from a small range (many ties), pushes and pops interleaved:
        // each pop is the earliest (time, push order) still pending.
        let mut q = EventQueue::new();
        let mut reference: std::collections::BTreeSet<(Micros, u64)> = Default::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut pushed = 0u64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(3) || reference.is_empty() {
                let at = q.now() + x % 50;
                q.push(at, pushed);
                reference.insert((at, pushed));
                pushed += 1;
            } else {
                let want = reference.pop_first().unwrap();
                assert_eq!(q.pop(), Some(want), "step {step}");
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(want) = reference.pop_first() {
            assert_eq!(q.pop(), Some(want));
        }
        assert!(q.is_empty());
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
