//! The sans-IO protocol node: peers, acks and retransmission, anti-entropy,
//! relay, membership and liveness. It does no I/O: the driver feeds it
//! datagrams and timeouts and drains the datagrams it wants sent.
//!
//! How it keeps replicas converging:
//!
//! - **Driven by state.** For each peer the node keeps `known` (what the
//!   peer has: its last digest, raised as our ops are acknowledged). Ops
//!   the doc gained since the last refill are queued for the peers the
//!   gossip rule names (`gossip.rs`: down a tree rooted at each op's
//!   author, so each node sends and receives each op about once whatever
//!   the group size); that one rule is both push (local edits) and relay
//!   (ops learned from another peer). A peer whose digest shows a gap gets
//!   everything beyond it. Ops received from a peer raise its `known`, so
//!   they are not echoed back.
//! - **Acks and loss.** Every datagram has a packet number; the receiver
//!   acks ranges of them (piggybacked, or alone after `max_ack_delay`). A
//!   datagram is lost when a later one is acked and it is three numbers or
//!   9/8 RTT older (RFC 9002), or when its RTO (RFC 6298, with backoff and a
//!   cap) runs out; its ops go back to the front of the
//!   queue, less what the peer is now known to have.
//! - **Window.** At most `window_bytes` of op-carrying datagrams are
//!   unacknowledged per peer. Small ops wait (about one RTT at most) while a
//!   small datagram is in flight (Nagle/Minshall), so fast typing travels as
//!   one op per round trip.
//! - **Anti-entropy.** A digest (version vector) goes to a random peer
//!   periodically, to every peer on `sync_now` and on coming online, and to a
//!   peer that comes up. The receiver takes it as the truth about the peer,
//!   queues exactly what the peer lacks, and answers with its own digest if
//!   it lacks something itself. Any of these messages may be lost or
//!   duplicated: the next round repairs it.
//! - **Liveness.** A peer not heard from for `ping_interval` is pinged;
//!   after `suspect_after` intervals it is suspect, after `down_after` down
//!   (its send state is dropped; when it answers, a digest exchange catches
//!   it up). Peer lists are gossiped when `peer_exchange` is on.
//! - **Who is a peer.** With a group key, an address enters the peer table
//!   only once it has echoed, sealed, a random challenge we sent it
//!   (`handshake.rs`): an authentic datagram may still be a replay. Without
//!   one, an address that wrote first gets no more bytes than it sent until
//!   it acknowledges ours, and a learned address one small probe. A full
//!   table drops the oldest peer that never proved itself for a newcomer.
//! - **Gossip.** Lazy announcements (`Have`) to a few random peers, and a
//!   pull on a miss, repair what the tree missed well before anti-entropy.
//! - **Timers** are a fixed table: four node-wide slots (anti-entropy, peer
//!   exchange, announcements, pulls) and four per peer (loss, delayed ack,
//!   ping, coalescing).

mod gossip;
mod handshake;
mod peer;
mod presence;
mod received;
mod replay;
mod rtt;
mod snapshot;
mod stability;
mod time;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::doc::{self, Doc, IdSpan, Op, Patch, ReplicaId, VersionVector};
use crate::wire::{
    self, DatagramBuilder, DecodeError, DigestFrame, Frame, GroupKey, Header, SealId, SealKeys,
};

use gossip::{fanout_for, Gossip, View};
use handshake::Handshakes;
use peer::{subtract_spans, trim_known, try_append, Peer, SentPacket};
use received::ReceivedPackets;
use replay::ReplayWindows;
use timers::{node_timer, peer_timer, TimerTable};

pub use presence::Presence;
pub use rtt::RttEstimator;
pub use stability::Membership;

pub use time::Time;

/// Tunables. `Config::default()` is what `rumor` uses.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest datagram the node sends, in bytes (UDP payload). Values
    /// below `wire::MIN_MTU` (200) are raised to it.
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
    /// Most peers the node keeps. When the table is full, a newcomer takes
    /// the place of the oldest peer that has not shown itself live (see
    /// `Peer::proven`); a peer the user adds takes any place but another
    /// added one.
    pub max_peers: usize,
    /// Coalesce small ops while data is in flight (Nagle): one datagram
    /// per round trip when typing faster than the network answers.
    pub coalesce: bool,
    /// The group key: with one, every datagram sent is sealed and only
    /// sealed datagrams that authenticate are read (no clear fallback).
    /// Without one, anyone who can reach the node can edit.
    pub key: Option<GroupKey>,
    /// This run's sealing epoch: distinct for every run of one replica and
    /// growing from run to run (the driver persists it), so sealing nonces
    /// never repeat. Unused without a key.
    pub epoch: u64,
    /// Most ops from one peer that wait in the document for missing causes;
    /// past it that peer's early ops are dropped (counted) until the
    /// causes arrive. Bounds what one sender can park in memory.
    pub max_held_per_peer: usize,
    /// In groups larger than `direct_push_max`, how many peers each node
    /// pushes each op to (the arity of the gossip tree, `gossip.rs`).
    pub fanout: usize,
    /// Groups of at most this many members (this node included) push each
    /// op from its author to every member directly.
    pub direct_push_max: usize,
    /// Interval between lazy announcements of what grew (`Have` frames).
    pub gossip_interval: Duration,
    /// How many random peers get each announcement.
    pub lazy_fanout: usize,
    /// How long a node that heard of ops it lacks waits for them to
    /// arrive down the tree before pulling them from the announcer.
    pub pull_delay: Duration,
    /// A peer lacking at least this many ops, and more than half of the
    /// document, gets a snapshot instead of ops (see `node::snapshot`).
    pub snapshot_min_ops: u64,
    /// A member not heard from for this long is declared gone: it no longer
    /// holds back cleanup, and must rejoin as a newcomer (see `stability`).
    pub member_horizon: Duration,
    /// How old a member's report must be before cleanup relies on it (time
    /// for a newcomer it served to become known; see `stability`).
    pub join_grace: Duration,
    /// Cleanup runs (at an anti-entropy tick) once the history not yet
    /// cleaned up holds at least this many runs.
    pub collect_min_runs: usize,
    /// Ops that arrived before their causes are held at most about twice
    /// this long (at least this long), then dropped: a flood of ops whose
    /// causes never come gives its memory back, and an honest sender's
    /// digest exchange brings a dropped op again.
    pub held_expiry: Duration,
    /// Start as a newcomer: send none of our ops until a member's snapshot
    /// arrives (asked for with `Join`), then re-make any we made before as a
    /// new replica (see `stability`'s "Newcomers"). For a replica that
    /// starts with no history and joins an existing group; `false` founds
    /// a group (or resumes one).
    pub joining: bool,
    /// The document this replica edits (see `wire::Header::document`), 0
    /// for none yet: a newcomer adopts the document of the member whose
    /// snapshot it joins with. The host mints one for a founder and keeps
    /// it in the replica's membership.
    pub document: u32,
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
            max_peers: 1024,
            coalesce: true,
            key: None,
            epoch: 0,
            max_held_per_peer: 4096,
            fanout: 4,
            direct_push_max: 8,
            gossip_interval: Duration::from_millis(500),
            lazy_fanout: 2,
            pull_delay: Duration::from_millis(250),
            snapshot_min_ops: 4096,
            member_horizon: Duration::from_secs(3600),
            join_grace: Duration::from_secs(30),
            collect_min_runs: 1024,
            held_expiry: Duration::from_secs(30),
            joining: false,
            document: 0,
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
    /// This node rejoined the group as a new replica (it had been declared
    /// gone, or its ops needed history the group cleaned up): its own ops
    /// the group lacked were re-made under the new id. A driver that
    /// persists must store the new id and the new document (`Store::rejoin`).
    Rejoined { old: ReplicaId, new: ReplicaId },
    /// A peer holds more of this replica's own ops than it does (`peer_has`
    /// against `we_have`): its storage lost ops it had sent (a data
    /// directory restored from a backup, a rolled-back VM). Its id may
    /// already name other content at that peer, so the node stops sending
    /// ops and rejoins as a new replica (`Rejoined`) once a member's
    /// snapshot arrives, re-making its own edits the group lacks.
    OwnOpsLost {
        peer: SocketAddr,
        peer_has: u64,
        we_have: u64,
    },
    /// A datagram from `from` was refused for a reason the user can fix
    /// (it is also counted in `Stats::drops`; other refusals, such as
    /// garbage, are only counted).
    Refused { from: SocketAddr, reason: Refusal },
}

/// Why a datagram was refused, when the user can do something about it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    /// Sealed under another group secret (or altered on the way).
    BadTag,
    /// In the clear, and this node accepts only sealed datagrams.
    Unsealed,
    /// Sealed, and this node has no group secret.
    Sealed,
    /// Of another document (a peer that edits another text): never
    /// applied; see [`Node::foreign_document`].
    OtherDocument,
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
    /// Sealed, but this node has no group secret.
    pub sealed: u64,
    /// In the clear, but this node has a group secret.
    pub unsealed: u64,
    /// Sealed, but the tag does not verify: another group secret, or
    /// altered bytes.
    pub bad_tag: u64,
    /// Sealed and authentic, but accepted once already (a replay or a
    /// network duplicate), from an earlier run of the sender, or too old
    /// to tell.
    pub replayed: u64,
    /// Sealed and authentic, but from an address that has not answered our
    /// challenge yet (see `handshake.rs`): a member's first datagrams, or a
    /// replay. Only the handshake is read from them.
    pub unproven: u64,
    /// Early ops from a peer that already has `max_held_per_peer` waiting.
    pub held_limit: u64,
    /// Snapshots that were too large or did not load.
    pub bad_snapshot: u64,
    /// Ops of a replica declared gone, beyond what the group accepted of it.
    pub gone_author: u64,
    /// Datagrams of another document (see `Config::document`).
    pub other_document: u64,
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
    /// Datagrams received that were already received (duplicates).
    pub duplicates: u64,
    /// Snapshots sent whole (every chunk acknowledged) and loaded.
    pub snapshots_sent: u64,
    pub snapshots_received: u64,
    /// Snapshots of our own document encoded (a newcomer at an unchanged
    /// document gets the last one again).
    pub snapshots_encoded: u64,
    /// History cleanups run (see `Doc::collect`).
    pub collections: u64,
    /// Members declared gone (by this node or adopted from others).
    pub members_gone: u64,
    /// Times this node rejoined as a new replica.
    pub rejoins: u64,
    /// Times a peer showed it holds ops of ours that we lack
    /// (`Event::OwnOpsLost`).
    pub own_ops_lost: u64,
}

