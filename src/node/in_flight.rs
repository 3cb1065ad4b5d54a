//! The datagrams sent to one peer and not yet acknowledged or declared
//! lost, the bytes of those that carry data (the window), and the packet
//! numbers: the next one to use and the largest acknowledged.
//!
//! The byte count must stay the sum of the data datagrams' sizes, and a
//! packet number is used once and acknowledged only once sent: only this
//! type changes any of them.

use std::collections::VecDeque;

use crate::doc::Op;

use super::Time;

/// A datagram sent and not yet acknowledged or declared lost.
#[derive(Clone, Debug)]
pub struct SentPacket {
    pub packet: u64,
    pub sent: Time,
    pub size: usize,
    /// The ops it carried: queued again if it is lost.
    pub ops: Vec<Op>,
    /// It carried our hello (sent again if lost): the start of our session
    /// with the peer, and our name.
    pub hello: bool,
    /// Far from full: while one is unacknowledged, small ops wait (coalescing).
    pub small: bool,
    /// Snapshot chunks it carried: (snapshot id, offset, length).
    pub chunks: Vec<(u64, u32, u32)>,
    /// It carried our digest (`Some(true)`: one that asks for the peer's
    /// in reply): a fresh one goes if it is lost, since what it tells
    /// (what we lack, or what the peer lacks) waits for it.
    pub digest: Option<bool>,
    /// The peer list it carried: put back in the queue if it is lost (in
    /// a small group, a member that misses one keeps relaying for
    /// nothing; see `relay.rs`).
    pub peer_list: Option<Vec<std::net::SocketAddr>>,
    /// It carried an ack: once it is acknowledged, the peer is known to
    /// have received an ack of ours (see `AckState::ours_arrived`).
    pub ack: bool,
}

impl SentPacket {
    /// Counts against the window: it carries ops or snapshot chunks.
    pub fn is_data(&self) -> bool {
        !self.ops.is_empty() || !self.chunks.is_empty()
    }
}

/// In the clear, a peer's address is verified by its ack of one of our
/// packet numbers; numbers that start at zero would let anyone who can
/// spoof a source address ack for it, and so make the node send a
/// stranger's address (a victim's) as much as a proven peer gets. So a
/// peer's numbers start at a random point below this: a forger must guess
/// within the few numbers sent so far, about this many tries (each a
/// datagram) for one window's worth of reflected bytes, which no longer
/// pays. Below 2^14 a number still takes two bytes on the wire.
pub const FIRST_PACKET_SPAN: u64 = 8192;

/// Datagrams in flight to one peer, oldest first, and the numbers they
/// are sent under.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    packets: VecDeque<SentPacket>,
    /// Bytes of the packets that carry ops or snapshot chunks.
    data_bytes: usize,
    /// The number the first datagram to the peer went under: acks below
    /// it are forged (see [`FIRST_PACKET_SPAN`]).
    first_packet: u64,
    /// The number the next datagram to the peer goes under.
    next_packet: u64,
    /// The largest number the peer acknowledged (since it became the
    /// replica it is).
    largest_acked: Option<u64>,
}

impl InFlight {
    /// Nothing sent yet; the first datagram goes under `first_packet`.
    pub fn starting_at(first_packet: u64) -> InFlight {
        InFlight {
            first_packet,
            next_packet: first_packet,
            ..InFlight::default()
        }
    }

    /// The number the next datagram goes under (see [`InFlight::take_packet`]).
    pub fn next_packet(&self) -> u64 {
        self.next_packet
    }

    /// Uses up the next packet number: a datagram went under it.
    pub fn take_packet(&mut self) -> u64 {
        let packet = self.next_packet;
        self.next_packet += 1;
        packet
    }

    /// Whether a datagram went under `packet` (an ack of anything else is
    /// stale or forged).
    pub fn was_sent(&self, packet: u64) -> bool {
        (self.first_packet..self.next_packet).contains(&packet)
    }

    pub fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// The peer acknowledged datagrams up to `largest` (one we sent).
    pub fn acked_up_to(&mut self, largest: u64) {
        debug_assert!(self.was_sent(largest));
        self.largest_acked = Some(self.largest_acked.map_or(largest, |l| l.max(largest)));
    }

