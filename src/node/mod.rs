//! The sans-IO protocol node: peers, acks and retransmission, anti-entropy,
//! relay, membership and liveness. It does no I/O: the driver feeds it
//! datagrams and timeouts and drains the datagrams it wants sent.

mod time;

use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::doc::{self, Doc, Patch, ReplicaId, VersionVector};

pub use time::Time;

/// Tunables. `Config::default()` is what `rumor` uses.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest datagram the node sends, in bytes (UDP payload).
    pub mtu: usize,
    /// Tell peers about other peers, and learn peers from them.
    pub peer_exchange: bool,
    /// A human name for this node, shown to peers.
    pub name: String,
    /// Retransmission timeout before any RTT sample (RFC 6298 says 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the retransmission timeout.
    pub min_rto: Duration,
    /// Upper bound of the retransmission timeout, backoff included.
    pub max_rto: Duration,
    /// How long a receiver may hold back an ack hoping to piggyback it.
    pub max_ack_delay: Duration,
    /// Most bytes of unacknowledged data in flight to one peer.
    pub window_bytes: usize,
    /// Interval between pings to each peer.
    pub ping_interval: Duration,
    /// Missed ping intervals after which a peer is suspect.
    pub suspect_after: u32,
    /// Missed ping intervals after which a peer is down.
    pub down_after: u32,
    /// Interval between digest exchanges with one random peer.
    pub anti_entropy_interval: Duration,
    /// Interval between peer-exchange messages.
    pub peer_exchange_interval: Duration,
    /// Most peers the node keeps (learned ones beyond this are ignored).
    pub max_peers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1200,
            peer_exchange: true,
            name: String::new(),
            initial_rto: Duration::from_millis(1000),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(10),
            max_ack_delay: Duration::from_millis(10),
            window_bytes: 64 * 1024,
            ping_interval: Duration::from_secs(1),
            suspect_after: 3,
            down_after: 10,
            anti_entropy_interval: Duration::from_secs(5),
            peer_exchange_interval: Duration::from_secs(10),
            max_peers: 64,
        }
    }
}

/// A local edit, in chars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Insert { pos: usize, text: String },
    Delete { pos: usize, len: usize },
}

/// A datagram the driver should send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// What changed, for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Remote ops changed the visible text, in this order.
    RemoteEdit { patches: Vec<Patch> },
    /// A peer answered (first contact, or back after being down).
    PeerUp(SocketAddr),
    /// A peer missed enough pings to be considered down.
    PeerDown(SocketAddr),
}

/// Liveness of a peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerState {
    /// Heard from recently.
    Alive,
    /// Missed a few pings.
    Suspect,
    /// Missed many pings, or never answered.
    Down,
}

/// A snapshot of what the node knows about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// Learned from the peer's datagrams; `None` until it has spoken.
    pub replica: Option<ReplicaId>,
    pub name: Option<String>,
    pub state: PeerState,
    /// Smoothed round-trip time, once measured.
    pub rtt: Option<Duration>,
    /// What the peer is known to have.
    pub acked: VersionVector,
    pub last_heard: Option<Time>,
}

/// Why a received datagram (or part of it) was dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// The node was offline.
    pub offline: u64,
    /// Not a rumor datagram (bad magic or too short).
    pub not_rumor: u64,
    /// A rumor datagram of another protocol version.
    pub wrong_version: u64,
    /// Bytes that do not decode.
    pub malformed: u64,
    /// Sent by this very replica (our own address among the peers).
    pub from_self: u64,
    /// Ops the document refused (invalid, conflicting, or too many held).
    pub bad_op: u64,
    /// From an unknown address when the peer table is full.
    pub peer_table_full: u64,
}

/// Counters for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// Datagrams whose data was declared lost and queued again.
    pub retransmits: u64,
    pub drops: Drops,
    /// Ops received from peers (including duplicates).
    pub ops_received: u64,
    /// Op chunks sent to peers (including resends).
    pub ops_sent: u64,
    /// Ops the document holds waiting for their dependencies.
    pub ops_buffered: u64,
    /// Digests sent (anti-entropy).
    pub digests_sent: u64,
}

/// One replica's protocol state machine.
pub struct Node {
    doc: Doc,
    config: Config,
    rng: ChaCha8Rng,
    stats: Stats,
}

impl Node {
    pub fn new(doc: Doc, config: Config, rng: ChaCha8Rng, now: Time) -> Node {
        let _ = now;
        Node {
            doc,
            config,
            rng,
            stats: Stats::default(),
        }
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Applies a local edit and queues it for every peer.
    pub fn edit(&mut self, now: Time, edit: Edit) -> Result<(), doc::Error> {
        let _ = (now, edit, &mut self.rng);
        todo!()
    }

    /// Feeds one received datagram. Never panics, whatever the bytes.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        let _ = (now, from, bytes);
        todo!()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        let _ = now;
        todo!()
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        todo!()
    }

    /// When the node next wants `handle_timeout` called.
    pub fn poll_timeout(&self) -> Option<Time> {
        todo!()
    }

    /// The next event for the driver, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// Adds a peer by address (or wakes it up if known) and starts a digest exchange.
    pub fn add_peer(&mut self, now: Time, addr: SocketAddr) {
        let _ = (now, addr);
        todo!()
    }

    /// Offline: sends nothing and ignores input; edits go on. Online again: reconnects.
    pub fn set_online(&mut self, now: Time, online: bool) {
        let _ = (now, online);
        todo!()
    }

    pub fn is_online(&self) -> bool {
        todo!()
    }

    /// Starts a digest exchange with every peer now.
    pub fn sync_now(&mut self, now: Time) {
        let _ = now;
        todo!()
    }

    pub fn peers(&self) -> Vec<PeerInfo> {
        todo!()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}