/// Packet-threshold loss detection: a datagram is lost once one sent this
/// many numbers later has been acknowledged (as in QUIC and TCP's 3 dupacks).
const PACKET_THRESHOLD: u64 = 3;
/// Room kept in every datagram for an ack frame, so a full op still fits beside one.
const ACK_RESERVE: usize = 64;
/// Below this much free room, a big op waits for the next datagram instead of being cut.
const MIN_SPLIT_ROOM: usize = 96;
/// Longest coalescing hold before any RTT is measured.
const DEFAULT_HOLD: Duration = Duration::from_millis(50);
/// Longest name sent in a hello, in bytes.
const MAX_NAME: usize = 64;
/// Most addresses in one peer-exchange frame.
const MAX_PEER_LIST: usize = 32;
/// Smallest budget worth a datagram to an unverified address: a header
/// and an ack or a ping.
const MIN_REPLY: usize = wire::HEADER_LEN + 16;
/// Senders whose replay windows are kept (group members only can add one).
const MAX_REPLAY_SENDERS: usize = 1024;
/// Handshakes in progress kept at once (see `handshake.rs`).
const MAX_HANDSHAKES: usize = 256;
/// The most a probe to a learned address that never wrote to us may take,
/// in the clear: a header, a ping, perhaps a hello with a short name, or
/// a small digest.
const PROBE_BYTES: usize = wire::HEADER_LEN + 38;

/// How a datagram was sealed: the nonce's parts, and whether it was bound
/// to this replica (see `wire::auth`).
type Seal = (SealId, bool);

/// While a snapshot is on its way to `peer`, what it carries is not also
/// queued as ops.
fn leave_to_snapshot(peer: &mut Peer, me: ReplicaId) {
    if let Some(out) = &peer.snapshot_out {
        if let Some(pull) = peer.pull.as_mut() {
            pull.merge(&out.version);
        }
        peer.queue
            .retain(|op| !out.version.contains_span(&op.span()));
        peer.queue_bytes = peer.queue.iter().map(|op| wire::op_frame_len(op, me)).sum();
    }
}

/// One replica's protocol state machine, sans-IO: the caller owns the
/// socket and the clock, the node owns the protocol.
///
/// How to drive it (`host::Host` does this for `rumor` and the simulator):
///
/// - **Time** is a [`Time`] the caller passes in, microseconds on any
///   monotonic clock that starts where the caller likes; it must never go
///   backwards. The node reads no clock and draws randomness only from the
///   seeded RNG it was built with, so a run replays bit for bit.
/// - **Inputs** (`handle_*` and commands): [`Node::handle_datagram`] for
///   every datagram received (never panics, whatever the bytes),
///   [`Node::handle_timeout`] when [`Node::poll_timeout`] is due, and the
///   commands [`Node::edit`], [`Node::add_peer`], [`Node::set_online`],
///   [`Node::sync_now`], [`Node::set_cursor`], [`Node::leave_presence`].
/// - **Outputs** (`poll_*`), after every input and in this order: first
///   make durable what [`Node::doc`] gained (before anything is sent: a
///   datagram may acknowledge or carry it), then drain
///   [`Node::poll_event`], then drain [`Node::poll_transmit`] (a sender
///   that would block may stop draining: the node keeps its queue), then
///   wait until [`Node::poll_timeout`] or the next datagram.
/// - **Getters** ([`Node::doc`], [`Node::peers`], [`Node::stats`],
///   [`Node::is_joined`], ...) change nothing.
pub struct Node {
    doc: Doc,
    config: Config,
    rng: ChaCha8Rng,
    stats: Stats,
    online: bool,
    /// Ordered by address: iteration order reaches decisions and messages.
    peers: BTreeMap<SocketAddr, Peer>,
    /// Addresses that turned out to be this node itself.
    own_addrs: BTreeSet<SocketAddr>,
    timers: TimerTable<{ node_timer::COUNT }>,
    events: VecDeque<Event>,
    /// Round-robin position over peers in `poll_transmit`: the scan
    /// starts after this address.
    cursor: Option<SocketAddr>,
    /// `doc.version().total()` at the last queue refill.
    refilled_total: u64,
    /// Fan-out gossip: what went down the trees, announcements, pulls.
    gossip: Gossip,
    /// Reused by `refill_queues` for one op's tree children.
    targets_scratch: Vec<SocketAddr>,
    /// Reused by `refill_queues` for the live members.
    view_scratch: View,
    /// Reused by `handle_timeout` for the peers with a timer due.
    due_scratch: Vec<SocketAddr>,
    /// Peers that may have something to send, listed by `poll_transmit`
    /// and worked through from `ready_at` on.
    ready: Vec<SocketAddr>,
    ready_at: usize,
    /// The latest `now` the driver gave: `poll_transmit` sends "now".
    last_now: Time,
    /// Drawn at start: tells peers this is a new run (see `Frame::Hello`).
    session: u64,
    /// Datagrams sealed so far in this run: the nonce's sequence.
    sealed_count: u64,
    /// What was accepted from each sender (sealed datagrams only).
    replay: ReplayWindows,
    /// Reused to decrypt each sealed datagram.
    open_buf: Vec<u8>,
    /// `config.key` with the epoch keys derived from it so far.
    seal_keys: Option<SealKeys>,
    /// With a key: the addresses that must answer a challenge before they
    /// are peers (`handshake.rs`).
    handshakes: Handshakes,
    /// Handshake answers to addresses that are not peers, in order.
    direct: VecDeque<Transmit>,
    /// The replica ids datagrams are opened as: this replica's, then the
    /// one it had before it last rejoined (peers seal for that one until
    /// they learn the new one).
    opened_as: [ReplicaId; 2],
    /// Snapshots arriving, by sender.
    snapshots_in: BTreeMap<SocketAddr, snapshot::Incoming>,
    /// The last snapshot of our document (made, loaded or offered): sent
    /// again to every newcomer until the document changes.
    snapshot_cache: Option<snapshot::Cached>,
    presence: presence::PresenceState,
    /// Reports, members, gone declarations: when history may be cleaned up.
    stability: stability::Stability,
    /// False while a newcomer waits for a member's snapshot (`Config::joining`).
    joined: bool,
    /// A peer showed it holds ops of ours that we lack (`Event::OwnOpsLost`):
    /// we wait, as a newcomer does, to rejoin under a new id.
    own_ops_lost: bool,
    /// Per `Refusal` (as index): an `Event::Refused` of it is queued.
    refusal_queued: [bool; 4],
    /// When held ops were last aged (see `Config::held_expiry`).
    held_aged_at: Time,
    /// The document we edit (0: none yet; see `Config::document`).
    document: u32,
    /// The document of the datagram being handled (what a newcomer adopts
    /// when that datagram completes its snapshot).
    datagram_document: u32,
    /// The last document refused (for `Refusal::OtherDocument` notices).
    foreign_document: u32,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("replica", &self.doc.replica())
            .field("online", &self.online)
            .field("peers", &self.peers.len())
            .field("version", self.doc.version_ref())
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(doc: Doc, mut config: Config, mut rng: ChaCha8Rng, now: Time) -> Node {
        let session = rng.random();
        // Keep the config workable: a datagram fits a frame, and no periodic
        // timer can fire in a loop at one instant.
        config.mtu = config.mtu.clamp(wire::MIN_MTU, wire::MAX_DATAGRAM);
        config.max_peers = config.max_peers.max(1);
        let floor = Duration::from_millis(1);
        for d in [
            &mut config.ping_interval,
            &mut config.anti_entropy_interval,
            &mut config.peer_exchange_interval,
            &mut config.gossip_interval,
            &mut config.min_rto,
        ] {
            *d = (*d).max(floor);
        }
        config.max_rto = config.max_rto.max(config.min_rto);
        config.initial_rto = config.initial_rto.clamp(config.min_rto, config.max_rto);
        // The history the node starts with is not news to push.
        let gossip = Gossip::new(doc.version());
        let seal_keys = config.key.clone().map(SealKeys::new);
        let mut node = Node {
            doc,
            config,
            rng,
            stats: Stats::default(),
            online: true,
            peers: BTreeMap::new(),
            own_addrs: BTreeSet::new(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            cursor: None,
            refilled_total: 0,
            gossip,
            targets_scratch: Vec::new(),
            view_scratch: View::default(),
            due_scratch: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            last_now: now,
            session,
            sealed_count: 0,
            replay: ReplayWindows::new(MAX_REPLAY_SENDERS),
            open_buf: Vec::new(),
            seal_keys,
            handshakes: Handshakes::new(MAX_HANDSHAKES),
            direct: VecDeque::new(),
            opened_as: [ReplicaId(0); 2],
            snapshots_in: BTreeMap::new(),
            snapshot_cache: None,
            presence: Default::default(),
            stability: Default::default(),
            joined: true,
            own_ops_lost: false,
            refusal_queued: [false; 4],
            held_aged_at: now,
            document: 0,
            datagram_document: 0,
            foreign_document: 0,
        };
        node.document = node.config.document;
        node.joined = !node.config.joining;
        node.opened_as = [node.doc.replica(); 2];
        node.arm_node_timers(now);
        node
    }

    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn replica(&self) -> ReplicaId {
        self.doc.replica()
    }

    /// Applies a local edit; it goes to every peer with the next `poll_transmit`.
    pub fn edit(&mut self, now: Time, edit: Edit) -> Result<(), doc::Error> {
        self.tick(now);
        match edit {
            Edit::Insert { pos, text } => self.doc.insert(pos, &text),
            Edit::Delete { pos, len } => self.doc.delete(pos, len),
        }
    }

    /// Feeds one received datagram. Never panics, whatever the bytes.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.tick(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        if !self.online {
            self.stats.drops.offline += 1;
            return;
        }
        let Some((header, seal, frames)) = self.open(from, bytes) else {
            return;
        };
        if !self.same_document(from, header.document) {
            return;
        }
        if header.sender == self.doc.replica() {
            // Our own datagram came back. Unless another replica has spoken
            // from that address, it is ours: forget it as a peer.
            self.stats.drops.from_self += 1;
            let other_replica = self.peers.get(&from).is_some_and(|p| p.replica.is_some());
            if !other_replica {
                self.peers.remove(&from);
                self.own_addrs.insert(from);
            }
            return;
        }
        if let Some((id, bound)) = seal {
            if self.replay.accept(header.sender, id, now).is_err() {
                self.stats.drops.replayed += 1;
                return;
            }
            // Sealed for us, by the replica that proved itself at `from`.
            let fresh = bound
                && self
                    .peers
                    .get(&from)
                    .is_some_and(|p| p.proven && p.replica == Some(header.sender));
            if fresh {
                // (A handshake it started after we proved it is moot.)
                self.handshakes.remove(&from);
                // Sealed for us: it has taken us in, our answer arrived.
                if let Some(p) = self.peers.get_mut(&from) {
                    p.answer = None;
                }
            } else if !self.handshake(now, from, header.sender, &frames, bytes.len()) {
                return;
            }
        }
        let first_contact = !self.peers.contains_key(&from);
        if !self.ensure_peer(now, from, false) {
            self.stats.drops.peer_table_full += 1;
            return;
        }
        if let Some(peer) = self.peers.get_mut(&from) {
            if first_contact && self.config.key.is_none() {
                peer.budget = Some(0);
            }
            if let Some(budget) = &mut peer.budget {
                *budget += bytes.len();
            }
        }
        self.on_heard(now, from, header.sender);