    /// Forgets every datagram in flight (dropped, not cleared: a long
    /// catch-up must not keep its room); the numbers go on.
    pub fn clear(&mut self) {
        self.packets = VecDeque::new();
        self.data_bytes = 0;
    }

    /// A new replica at the peer's address: it acknowledged nothing yet.
    pub fn new_receiver(&mut self) {
        self.clear();
        self.largest_acked = None;
    }

    /// Bytes of unacknowledged datagrams that carry data (the window).
    pub fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    pub fn iter(&self) -> impl Iterator<Item = &SentPacket> {
        self.packets.iter()
    }

    pub fn push(&mut self, sent: SentPacket) {
        if sent.is_data() {
            self.data_bytes += sent.size;
        }
        self.packets.push_back(sent);
    }

    /// Keeps the packets `keep` accepts (it sees each once, oldest first).
    pub fn retain(&mut self, mut keep: impl FnMut(&SentPacket) -> bool) {
        let data_bytes = &mut self.data_bytes;
        self.packets.retain(|sent| {
            let kept = keep(sent);
            if !kept && sent.is_data() {
                *data_bytes -= sent.size;
            }
            kept
        });
    }

    /// Takes out the packets `is_lost` names, oldest first.
    pub fn take_lost(&mut self, is_lost: impl Fn(&SentPacket) -> bool) -> VecDeque<SentPacket> {
        // Usually nothing is lost: then the deque stays as it is.
        if !self.packets.iter().any(&is_lost) {
            return VecDeque::new();
        }
        let lost: VecDeque<SentPacket>;
        (lost, self.packets) = std::mem::take(&mut self.packets)
            .into_iter()
            .partition(&is_lost);
        for sent in lost.iter().filter(|s| s.is_data()) {
            self.data_bytes -= sent.size;
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(packet: u64, size: usize, data: bool) -> SentPacket {
        SentPacket {
            packet,
            sent: Time::from_micros(packet),
            size,
            ops: Vec::new(),
            hello: false,
            small: false,
            chunks: if data { vec![(1, 0, 10)] } else { Vec::new() },
            digest: None,
            peer_list: None,
            ack: false,
        }
    }

    #[test]
    fn the_window_counts_data_datagrams_in_flight() {
        let sum =
            |f: &InFlight| -> usize { f.iter().filter(|s| s.is_data()).map(|s| s.size).sum() };
        let mut f = InFlight::default();
        for (pn, size, data) in [
            (0, 100, true),
            (1, 30, false),
            (2, 200, true),
            (3, 400, true),
        ] {
            f.push(sent(pn, size, data));
        }
        assert_eq!(f.data_bytes(), 700);
        f.retain(|s| s.packet != 2);
        assert_eq!(f.data_bytes(), sum(&f));
        let lost = f.take_lost(|s| s.packet < 2);
        assert_eq!(lost.len(), 2);
        assert_eq!(f.data_bytes(), 400);
        assert_eq!(f.data_bytes(), sum(&f));
    }

    #[test]
    fn packet_numbers_are_used_once_and_survive_a_reset() {
        let mut f = InFlight::default();
        assert_eq!(f.take_packet(), 0);
        let pn = f.take_packet();
        f.push(sent(pn, 100, true));
        assert_eq!(f.next_packet(), 2);
        assert!(f.was_sent(1) && !f.was_sent(2));
        f.acked_up_to(1);
        f.acked_up_to(0);
        assert_eq!(f.largest_acked(), Some(1));
        // The peer went down: what was in flight is forgotten, numbers go on.
        f.clear();
        assert_eq!((f.data_bytes(), f.iter().count()), (0, 0));
        assert_eq!((f.next_packet(), f.largest_acked()), (2, Some(1)));
        // A new replica there acknowledged nothing of ours yet.
        f.new_receiver();
        assert_eq!((f.next_packet(), f.largest_acked()), (2, None));
    }

    #[test]
    fn numbers_below_the_first_were_never_sent() {
        let mut f = InFlight::starting_at(5000);
        assert!(!f.was_sent(5000));
        assert_eq!(f.take_packet(), 5000);
        assert_eq!(f.take_packet(), 5001);
        assert!(f.was_sent(5000) && f.was_sent(5001));
        // An ack of 0 (or anything below the start) is forged, not stale.
        assert!(!f.was_sent(0) && !f.was_sent(4999) && !f.was_sent(5002));
    }
}
