//! The datagrams sent to one peer and not yet acknowledged or declared
//! lost, and the bytes of those that carry data (the window).
//!
//! The byte count must stay the sum of the data datagrams' sizes: only
//! this type changes either.

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
}

impl SentPacket {
    /// Counts against the window: it carries ops or snapshot chunks.
    pub fn is_data(&self) -> bool {
        !self.ops.is_empty() || !self.chunks.is_empty()
    }
}

/// Datagrams in flight to one peer, oldest first.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    packets: VecDeque<SentPacket>,
    /// Bytes of the packets that carry ops or snapshot chunks.
    data_bytes: usize,
}

impl InFlight {
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
}