        let eliciting = frames.iter().any(Frame::is_ack_eliciting);
        let mut ping = false;
        {
            let peer = self.peers.get_mut(&from).expect("ensured above");
            for f in &frames {
                if let Frame::Hello { session, .. } = f {
                    if peer.session != Some(*session) {
                        // A new session: the sender restarted and numbers
                        // its packets from zero again.
                        peer.session = Some(*session);
                        peer.received = ReceivedPackets::default();
                    }
                }
            }
            if !peer.received.insert(header.packet, now) {
                self.stats.duplicates += 1;
            }
            if eliciting {
                peer.ack_pending = true;
                peer.unacked_eliciting += 1;
            }
        }
        let mut patches = Vec::new();
        for frame in frames {
            match frame {
                Frame::Ack(ack) => self.on_ack(now, from, &ack),
                Frame::Ping => ping = true,
                Frame::Hello { name, .. } => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        let name = display_name(&name);
                        p.name = (!name.is_empty()).then_some(name);
                    }
                }
                Frame::Digest(d) => self.on_digest(now, from, &d),
                Frame::Join => self.on_join(now, from, header.sender),
                Frame::Gone(list) => {
                    let me = self.doc.replica();
                    self.stability.adopt(header.sender, me, &list, &self.doc);
                    self.stats.members_gone = self.stability.gone_count() as u64;
                }
                Frame::Peers(list) => self.on_peer_list(now, from, &list, bytes.len()),
                Frame::Challenge(nonce) if self.seal_keys.is_some() => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.answer = Some(nonce);
                        p.ping_due = true; // (the answer goes at once)
                    }
                }
                // (A response counts in `handshake` only.)
                Frame::Challenge(_) | Frame::Response(_) => {}
                Frame::Op(op) => self.on_op(from, op, &mut patches),
                Frame::Have(entries) => self.on_have(now, from, &entries),
                Frame::Snapshot(chunk) => self.on_snapshot_chunk(from, chunk, &mut patches),
                Frame::Presence(p) => self.on_presence(now, from, header.sender, p),
            }
        }
        self.stats.ops_buffered = self.doc.pending_len() as u64;
        if !patches.is_empty() {
            self.events.push_back(Event::RemoteEdit { patches });
        }
        if let Some(peer) = self.peers.get_mut(&from) {
            if eliciting {
                if ping || peer.unacked_eliciting >= 2 {
                    peer.ack_now = true;
                } else {
                    peer.timers
                        .set_earliest(peer_timer::ACK, now + self.config.max_ack_delay);
                }
            }
        }
    }

    /// With a key, a sealed datagram from an address that has not proven
    /// itself (see `handshake.rs`): true if it answers our challenge (the
    /// address is a peer now, and the datagram is read like any other);
    /// else it is dropped, and answered with the handshake alone.
    fn handshake(
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
        let proven = peers.get(&from).is_some_and(|p| p.proven);
        let mut answered = false;
        for f in frames {
            match *f {
                Frame::Challenge(nonce) if proven => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.answer = Some(nonce);
                        p.ping_due = true; // (the answer goes at once)
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
        let owed = self.handshakes.remove(&from).and_then(|h| h.owed);
        if !self.ensure_peer(now, from, false) {
            self.stats.drops.peer_table_full += 1;
            return false;
        }
        let peer = self.peers.get_mut(&from).expect("ensured");
        peer.proven = true;
        if owed.is_some() {
            peer.answer = owed;
        }
        // What it sent while unproven was dropped: a digest exchange now
        // shows each side what the other lacks, without waiting for
        // retransmission timers that backed off meanwhile.
        self.start_exchange(now, from);
        true
    }

    /// Sends an address that has not proven itself the answer to its
    /// challenge, and ours (at most once per `min_rto`), within what it
    /// sent us: the answer first, ours only if both fit.
    fn answer_unproven(&mut self, now: Time, to: SocketAddr) {
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
                hs.challenged = Some(now);
            }
            self.direct.push_back(Transmit { to, bytes });
            return;
        }
    }

    /// A sealed challenge to our peer `to`, which has not proven itself
    /// yet (with the answer to its own challenge, if it sent one).
    fn challenge(&mut self, to: SocketAddr, packet: u64) -> Vec<u8> {
        let now = self.last_now;
        let peers = &self.peers;
        let hs = self
            .handshakes
            .entry(to, now, &mut self.rng, |a| peers.contains_key(a));
        hs.challenged = Some(now);
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
        match &mut self.seal_keys {
            Some(keys) => builder.finish_sealed_with(keys, id),
            None => builder.finish(),
        }
    }

    /// Authenticates (with a key) and decodes a datagram; counts why not.
    /// The seal is `Some((id, bound))`: `bound` if sealed for this replica.
    fn open(
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

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.tick(now);
        if !self.online {
            return;
        }
        if self.timers.expire(node_timer::ANTI_ENTROPY, now) {
            self.anti_entropy_round();
            self.cleanup_tick(now);
            self.expire_held(now);
            let next = self.jittered(self.config.anti_entropy_interval);
            self.timers.set(node_timer::ANTI_ENTROPY, now + next);
        }
        if self.timers.expire(node_timer::ANNOUNCE, now) {
            self.announce();
            let next = self.jittered(self.config.gossip_interval);
            self.timers.set(node_timer::ANNOUNCE, now + next);
        }
        if self.timers.expire(node_timer::PULL, now) {
            self.pull_due(now);
        }
        if self.timers.expire(node_timer::PEER_EXCHANGE, now) {
            if self.config.peer_exchange {
                let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
                for addr in addrs {
                    if self.peers[&addr].state != PeerState::Down {
                        self.queue_peer_list(addr);
                    }
                }
            }
            self.timers.set(
                node_timer::PEER_EXCHANGE,
                now + self.config.peer_exchange_interval,
            );
        }
        // Only peers with a timer due (hundreds of peers, few due).
        let mut due = std::mem::take(&mut self.due_scratch);
        due.clear();
        due.extend(
            self.peers
                .values()
                .filter(|p| p.timers.next().is_some_and(|t| t <= now))
                .map(|p| p.addr),
        );
        for &addr in &due {
            self.peer_timeouts(now, addr);
        }
        self.due_scratch = due;
        self.presence_timeout(now);
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.online {
            return None;
        }
        if let Some(t) = self.direct.pop_front() {
            self.stats.datagrams_sent += 1;
            self.stats.bytes_sent += t.bytes.len() as u64;
            return Some(t);
        }
        if self.peers.is_empty() {
            return None;
        }
        self.refill_queues();
        // This runs once per datagram sent and once more, in groups of
        // hundreds of peers: the peers that may have something to send are
        // listed once (a cheap test, in round-robin order) and worked
        // through over the calls; "nothing" is answered only after a fresh
        // scan, so a peer that became ready meanwhile is not missed.
        let mut fresh = false;
        loop {
            while let Some(&addr) = self.ready.get(self.ready_at) {
                self.ready_at += 1;
                if let Some(bytes) = self.build_datagram(addr) {
                    self.cursor = Some(addr);
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += bytes.len() as u64;
                    return Some(Transmit { to: addr, bytes });
                }
            }
            if fresh {
                return None;
            }
            fresh = true;
            self.scan_ready();
        }
    }

    /// Lists the peers that may have something to send, starting after
    /// the last one that sent.
    fn scan_ready(&mut self) {
        self.ready.clear();
        self.ready_at = 0;
        // One pass in address order, then rotated to start after the
        // cursor (cheaper than two range searches of the map).
        self.ready.extend(
            self.peers
                .iter()
                .filter(|(_, p)| p.may_send())
                .map(|(&a, _)| a),
        );
        if let Some(c) = self.cursor {
            let after = self.ready.partition_point(|&a| a <= c);
            self.ready.rotate_left(after);
        }
    }

    /// When the node next wants `handle_timeout` called.
    pub fn poll_timeout(&self) -> Option<Time> {
        if !self.online {
            return None;
        }
        let peers = self.peers.values().filter_map(|p| p.timers.next());
        let presence = self.presence.poll_timeout();
        self.timers
            .next()
            .into_iter()
            .chain(peers)
            .chain(presence)
            .min()
    }

    /// The next event for the driver, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Refused { reason, .. } = event {
            self.refusal_queued[reason as usize] = false;
        }
        Some(event)
    }

    /// Adds a peer by address (or wakes it up if known) and starts a digest exchange.
    ///
    /// Returns false when `addr` is not a peer now: it is this node's own
    /// address, or the peer table is full.
    pub fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        self.tick(now);
        if self.own_addrs.contains(&addr) {
            return false;
        }
        if !self.ensure_peer(now, addr, true) {
            self.stats.drops.peer_table_full += 1;
            return false;
        }
        if let Some(peer) = self.peers.get_mut(&addr) {
            peer.learned = false;
            peer.configured = true; // the user asked for it: never forgotten
            peer.budget = None; // nor limited
        }
        self.start_exchange(now, addr);
        true
    }

    /// Offline: sends nothing and ignores input; edits go on. Online again:
    /// what was in flight is forgotten and a digest exchange with every
    /// peer catches both sides up.
    pub fn set_online(&mut self, now: Time, online: bool) {
        self.tick(now);
        if online == self.online {
            return;
        }
        self.online = online;
        if online {
            self.arm_node_timers(now);
            let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
            for addr in addrs {
                let peer = self.peers.get_mut(&addr).expect("listed");
                peer.reset_sending();
                peer.rtt.on_ack();
                self.start_exchange(now, addr);
            }
        }
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Starts a digest exchange with every peer now.
    pub fn sync_now(&mut self, now: Time) {
        self.tick(now);
        let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.start_exchange(now, addr);
        }
    }

    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers.values().map(Peer::info).collect()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Encodes now the snapshot a newcomer would get, unless the document
    /// is too small to be sent as one or the last snapshot is still
    /// current: so the first newcomer does not wait for the encoding. A
    /// driver calls it when it has time to spare (at start, say).
    pub fn prepare_snapshot(&mut self) {
        if self.doc.version_ref().total() >= self.config.snapshot_min_ops.max(1) {
            self.snapshot_now();
        }
    }

    /// The snapshot of the document as it is now (`Doc::encode_snapshot`'s
    /// bytes): the last one made, loaded or offered if still current, else
    /// a new one, kept for newcomers. What a driver compacts its log into.
    pub fn snapshot_now(&mut self) -> Arc<[u8]> {
        snapshot::current(&mut self.snapshot_cache, &self.doc, &mut self.stats)
    }

    /// The snapshot the node has of its document as it is now, if any
    /// (made for a newcomer, offered, or just loaded from a peer).
    pub fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        self.snapshot_cache
            .as_ref()
            .filter(|c| &c.version == self.doc.version_ref())
            .map(|c| &c.bytes)
    }

    /// Hands the node a snapshot of its document, `Doc::encode_snapshot`'s
    /// bytes made at `version` (say, the one a driver's log was compacted
    /// into), to send to newcomers instead of encoding its own. Ignored
    /// unless `version` is the document's version now.
    pub fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        if self.doc.version_ref() == &version {
            self.snapshot_cache = Some(snapshot::Cached { version, bytes });
        }
    }

    // ---- membership and liveness ----

    /// Makes sure `addr` is in the peer table; false if the table is full.
    /// A full table makes room by forgetting the oldest peer that has not
    /// shown itself live (so strangers that never answer cannot hold it);
    /// for a peer the user adds (`configured`), else the least recently
    /// heard peer the user did not add.
    fn ensure_peer(&mut self, now: Time, addr: SocketAddr, configured: bool) -> bool {
        if self.peers.contains_key(&addr) {
            return true;
        }
        if self.peers.len() >= self.config.max_peers {
            let unproven = self
                .peers
                .values()
                .filter(|p| !p.proven && !p.configured)
                .min_by_key(|p| (p.added_at, p.addr))
                .map(|p| p.addr);
            let unadded = || {
                self.peers
                    .values()
                    .filter(|p| !p.configured)
                    .min_by_key(|p| (p.last_heard, p.addr))
                    .map(|p| p.addr)
            };
            let victim = match unproven {
                Some(a) => a,
                None => match configured.then(unadded).flatten() {
                    Some(a) => a,
                    None => return false,
                },
            };
            self.peers.remove(&victim);
            self.snapshots_in.remove(&victim);
        }
        let mut peer = Peer::new(addr, &self.config, now);
        peer.timers
            .set(peer_timer::PING, now + self.config.ping_interval);
        self.peers.insert(addr, peer);
        true
    }

    /// Pings `addr` and sends it our digest now.
    fn start_exchange(&mut self, now: Time, addr: SocketAddr) {
        let digests = self.digest_frames(true);
        self.stats.digests_sent += digests.len() as u64;
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.ping_due = true;
        peer.queue_digests(digests);
        peer.timers
            .set(peer_timer::PING, now + self.config.ping_interval);
    }

    /// A valid datagram from `addr`, sent by `replica`, arrived.
    fn on_heard(&mut self, now: Time, addr: SocketAddr, replica: ReplicaId) {
        // A member from its first datagram on, and remembered durably
        // before we answer it (the host writes the membership before it
        // sends): if we let it in with a snapshot and then restart, we
        // must still wait for its reports.
        self.stability.note_member(replica);
        let peer = self.peers.get_mut(&addr).expect("ensured");
        if peer.replica.is_some_and(|r| r != replica) {
            peer.reset_replica(replica);
            // Ask what it has: it answers with its digest if it lacks any.
            let digests = self.digest_frames(true);
            self.stats.digests_sent += digests.len() as u64;
            let peer = self.peers.get_mut(&addr).expect("ensured");
            peer.queue_digests(digests);
        }
        let peer = self.peers.get_mut(&addr).expect("ensured");
        peer.replica = Some(replica);
        peer.last_heard = Some(now);
        let was = peer.state;
        peer.state = PeerState::Alive;
        if was == PeerState::Down {
            self.events.push_back(Event::PeerUp(addr));
            // (Re)discovered: catch each other up, and tell it who we know.
            let digests = self.digest_frames(true);
            self.stats.digests_sent += digests.len() as u64;
            let peer = self.peers.get_mut(&addr).expect("ensured");
            peer.queue_digests(digests);
            peer.hello_due = true;
            if !self.joined {
                peer.control.push_back(Frame::Join);
            }
            if self.config.peer_exchange {
                self.queue_peer_list(addr);
            }
        }
    }

    fn peer_timeouts(&mut self, now: Time, addr: SocketAddr) {
        let me = self.doc.replica();
        let config = &self.config;
        let peer = self.peers.get_mut(&addr).expect("listed");
        if peer.timers.expire(peer_timer::ACK, now) && peer.ack_pending {
            peer.ack_now = true;
        }
        if peer.timers.expire(peer_timer::LOSS, now) {
            Self::detect_losses(&mut self.stats, peer, now, me);
        }
        // Held ops are due: `poll_transmit` sends them.
        peer.timers.expire(peer_timer::COALESCE, now);
        if peer.timers.expire(peer_timer::PING, now) {
            let silence = now - peer.last_heard.unwrap_or(peer.added_at);
            let interval = config.ping_interval;
            let new_state = if silence >= interval * config.down_after {
                PeerState::Down
            } else if silence >= interval * config.suspect_after {
                PeerState::Suspect
            } else {
                PeerState::Alive
            };
            if new_state == PeerState::Down && peer.state != PeerState::Down {
                self.events.push_back(Event::PeerDown(addr));
                // Stop sending it data; when it answers again a digest
                // exchange tells what it lacks.
                peer.reset_sending();
                // Nor keep a half-received snapshot from it.
                self.snapshots_in.remove(&addr);
            }
            if peer.state != PeerState::Down || new_state == PeerState::Down {
                peer.state = new_state;
            }
            if silence >= interval {
                peer.ping_due = true;
            }
            if !self.joined
                && new_state != PeerState::Down
                && !self.snapshots_in.contains_key(&addr)
                && !peer.control.contains(&Frame::Join)
            {
                // A newcomer asks again until a snapshot is on its way (the
                // datagram with the last ask may have been lost).
                peer.control.push_back(Frame::Join);
            }
            peer.timers.set(peer_timer::PING, now + interval);
            if !peer.configured && !peer.proven && new_state == PeerState::Down {
                // Never shown itself live, and silent now: forget it (gossip
                // or its next datagram may bring it back).
                self.peers.remove(&addr);
            }
        }
    }

    /// Takes in the addresses of a peer list (from `from`, in a datagram
    /// `len` bytes long), while the table has room (a learned address
    /// takes no one's place). Each new one gets one small probe and nothing
    /// more until it answers. In the clear, where anyone can send a list
    /// with anyone's addresses, one datagram starts at most `MAX_PEER_LIST`
    /// probes, and from a sender not shown live no more bytes of them than
    /// it had.
    fn on_peer_list(&mut self, now: Time, from: SocketAddr, list: &[SocketAddr], len: usize) {
        if !self.config.peer_exchange {
            return;
        }
        let clear = self.seal_keys.is_none();
        let mut probes = match self.peers.get(&from) {
            _ if !clear => usize::MAX,
            Some(p) if p.proven => MAX_PEER_LIST,
            _ => len / PROBE_BYTES,
        };
        for &addr in list {
            if probes == 0 || self.peers.len() >= self.config.max_peers {
                break;
            }
            if self.own_addrs.contains(&addr) || self.peers.contains_key(&addr) {
                continue;
            }
            if self.ensure_peer(now, addr, false) {
                probes -= 1;
                if let Some(peer) = self.peers.get_mut(&addr) {
                    peer.learned = true;
                    peer.probe = true;
                    if clear {
                        peer.budget = Some(0);
                    }
                }
                self.start_exchange(now, addr);
            }
        }
    }

    fn queue_peer_list(&mut self, to: SocketAddr) {
        // As many live peers as fit one frame beside an ack (IPv6
        // addresses are long; a small MTU takes fewer).
        let (max_frame, me) = (self.max_frame(), self.doc.replica());
        let live: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.addr != to && p.state != PeerState::Down)
            .map(|p| p.addr)
            .collect();
        // A group larger than one list: a random window of it each time,
        // so every member is told about every other within a few rounds.
        let start = match live.len() {
            0..=MAX_PEER_LIST => 0,
            n => self.rng.random_range(0..n),
        };
        let mut list: Vec<SocketAddr> = (0..live.len().min(MAX_PEER_LIST))
            .map(|i| live[(start + i) % live.len()])
            .collect();
        while !list.is_empty() && wire::encoded_len(&Frame::Peers(list.clone()), me) > max_frame {
            list.pop();
        }
        if list.is_empty() {
            return;
        }
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.queue_peer_list(Frame::Peers(list));
        }
    }

    // ---- anti-entropy ----

    fn anti_entropy_round(&mut self) {
        let live: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.state != PeerState::Down)
            .map(|p| p.addr)
            .collect();
        if live.is_empty() {
            return;
        }
        let pick = live[self.rng.random_range(0..live.len())];
        let digests = self.digest_frames(true);
        self.stats.digests_sent += digests.len() as u64;
        let gone = self.stability.declarations();
        if let Some(peer) = self.peers.get_mut(&pick) {
            peer.queue_digests(digests);
            if !gone.is_empty() {
                peer.control.push_back(Frame::Gone(gone));
            }
            if self.stability.declared_me || !self.joined {
                // We must (re)join: ask for a member's document.
                peer.control.push_back(Frame::Join);
            }
        }
    }

    /// Declares silent members gone, and cleans up the history every member
    /// has (see `stability` and `doc::collect`) once there is enough of it.
    fn cleanup_tick(&mut self, now: Time) {
        if !self.joined {
            // A newcomer's ops are re-made when it joins: they must all
            // stay in its log until then.
            return;
        }
        // A peer we were told of but have not heard from (one the user
        // added, or one that has not answered its challenge) is a member we
        // cannot name yet (`None`; until the horizon: then it must join anew).
        let horizon = self.config.member_horizon;
        let mut peers: Vec<Option<ReplicaId>> = (self.peers.values())
            .filter(|p| p.replica.is_some() || now < p.added_at + horizon)
            .map(|p| p.replica)
            .collect();
        for p in self.peers.values() {
            if let (Some(replica), Some(at)) = (p.replica, p.last_heard) {
                self.stability.heard(replica, at);
            }
        }
        // A member whose datagrams came from an address not proven yet is
        // a member all the same: cleanup waits for its report.
        for (replica, at) in self.handshakes.heard() {
            peers.push(Some(replica));
            self.stability.heard(replica, at);
        }
        let frontier = self.stability.tick(
            now,
            self.doc.replica(),
            &self.doc,
            &peers,
            self.config.member_horizon,
            self.config.join_grace,
        );
        self.stats.members_gone = self.stability.gone_count() as u64;
        let Some(frontier) = frontier else {
            return;
        };
        if self.doc.log_entries() >= self.config.collect_min_runs
            && !self.doc.collected().dominates(&frontier)
        {
            self.doc.collect(&frontier);
            self.stats.collections += 1;
            // The cached snapshot holds the history just dropped.
            self.snapshot_cache = None;
        }
    }

    /// Every `held_expiry`, drops the ops held since the previous time
    /// (see `Doc::expire_held`), and forgets them in each peer's count of
    /// early ops.
    fn expire_held(&mut self, now: Time) {
        if now < self.held_aged_at + self.config.held_expiry {
            return;
        }
        self.held_aged_at = now;
        if self.doc.expire_held() == 0 {
            return;
        }
        let doc = &self.doc;
        for peer in self.peers.values_mut() {
            peer.held.retain(|&id| doc.holds(id));
        }
        self.stats.ops_buffered = self.doc.pending_len() as u64;
    }

    /// Our version vector as digest frames that each fit a datagram.
    fn digest_frames(&self, reply: bool) -> Vec<Frame> {
        let members = self.report_members();
        digest_frames(
            self.doc.version_ref(),
            None,
            reply,
            self.max_frame(),
            members,
        )
    }

    /// The members a report of ours names beside its version: those we
    /// count for cleanup that have no op in our document (sorted).
    fn report_members(&self) -> Vec<ReplicaId> {
        if !self.joined {
            return Vec::new();
        }
        let me = self.doc.replica();
        let version = self.doc.version_ref();
        let mut members: Vec<ReplicaId> = self
            .peers
            .values()
            .filter_map(|p| p.replica)
            .chain(self.stability.membership().0)
            .filter(|&r| r != me && version.get(r) == 0)
            .collect();
        members.sort_unstable();
        members.dedup();
        // All of them or no report: a whole digest too big for a frame is
        // sent scoped, and a scoped digest is no report.
        members
    }

    /// A peer told us what it has (for the replicas in the digest's scope).
    fn on_digest(&mut self, now: Time, from: SocketAddr, d: &DigestFrame) {
        let me = self.doc.replica();
        if d.covers(me) {
            self.check_own_count(from, d.version.get(me));
        }
        let ours = self.doc.version();
        if !self.joined && !self.own_ops_lost && d.scope.is_none() {
            self.joined_by_digest(&ours, &d.version);
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        // The sender lacks ops of its own that we hold: its storage lost
        // them. Answer with our digest so it learns so at once.
        let sender_lost_own = peer
            .replica
            .is_some_and(|r| d.covers(r) && ours.get(r) > d.version.get(r));
        if let (None, Some(replica)) = (d.scope, peer.replica) {
            // The members it counts that we did not know count here too,
            // before its report can be used.
            self.stability.learn(me, &d.members, now);
            self.stability
                .report(replica, &d.version, now, self.config.join_grace);
        }
        // The digest is the truth about the peer (acks were only hints).
        let mut replicas: BTreeSet<ReplicaId> = peer.known.iter().map(|(r, _)| r).collect();
        replicas.extend(d.version.iter().map(|(r, _)| r));
        replicas.extend(ours.iter().map(|(r, _)| r));
        for &r in replicas.iter().filter(|&&r| d.covers(r)) {
            peer.known.set(r, d.version.get(r));
        }
        let peer_lacks = ours
            .iter()
            .any(|(r, n)| d.covers(r) && n > d.version.get(r));
        if peer_lacks {
            // Queue again exactly what it lacks (less what is in flight),
            // and whatever has not gone down the gossip trees yet.
            let mut pull = peer
                .pull
                .take()
                .unwrap_or_else(|| self.gossip.pushed.clone());
            for &r in replicas.iter().filter(|&&r| d.covers(r)) {
                pull.set(r, d.version.get(r));
            }
            peer.pull = Some(pull);
            peer.queue.retain(|op| !d.covers(op.id.replica));
            peer.queue_bytes = peer.queue.iter().map(|op| wire::op_frame_len(op, me)).sum();
        }
        let wants_snapshot = d.scope.is_none()
            && self.joined
            && (snapshot::worth_sending(&ours, &d.version, self.config.snapshot_min_ops)
                || !self.doc.can_serve(&d.version));
        if wants_snapshot {
            self.start_snapshot(from, now);
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        leave_to_snapshot(peer, me);
        let we_lack = d.version.iter().any(|(r, n)| n > ours.get(r));
        if d.reply && (we_lack || sender_lost_own) {
            let max = self.max_frame();
            let members = self.report_members();
            let replies = digest_frames(&ours, d.scope, false, max, members);
            self.stats.digests_sent += replies.len() as u64;
            if let Some(peer) = self.peers.get_mut(&from) {
                for f in replies {
                    peer.control.push_back(f);
                }
            }
        }
    }

    /// A newcomer whose own ops a member has, and that has exactly the
    /// member's document (`theirs`, a whole digest), is a member that
    /// restarted: nothing is missing on either side and none of its ops
    /// was made without the group's history, so it needs no snapshot and
    /// keeps its replica id.
    fn joined_by_digest(&mut self, ours: &VersionVector, theirs: &VersionVector) {
        let mine = ours.get(self.doc.replica());
        if mine > 0
            && !self.stability.declared_me
            && ours.dominates(theirs)
            && theirs.dominates(ours)
        {
            self.joined = true;
            self.adopt_document();
            for peer in self.peers.values_mut() {
                peer.control.retain(|f| *f != Frame::Join);
            }
        }
    }

    // ---- ops ----

    fn on_op(&mut self, from: SocketAddr, op: Op, patches: &mut Vec<Patch>) {
        self.stats.ops_received += 1;
        let span = op.span();
        let Some(op) = self.stability.accepted(op) else {
            self.stats.drops.gone_author += 1;
            // Tell the sender who is gone: if it is the author, it rejoins.
            let gone = Frame::Gone(self.stability.declarations());
            if let Some(peer) = self.peers.get_mut(&from) {
                if !peer.control.contains(&gone) {
                    peer.control.push_back(gone);
                }
            }
            return;
        };
        let me = self.doc.replica();
        if op.id.replica == me {
            // Ours, back from a peer: a duplicate, or evidence that our
            // storage lost ops we had sent. Never applied in the latter case:
            // we may have used those ids again for other content.
            let peer_has = span.end_counter();
            self.check_own_count(from, peer_has);
            if self.own_ops_lost {
                return;
            }
        }
        if !self.room_to_hold(from, &op) {
            self.stats.drops.held_limit += 1;
            return;
        }
        match self.doc.apply(op) {
            Ok(applied) => patches.extend(applied.patches),
            Err(e) => {
                self.stats.drops.bad_op += 1;
                if let (true, doc::Error::Conflict(id)) = (span.start.replica == me, e) {
                    // A peer holds other content under an id of ours.
                    self.own_ids_reused(from, id.counter + 1);
                }
                return;
            }
        }
        if let Some(peer) = self.peers.get_mut(&from) {
            // It has what it sent us: do not echo it back.
            peer.learned_has(span);
        }
    }

    /// False when `op` would wait in the document for missing causes and
    /// `from` already has `max_held_per_peer` ops waiting; else true (and an
    /// early op is counted against `from`).
    fn room_to_hold(&mut self, from: SocketAddr, op: &Op) -> bool {
        let version = self.doc.version_ref();
        let early =
            op.id.counter > version.get(op.id.replica) || op.missing_dependency(version).is_some();
        let Some(peer) = self.peers.get_mut(&from) else {
            return true;
        };
        if !early {
            return true;
        }
        let limit = self.config.max_held_per_peer;
        if peer.held.len() >= limit {
            peer.held.retain(|id| !version.contains(*id));
        }
        if peer.held.len() >= limit && !peer.held.contains(&op.id) {
            return false;
        }
        peer.held.insert(op.id);
        true
    }

    /// A peer says it holds `peer_has` ops of ours (counters below it).
    /// More than we have means our storage lost ops that had left.
    fn check_own_count(&mut self, from: SocketAddr, peer_has: u64) {
        if peer_has > self.doc.version_ref().get(self.doc.replica()) {
            self.own_ids_reused(from, peer_has);
        }
    }

    /// Our id can no longer be trusted to name one content (see
    /// `Event::OwnOpsLost`): stop sending ops and ask `from` for its
    /// document, to rejoin under a new id (`rejoin`).
    fn own_ids_reused(&mut self, from: SocketAddr, peer_has: u64) {
        if self.own_ops_lost || !self.joined {
            // Already waiting for a snapshot; or a newcomer, whose own ops
            // are re-made under a new id anyway.
            return;
        }
        self.own_ops_lost = true;
        self.joined = false;
        self.stats.own_ops_lost += 1;
        self.events.push_back(Event::OwnOpsLost {
            peer: from,
            peer_has,
            we_have: self.doc.version_ref().get(self.doc.replica()),
        });
        if let Some(peer) = self.peers.get_mut(&from) {
            if !peer.control.contains(&Frame::Join) {
                peer.control.push_back(Frame::Join);
            }
        }
    }

    /// A peer asks for our document to join with. A newcomer has nothing to
    /// give yet: it never founds a group when asked, since another founder
    /// may exist that neither has met (see `stability`, "Newcomers").
    fn on_join(&mut self, now: Time, from: SocketAddr, sender: ReplicaId) {
        if !self.joined {
            return;
        }
        // A replica with only its own ops that restarts asks as a newcomer
        // does. If its digest shows it has exactly our document, and its
        // ops are ours too, it is a member that restarted: our digest tells
        // it so (see `on_digest`), and a snapshot would only repeat what it
        // has. (Only as one whole digest frame: it must see all of it.)
        let ours = self.doc.version_ref();
        let same = self
            .peers
            .get(&from)
            .is_some_and(|p| p.known.dominates(ours) && ours.dominates(&p.known));
        let gone = self
            .stability
            .declarations()
            .iter()
            .any(|&(r, _)| r == sender);
        let digests = digest_frames(ours, None, false, self.max_frame(), self.report_members());
        if same && !gone && ours.get(sender) > 0 && digests.len() == 1 {
            self.stats.digests_sent += 1;
            if let Some(peer) = self.peers.get_mut(&from) {
                peer.control.extend(digests);
            }
            return;
        }
        // (A snapshot already on its way goes on: asks are repeated.)
        self.start_snapshot(from, now);
    }

    /// Whether this node is a member (not a newcomer waiting for a snapshot).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The document this replica edits, 0 while it has none (a newcomer).
    pub fn document(&self) -> u32 {
        self.document
    }

    /// The document of the last datagram refused as another document's.
    pub fn foreign_document(&self) -> u32 {
        self.foreign_document
    }

    /// Whether a datagram of `document` (0: a newcomer's, of none yet) may
    /// be read: datagrams of another document are refused, counted and
    /// reported (once at a time), so two texts never merge. A member that
    /// knows no document (its data directory is from before documents had
    /// ids) takes the first one a peer names.
    fn same_document(&mut self, from: SocketAddr, document: u32) -> bool {
        self.datagram_document = document;
        if document == 0 || document == self.document {
            return true;
        }
        if self.document == 0 {
            if self.joined && !self.own_ops_lost {
                self.document = document;
            }
            return true;
        }
        self.stats.drops.other_document += 1;
        self.foreign_document = document;
        let reason = Refusal::OtherDocument;
        if !std::mem::replace(&mut self.refusal_queued[reason as usize], true) {
            self.events.push_back(Event::Refused { from, reason });
        }
        false
    }

    /// A newcomer became a member with the document of the datagram being
    /// handled.
    fn adopt_document(&mut self) {
        if self.document == 0 {
            self.document = self.datagram_document;
        }
    }

    /// What this replica must remember about its group across restarts
    /// (see `stability`, "Restarts"). Keep it durably before sending what
    /// `poll_transmit` gives, and hand it back with
    /// [`Node::restore_membership`] at the next boot.
    pub fn membership(&self) -> Membership {
        let (mut members, gone) = self.stability.membership();
        members.retain(|&m| m != self.doc.replica());
        Membership {
            joined: self.joined,
            document: self.document,
            members,
            gone,
        }
    }

    /// Differs from its last value whenever [`Node::membership`] may have
    /// changed: the host writes the membership only then.
    pub fn membership_changes(&self) -> (u64, bool, u32) {
        (self.stability.changes, self.joined, self.document)
    }

    /// At boot, before any input: the membership this replica kept. A
    /// replica that was a member is one again (whatever
    /// `Config::joining` says); the members it knew hold its cleanup back
    /// until they report or are declared gone.
    pub fn restore_membership(&mut self, now: Time, membership: &Membership) {
        if membership.joined && !self.own_ops_lost {
            self.joined = true;
        }
        if self.document == 0 {
            self.document = membership.document;
        }
        self.stability
            .restore(&membership.members, &membership.gone, now);
    }

    /// Starts sending `addr` a snapshot of the document, unless one is on
    /// its way or one was just delivered (an ask from before it landed).
    fn start_snapshot(&mut self, addr: SocketAddr, now: Time) {
        let ours = self.doc.version();
        let me = self.doc.replica();
        let free = |p: &Peer| {
            let just_delivered = p
                .snapshot_delivered
                .is_some_and(|at| now < at + p.rtt.rto());
            p.snapshot_out.is_none() && !just_delivered
        };
        if !self.peers.get(&addr).is_some_and(free) {
            return;
        }
        let bytes = snapshot::current(&mut self.snapshot_cache, &self.doc, &mut self.stats);
        let chunk = self.config.mtu - DatagramBuilder::overhead() - ACK_RESERVE - 32;
        let id = self.rng.random();
        let Some(peer) = self.peers.get_mut(&addr) else {
            return;
        };
        peer.snapshot_out = Some(snapshot::Outgoing::new(id, bytes, ours, chunk));
        leave_to_snapshot(peer, me);
    }

    /// Becomes a new replica from a member's snapshot, re-making our ops
    /// the group lacks (see `Doc::rejoin`).
    /// Returns what the group had (the new document less our re-made ops).
    fn rejoin(&mut self, bytes: &[u8], patches: &mut Vec<Patch>) -> Option<VersionVector> {
        let old = self.doc.replica();
        let new = loop {
            let id = ReplicaId(self.rng.random());
            if id.0 != 0 && id != old {
                break id;
            }
        };
        let Ok((doc, patch)) = self.doc.rejoin(bytes, new) else {
            return None;
        };
        // What the snapshot had is not news to push; our re-made ops are.
        let mut base = doc.version();
        base.set(new, 0);
        self.gossip = Gossip::new(base.clone());
        self.doc = doc;
        self.snapshot_cache = None;
        // The old id makes no more ops: say so, so that it holds back no
        // one's cleanup (the group has exactly the snapshot's ops of it).
        self.stability = Default::default();
        self.stability.replaced(old, &self.doc);
        self.stats.rejoins += 1;
        self.own_ops_lost = false;
        patches.push(patch);
        self.events.push_back(Event::Rejoined { old, new });
        Some(base)
    }

    fn on_snapshot_chunk(
        &mut self,
        from: SocketAddr,
        chunk: wire::SnapshotChunk,
        patches: &mut Vec<Patch>,
    ) {
        // All partial snapshots together stay under the bound, whoever
        // sends them.
        let held: u64 = self.snapshots_in.values().map(|i| i.received()).sum();
        if held + chunk.bytes.len() as u64 > snapshot::MAX_SNAPSHOT_BYTES as u64 {
            self.stats.drops.bad_snapshot += 1;
            return;
        }
        let incoming = self.snapshots_in.entry(from).or_default();
        let (bytes, inflated) = match incoming.take(chunk) {
            snapshot::ChunkResult::Partial => return,
            snapshot::ChunkResult::Refused => {
                self.snapshots_in.remove(&from);
                self.stats.drops.bad_snapshot += 1;
                return;
            }
            snapshot::ChunkResult::Complete { bytes, inflated } => (bytes, inflated),
        };
        // A newcomer's own ops were made without the group's history: they
        // are re-made as a new replica (and were never sent).
        let newcomer_with_ops = !self.joined && self.doc.version_ref().get(self.doc.replica()) > 0;
        let absorbed = (!self.stability.declared_me && !newcomer_with_ops && !self.own_ops_lost)
            .then(|| inflated.and_then(|inflated| self.doc.absorb_inflated(&inflated)));
        let result = match absorbed {
            Some(Ok((patch, version))) => Ok((Some(patch), version)),
            // Declared gone, or our ops cannot join this history as they
            // are: re-make them as a new replica.
            None | Some(Err(doc::Error::Collected(_))) => self
                .rejoin(&bytes, patches)
                .map(|base| (None, base))
                .ok_or(()),
            Some(Err(_)) => Err(()),
        };
        match result {
            Ok((patch, version)) => {
                // A newcomer is a member once it has the group's document
                // (not before: a snapshot that does not load changes nothing).
                self.joined = true;
                self.adopt_document();
                self.stats.snapshots_received += 1;
                patches.extend(patch);
                // The snapshot's ops are history, not news to push down
                // the gossip trees (as for the doc a node starts with).
                self.gossip.pushed.merge(&version);
                if self.doc.version_ref() == &version {
                    // The bytes are our document now: the next newcomer
                    // gets them as they are.
                    self.snapshot_cache = Some(snapshot::Cached {
                        version: version.clone(),
                        bytes: bytes.into(),
                    });
                }
                if let Some(peer) = self.peers.get_mut(&from) {
                    // It has what it sent us: do not echo it back.
                    peer.known.merge(&version);
                    if let Some(pull) = peer.pull.as_mut() {
                        pull.merge(&version);
                    }
                }
            }
            Err(_) => self.stats.drops.bad_snapshot += 1,
        }
    }

    /// Largest op frame: it must fit a datagram beside an ack.
    fn max_frame(&self) -> usize {
        self.config.mtu - DatagramBuilder::overhead() - ACK_RESERVE
    }

    /// Queues ops for peers: first for each peer with a pull (a digest
    /// showed a gap, or it is back) everything beyond its pull
    /// point; then each op the doc gained since the last refill for the
    /// peers its author's gossip tree names (`gossip.rs`): local edits
    /// (push) and ops learned from other peers (relay) alike.
    ///
    /// poll_transmit calls this each time, so it skips what cannot have
    /// changed: no pull pending, while the doc's version (which only grows,
    /// so its total tells) stayed the same.
    fn refill_queues(&mut self) {
        if !self.joined {
            return; // a newcomer sends no ops (see `Config::joining`)
        }
        let max_frame = self.max_frame();
        let me = self.doc.replica();
        let version = self.doc.version_ref();
        let total = version.total();
        let doc_grew = total != self.refilled_total;
        self.refilled_total = total;
        // Peers that got everything up to `version` from their pull: the
        // tree has nothing to add for them this time.
        let mut pulled = Vec::new();
        for peer in self.peers.values_mut() {
            if peer.pull.is_none() || peer.state == PeerState::Down {
                continue;
            }
            let from = peer.pull.take().unwrap_or_default();
            pulled.push(peer.addr);
            if from.dominates(version) {
                continue;
            }
            let in_flight: Vec<IdSpan> = peer
                .in_flight
                .iter()
                .flat_map(|p| p.ops.iter().map(Op::span))
                .collect();
            for op in self.doc.ops_since(&from) {
                let Some(op) = trim_known(op, &peer.known) else {
                    continue;
                };
                for part in subtract_spans(op, &in_flight) {
                    enqueue_cut(peer, part, max_frame, me);
                }
            }
        }
        if !doc_grew {
            return;
        }
        let new_ops = self.doc.ops_since(&self.gossip.pushed);
        self.gossip.pushed.merge(version);
        if new_ops.is_empty() {
            return;
        }
        // Without peer exchange this node's peers are not the group (a
        // chain knows its neighbours only): relay everything to everyone.
        let everyone = !self.config.peer_exchange;
        let mut view = std::mem::take(&mut self.view_scratch);
        view.rebuild(
            me,
            self.peers
                .values()
                .filter(|p| p.state != PeerState::Down)
                .filter_map(|p| Some((p.replica?, p.addr))),
        );
        let k = fanout_for(view.len(), self.config.fanout, self.config.direct_push_max);
        let mut targets = std::mem::take(&mut self.targets_scratch);
        for op in new_ops {
            targets.clear();
            if everyone {
                targets.extend(
                    self.peers
                        .values()
                        .filter(|p| p.state != PeerState::Down)
                        .map(|p| p.addr),
                );
            } else {
                view.children(me, op.id.replica, k, &mut targets);
            }
            for addr in &targets {
                if pulled.contains(addr) {
                    continue;
                }
                let Some(peer) = self.peers.get_mut(addr) else {
                    continue;
                };
                if peer.known.contains_span(&op.span()) {
                    continue;
                }
                if let Some(op) = trim_known(op.clone(), &peer.known) {
                    enqueue_cut(peer, op, max_frame, me);
                }
            }
        }
        self.targets_scratch = targets;
        self.view_scratch = view;
    }

    // ---- gossip: announcements and pulls ----

    /// Tells a few random live peers what grew since the last round.
    fn announce(&mut self) {
        let entries = self.gossip.take_announcement(self.doc.version_ref());
        if entries.is_empty() || self.config.lazy_fanout == 0 {
            return;
        }
        let mut live: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.state != PeerState::Down && p.replica.is_some())
            .map(|p| p.addr)
            .collect();
        let frames = have_frames(entries, self.max_frame(), self.doc.replica());
        for _ in 0..self.config.lazy_fanout.min(live.len()) {
            let to = live.swap_remove(self.rng.random_range(0..live.len()));
            if let Some(peer) = self.peers.get_mut(&to) {
                peer.control.retain(|f| !matches!(f, Frame::Have(_)));
                peer.control.extend(frames.iter().cloned());
            }
        }
    }

    /// A peer announced what it has: it has it, and we may pull it later.
    fn on_have(&mut self, now: Time, from: SocketAddr, entries: &[(ReplicaId, u64)]) {
        let me = self.doc.replica();
        for &(r, n) in entries {
            if r == me {
                self.check_own_count(from, n);
            }
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        for &(r, n) in entries {
            peer.announced(r, n);
        }
        let ours = self.doc.version_ref();
        if let Some(due) = self
            .gossip
            .on_have(now, from, entries, ours, self.config.pull_delay)
        {
            self.timers.set_earliest(node_timer::PULL, due);
        }
    }

    /// Pulls that waited long enough: asks each announcer, with a digest
    /// scoped to what we still lack, to send it.
    fn pull_due(&mut self, now: Time) {
        let ours = self.doc.version();
        for (addr, scope) in self.gossip.due_pulls(now, &ours) {
            let digests = digest_frames(&ours, Some(scope), false, self.max_frame(), Vec::new());
            self.stats.digests_sent += digests.len() as u64;
            if let Some(peer) = self.peers.get_mut(&addr) {
                peer.control.extend(digests);
            }
        }
        match self.gossip.next_pull() {
            Some(at) => self.timers.set(node_timer::PULL, at),
            None => self.timers.clear(node_timer::PULL),
        }
    }

    // ---- acks and loss ----

    fn on_ack(&mut self, now: Time, from: SocketAddr, ack: &wire::AckFrame) {
        let me = self.doc.replica();
        let max_ack_delay = self.config.max_ack_delay;
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        if ack.largest >= peer.next_packet {
            return; // acks something never sent: stale or forged
        }
        let Some(ranges) = ack.ranges_inclusive() else {
            return;
        };
        let is_acked = |pn: u64| ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi);
        let mut newly_acked = false;
        // Out and back in place: this runs per ack, keep the deque's buffer.
        let mut in_flight = std::mem::take(&mut peer.in_flight);
        in_flight.retain(|sent| {
            if !is_acked(sent.packet) {
                return true;
            }
            newly_acked = true;
            if sent.packet == ack.largest {
                let delay = Duration::from_micros(ack.delay_us).min(max_ack_delay);
                let rtt = (now - sent.sent).saturating_sub(delay);
                peer.rtt.sample(rtt.max(Duration::from_micros(1)));
            }
            if sent.is_data() {
                peer.data_in_flight -= sent.size;
            }
            for op in &sent.ops {
                peer.known_raise(op.span());
            }
            if let Some(out) = &mut peer.snapshot_out {
                for &(id, _, len) in &sent.chunks {
                    if id == out.id {
                        out.acked += len as u64;
                    }
                }
                if out.done() {
                    peer.known.merge(&out.version);
                    peer.snapshot_out = None;
                    peer.snapshot_delivered = Some(now);
                    self.stats.snapshots_sent += 1;
                }
            }
            false
        });
        peer.in_flight = in_flight;
        if !newly_acked {
            return;
        }
        // It received what we sent: a real peer at that address.
        peer.budget = None;
        peer.proven = true;
        peer.rtt.on_ack();
        peer.largest_acked = Some(
            peer.largest_acked
                .map_or(ack.largest, |l| l.max(ack.largest)),
        );
        Self::detect_losses(&mut self.stats, peer, now, me);
    }

    /// Declares lost every datagram that is: sent before an acknowledged
    /// one and either three numbers older or not acknowledged within the
    /// loss delay (RFC 9002, 6.1), or unacknowledged for a whole RTO. Only
    /// the RTO backs off. Re-arms the loss timer for the next deadline.
    fn detect_losses(stats: &mut Stats, peer: &mut Peer, now: Time, me: ReplicaId) {
        let largest = peer.largest_acked;
        let loss_delay = peer.rtt.loss_delay();
        let rto = peer.rtt.rto();
        let overtaken = |s: &SentPacket| largest.is_some_and(|l| s.packet < l);
        let by_threshold = |s: &SentPacket| {
            overtaken(s)
                && (largest.is_some_and(|l| s.packet + PACKET_THRESHOLD <= l)
                    || loss_delay.is_some_and(|d| s.sent + d <= now))
        };
        let by_timeout = |s: &SentPacket| s.sent + rto <= now;
        let is_lost = |s: &SentPacket| by_threshold(s) || by_timeout(s);
        // Usually nothing is lost: then the deque stays as it is.
        let mut lost = VecDeque::new();
        if peer.in_flight.iter().any(is_lost) {
            (lost, peer.in_flight) = std::mem::take(&mut peer.in_flight)
                .into_iter()
                .partition(is_lost);
        }
        // Back off for data lost to the RTO only: pings to a silent peer
        // have their own pace, and threshold losses prove the path works.
        if lost.iter().any(|s| s.is_data() && !by_threshold(s)) {
            peer.rtt.on_timeout();
        }
        for sent in lost {
            Self::requeue_lost(stats, peer, sent, me);
        }
        let rto = peer.rtt.rto();
        let next = peer
            .in_flight
            .iter()
            .map(|s| match loss_delay {
                Some(d) if overtaken(s) => s.sent + d,
                _ => s.sent + rto,
            })
            .min();
        match next {
            Some(at) => peer.timers.set(peer_timer::LOSS, at),
            None => peer.timers.clear(peer_timer::LOSS),
        }
    }

    /// Puts a lost datagram's ops back at the front of the queue (less what
    /// the peer is now known to have).
    fn requeue_lost(stats: &mut Stats, peer: &mut Peer, sent: SentPacket, me: ReplicaId) {
        if sent.is_data() {
            peer.data_in_flight -= sent.size;
            stats.retransmits += 1;
        }
        peer.hello_due |= sent.hello;
        if let Some(out) = &mut peer.snapshot_out {
            for &(id, offset, len) in sent.chunks.iter().rev() {
                if id == out.id {
                    out.unsent.push_front((offset, len));
                }
            }
        }
        for op in sent.ops.into_iter().rev() {
            if let Some(op) = trim_known(op, &peer.known) {
                peer.queue_bytes += wire::op_frame_len(&op, me);
                peer.queue.push_front(op);
                peer.retransmit_pending = true;
            }
        }
    }

    // ---- building datagrams ----

    /// The next datagram for `addr`, if it has anything worth sending.
    fn build_datagram(&mut self, addr: SocketAddr) -> Option<Vec<u8>> {
        let me = self.doc.replica();
        let now = self.last_now;
        let config = &self.config;
        let peer = self.peers.get_mut(&addr)?;
        if self.seal_keys.is_some() && !peer.proven {
            // Not shown to be a member at this address yet: only the
            // handshake goes to it (an added peer each ping interval, a
            // learned one once), and nothing waits for it meanwhile.
            let due = peer.ping_due && (peer.configured || peer.probe);
            peer.ping_due = false;
            peer.probe = false;
            peer.control.clear();
            let packet = peer.next_packet;
            peer.next_packet += u64::from(due);
            return due.then(|| self.challenge(addr, packet));
        }
        let window_open =
            peer.data_in_flight == 0 || peer.data_in_flight + config.mtu <= config.window_bytes;
        if !peer.queue.is_empty() && peer.queued_since.is_none() {
            peer.queued_since = Some(now);
        }
        // Nagle with Minshall's refinement: while a small data datagram is
        // unacknowledged, hold a small queue back so typing batches up per
        // round trip; the tail of a bulk transfer goes at once. Ops are held
        // a little over one smoothed RTT at most: if the ack is lost, they
        // go anyway (and their acks reveal the loss).
        // (This runs for every peer on every poll: cheap tests first.)
        let hold_until = peer.queued_since.map(|t| {
            let hold = peer.rtt.srtt().map_or(DEFAULT_HOLD, |srtt| srtt * 5 / 4);
            t + hold.max(Duration::from_millis(1))
        });
        let coalescing = config.coalesce
            && hold_until.is_some_and(|t| now < t)
            && !peer.retransmit_pending
            && peer.queue_bytes < config.mtu / 2
            && peer.in_flight.iter().any(|s| s.small && s.is_data());
        if coalescing {
            if let Some(t) = hold_until {
                peer.timers.set_earliest(peer_timer::COALESCE, t);
            }
        }
        let ops_ready = !peer.queue.is_empty() && window_open && !coalescing;
        let chunk_ready = window_open
            && peer
                .snapshot_out
                .as_ref()
                .is_some_and(|o| !o.unsent.is_empty());
        let wants =
            peer.ack_now || peer.ping_due || !peer.control.is_empty() || ops_ready || chunk_ready;
        if !wants {
            return None;
        }
        let header = Header {
            sender: self.doc.replica(),
            packet: peer.next_packet,
            document: self.document,
        };
        // An unverified address gets no more bytes than it sent (in the
        // clear, so the seal's share of the overhead is not used), but for
        // one probe to a learned address.
        let allowance = peer
            .budget
            .map(|b| b + if peer.probe { PROBE_BYTES } else { 0 });
        let mtu = match allowance {
            Some(allowance) if allowance < MIN_REPLY => return None,
            Some(allowance) => allowance.min(config.mtu) + wire::SEAL_OVERHEAD,
            None => config.mtu,
        };
        let mut builder = DatagramBuilder::new(header, mtu);
        let mut had_ack = false;
        if peer.ack_pending {
            if let Some(ack) = peer.received.ack_frame(self.last_now) {
                had_ack = builder.push(&Frame::Ack(ack));
            }
        }
        if let Some(nonce) = peer.answer {
            // Until it shows it took us in: any datagram may be lost.
            builder.push(&Frame::Response(nonce));
        }
        let hello = peer.hello_due
            && builder.push(&Frame::Hello {
                session: self.session,
                name: truncate(&config.name, MAX_NAME),
            });
        while let Some(frame) = peer.control.front() {
            if builder.push(frame) {
                peer.control.pop_front();
            } else if builder.is_empty() && peer.budget.is_none() {
                // It fits no datagram at all: drop it rather than let it
                // hold back every control frame behind it.
                peer.control.pop_front();
            } else {
                break;
            }
        }
        if peer.ping_due && builder.push(&Frame::Ping) {
            peer.ping_due = false;
        }
        let mut chunks = Vec::new();
        if let Some(out) = peer.snapshot_out.as_mut().filter(|_| chunk_ready) {
            let next = out.unsent.pop_front().expect("chunk_ready");
            if builder.push(&Frame::Snapshot(out.frame(next))) {
                chunks.push((out.id, next.0, next.1));
            } else {
                out.unsent.push_front(next);
            }
        }
        let ops = if ops_ready && chunks.is_empty() {
            let window_left = config.window_bytes.saturating_sub(peer.data_in_flight);
            pack_ops(peer, &mut builder, window_left, me)
        } else {
            Vec::new()
        };
        if peer.queue.is_empty() {
            peer.queue_emptied();
            peer.timers.clear(peer_timer::COALESCE);
        }
        if builder.is_empty() {
            return None;
        }
        let eliciting = builder.is_ack_eliciting();
        if let (Some(budget), Some(allowance)) = (&mut peer.budget, allowance) {
            // What the probe left over is not kept.
            *budget = (*budget).min(allowance.saturating_sub(builder.len_in_clear()));
        }
        peer.probe = false;
        let bytes = match &mut self.seal_keys {
            Some(keys) => {
                let id = SealId {
                    epoch: config.epoch,
                    seq: self.sealed_count,
                };
                self.sealed_count += 1;
                // For that replica only: not to be replayed to another.
                match peer.replica {
                    Some(to) => builder.finish_sealed_to(keys, id, to),
                    None => builder.finish_sealed_with(keys, id),
                }
            }
            None => builder.finish(),
        };
        peer.next_packet += 1;
        if had_ack {
            peer.ack_pending = false;
            peer.ack_now = false;
            peer.unacked_eliciting = 0;
            peer.timers.clear(peer_timer::ACK);
        }
        if hello {
            peer.hello_due = false;
        }
        self.stats.ops_sent += ops.len() as u64;
        if eliciting {
            let sent = SentPacket {
                packet: header.packet,
                sent: self.last_now,
                size: bytes.len(),
                ops,
                hello,
                small: bytes.len() < config.mtu / 2,
                chunks,
            };
            if sent.is_data() {
                peer.data_in_flight += bytes.len();
            }
            peer.in_flight.push_back(sent);
            if peer.timers.get(peer_timer::LOSS).is_none() {
                peer.timers
                    .set(peer_timer::LOSS, self.last_now + peer.rtt.rto());
            }
        }
        Some(bytes)
    }

    // ---- timers ----

    /// Time only moves forward, whatever the driver passes.
    fn tick(&mut self, now: Time) {
        self.last_now = self.last_now.max(now);
    }

    fn arm_node_timers(&mut self, now: Time) {
        let first = self.jittered(self.config.anti_entropy_interval);
        self.timers.set(node_timer::ANTI_ENTROPY, now + first);
        self.timers.set(
            node_timer::PEER_EXCHANGE,
            now + self.config.peer_exchange_interval,
        );
        let first = self.jittered(self.config.gossip_interval);
        self.timers.set(node_timer::ANNOUNCE, now + first);
    }

    /// `d` scaled by a random factor in [0.5, 1.5): peers do not fall into step.
    fn jittered(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.rng.random_range(0.5..1.5))
    }
}

/// Moves ops from the peer's queue into the datagram while they fit it and
/// the window (the first op always may: the window bounds bursts, it does
/// not stall); cuts the op that does not fit whole when the room left is
/// worth it, and leaves the rest at the front of the queue.
fn pack_ops(
    peer: &mut Peer,
    builder: &mut DatagramBuilder,
    mut window_left: usize,
    me: ReplicaId,
) -> Vec<Op> {
    let mut ops = Vec::new();
    while let Some(op) = peer.queue.pop_front() {
        peer.queue_bytes = peer.queue_bytes.saturating_sub(wire::op_frame_len(&op, me));
        // Whatever the peer acknowledged meanwhile is not sent again.
        let Some(op) = trim_known(op, &peer.known) else {
            continue;
        };
        let len = wire::op_frame_len(&op, me);
        let window_allows = ops.is_empty() || len <= window_left;
        if window_allows && builder.push_op(&op) {
            window_left = window_left.saturating_sub(len);
            ops.push(op);
            continue;
        }
        let room = builder.remaining();
        if window_allows && room >= MIN_SPLIT_ROOM && op.len() > 1 {
            let mut pieces = wire::split_to_fit(&op, room, me);
            if pieces.len() > 1 && builder.push_op(&pieces[0]) {
                let first = pieces.remove(0);
                for piece in pieces.into_iter().rev() {
                    peer.queue_bytes += wire::op_frame_len(&piece, me);
                    peer.queue.push_front(piece);
                }
                ops.push(first);
                break;
            }
        }
        peer.queue_bytes += len;
        peer.queue.push_front(op);
        break;
    }
    ops
}

/// Appends `op` to the peer's queue, merged into the last op when it
/// continues it and the result still fits a datagram.
/// [`enqueue`], cut into pieces first if it does not fit a frame.
fn enqueue_cut(peer: &mut Peer, op: Op, max_frame: usize, me: ReplicaId) {
    if wire::op_frame_len(&op, me) <= max_frame {
        enqueue(peer, op, max_frame, me);
    } else {
        for piece in wire::split_to_fit(&op, max_frame, me) {
            enqueue(peer, piece, max_frame, me);
        }
    }
}

fn enqueue(peer: &mut Peer, op: Op, max_frame: usize, me: ReplicaId) {
    let len = wire::op_frame_len(&op, me);
    if let Some(last) = peer.queue.back_mut() {
        let last_len = wire::op_frame_len(last, me);
        if last_len + len <= max_frame && try_append(last, last.len(), &op) {
            peer.queue_bytes += wire::op_frame_len(last, me) - last_len;
            return;
        }
    }
    peer.queue_bytes += len;
    peer.queue.push_back(op);
}

/// An announcement as `Have` frames of at most `max_frame` bytes each.
fn have_frames(entries: Vec<(ReplicaId, u64)>, max_frame: usize, me: ReplicaId) -> Vec<Frame> {
    let whole = Frame::Have(entries.clone());
    if wire::encoded_len(&whole, me) <= max_frame {
        return vec![whole];
    }
    // An entry is at most 20 bytes; tags and length at most 12.
    let per_frame = ((max_frame - 12) / 20).max(1);
    entries
        .chunks(per_frame)
        .map(|c| Frame::Have(c.to_vec()))
        .collect()
}

/// `version` (the replicas of `scope`) as digest frames of at most
/// `max_frame` bytes each: one if it fits, else consecutive scopes.
fn digest_frames(
    version: &VersionVector,
    scope: Option<(ReplicaId, ReplicaId)>,
    reply: bool,
    max_frame: usize,
    members: Vec<ReplicaId>,
) -> Vec<Frame> {
    let in_scope = |r: ReplicaId| scope.is_none_or(|(a, b)| a <= r && r <= b);
    let entries: Vec<(ReplicaId, u64)> = version.iter().filter(|&(r, _)| in_scope(r)).collect();
    let whole = Frame::Digest(DigestFrame {
        scope,
        version: entries.iter().copied().collect(),
        reply,
        members: if scope.is_none() { members } else { Vec::new() },
    });
    if wire::encoded_len(&whole, ReplicaId(0)) <= max_frame {
        return vec![whole];
    }
    // An entry is at most 20 bytes; a scope and tags at most 32.
    let per_frame = ((max_frame - 32) / 20).max(1);
    let (lo, hi) = scope.unwrap_or((ReplicaId(0), ReplicaId(u64::MAX)));
    let chunks: Vec<&[(ReplicaId, u64)]> = entries.chunks(per_frame).collect();
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let first = if i == 0 { lo } else { chunk[0].0 };
        let last = match chunks.get(i + 1) {
            Some(next) => ReplicaId(next[0].0 .0 - 1),
            None => hi,
        };
        out.push(Frame::Digest(DigestFrame {
            scope: Some((first, last)),
            version: chunk.iter().copied().collect(),
            reply,
            members: Vec::new(),
        }));
    }
    out
}

/// A peer's name as we keep and show it: at most `MAX_NAME` bytes and no
/// control characters, so a name cannot forge lines in `rumor`'s replies or
/// move a terminal's cursor.
fn display_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    truncate(&clean, MAX_NAME)
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests;
