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
//!   9/8 RTT older (RFC 9002), or when its RTO (RFC 6298 plus the peer's
//!   ack delay, as QUIC's probe timeout) runs out; its ops go back to the
//!   front of the queue, less what the peer is now known to have, and a
//!   digest it carried goes again, fresh. The RTO backs off only while
//!   the peer is silent; while it is heard, to 4 base RTOs at most
//!   (`loss.rs`).
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
//!   it up). Peer lists are gossiped when `peer_exchange` is on; in a
//!   small group a peer that proves itself is introduced to the others at
//!   once, and a lost list goes again.
//! - **Who is a peer.** With a group key, an address enters the peer table
//!   only once it has echoed, sealed, a random challenge we sent it
//!   (`handshake.rs`): an authentic datagram may still be a replay. Without
//!   one, an address that wrote first gets no more bytes than it sent until
//!   it acknowledges ours (only an ack and a ping, twice when it paid for
//!   both), and a learned address one small probe (up to three, a
//!   second a second apart, if a proven peer named it). A first contact
//!   in the clear goes as five copies, with all it needs in each. A peer
//!   list names only peers that proved they hear us. A full
//!   table drops the oldest peer that never proved itself for a newcomer.
//! - **Discovery.** With a key, a node announces itself to a multicast
//!   group on the LAN, and probes members of its document heard announcing
//!   (`discovery.rs`), as it does addresses learned from peer lists. A
//!   newcomer told of no peer founds a document if it meets no member in
//!   a few seconds (`join.rs`, "Founding alone").
//! - **Gossip.** Lazy announcements (`Have`) to a few random peers, and a
//!   pull on a miss, repair what the tree missed well before anti-entropy.
//! - **Timers** are a fixed table: six node-wide slots (anti-entropy, peer
//!   exchange, announcements, pulls, LAN announcements, founding alone) and four per peer
//!   (loss, delayed ack, ping, coalescing).
//!
//! `Node` and its calling contract are here; its parts live beside it:
//! `admission.rs` (authentication, decoding, handshakes), `incoming_ops.rs`,
//! `anti_entropy.rs`, `relay.rs` (refills, announcements, pulls),
//! `transmit.rs` (building datagrams), `loss.rs` (acks and loss),
//! `liveness.rs` (peers, pings, peer lists), `peer_table.rs` (the peers,
//! and which changed since each part of the node last looked),
//! `discovery.rs` (LAN announcements), `join.rs` (joins, documents,
//! snapshots), `cleanup.rs`, and `commands.rs` (commands and getters).

mod admission;
mod anti_entropy;
mod cleanup;
mod commands;
mod discovery;
mod gossip;
mod handshake;
mod in_flight;
mod incoming_ops;
mod join;
mod liveness;
mod loss;
mod peer;
mod peer_table;
mod presence;
mod received;
mod relay;
mod replay;
mod rtt;
mod send_queue;
mod snapshot;
mod stability;
mod tags;
mod time;
mod timers;
mod transmit;
mod view;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::doc::{self, Doc, Patch, ReplicaId, VersionVector};
use crate::wire::{self, Frame, GroupKey, SealId, SealKeys, TagFrame};

use gossip::{Gossip, View};
use handshake::Handshakes;
use peer::Peer;
use peer_table::{PeerTable, Watcher};
use replay::ReplayWindows;
use timers::{node_timer, TimerTable};

pub use discovery::{Discovery, DiscoveryStats, ANNOUNCE_INTERVAL};
pub use join::{new_document, FOUND_AFTER};
pub use presence::Presence;
pub use rtt::RttEstimator;
pub use stability::Membership;
pub use tags::{valid_tag_name, MAX_TAGS, MAX_TAG_NAME};

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
    /// Lower bound of the retransmission timeout (once measured, it is
    /// SRTT + 4 RTTVAR + `max_ack_delay`).
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
    /// `Admission::proven` in `admission.rs`); a peer the user adds takes
    /// any place but another added one.
    pub max_peers: usize,
    /// Partial views (`view.rs`): once a node was told of more than 384
    /// addresses, it contacts random ones of them until it has this many
    /// live peers, and keeps only the address of the others
    /// (those that contact it are peers all the same). 0: every address
    /// known is a peer, whatever the group size.
    pub view_max: usize,
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
    /// The replica id came from storage that an earlier run used (the host
    /// sets it): the first local edit of this run is made under a fresh id
    /// and the old one is declared gone. A data directory restored from a
    /// backup, or a disk rolled back, may hold fewer of the old id's ops
    /// than peers do; editing on under that id would give one id two
    /// contents, and a peer that never had the lost ops could not tell.
    /// So no run edits under an id an earlier run may have used. (A run
    /// that only reads keeps the id: nothing grows.)
    pub id_used_before: bool,
    /// The document this replica edits (see `wire::Header::document`), 0
    /// for none yet: a newcomer adopts the document of the member whose
    /// snapshot it joins with. The host mints one for a founder and keeps
    /// it in the replica's membership.
    pub document: u32,
    /// Announce this node on the LAN and probe members heard announcing
    /// (`discovery.rs`); needs `key`. `None`: off.
    pub discovery: Option<Discovery>,
    /// A newcomer (`joining`) told of no peer and of no document, with
    /// `discovery`: if no member has let it join this long after it
    /// started, it founds a document itself (see `join.rs`, "Founding
    /// alone"). `None`: it waits for a member for ever, as a newcomer
    /// given peers does. The host clears it for any other replica.
    pub found_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1200,
            peer_exchange: true,
            name: String::new(),
            initial_rto: Duration::from_millis(1000),
            min_rto: Duration::from_millis(50),
            max_rto: Duration::from_secs(10),
            max_ack_delay: Duration::from_millis(10),
            window_bytes: 64 * 1024,
            ping_interval: Duration::from_secs(1),
            suspect_after: 3,
            down_after: 10,
            anti_entropy_interval: Duration::from_secs(5),
            peer_exchange_interval: Duration::from_secs(10),
            max_peers: 1024,
            view_max: 5,
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
            id_used_before: false,
            document: 0,
            discovery: None,
            found_after: None,
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
    /// directory restored from a backup, a rolled-back VM). Given once a
    /// run. No run edits under an id an earlier run used
    /// (`Config::id_used_before`), so the lost ops come back from peers as
    /// anyone's and nothing diverges. (Only if this very run had sent ops
    /// its storage then lost, which a host that writes before it sends
    /// never does, does the node stop sending and rejoin as a new replica,
    /// `Rejoined`, re-making its own edits the group lacks.)
    OwnOpsLost {
        peer: SocketAddr,
        peer_has: u64,
        we_have: u64,
    },
    /// A peer told of a tag (a named version) new here, or one that
    /// supersedes the tag of its name (see `node::tags`).
    Tag(TagFrame),
    /// A newcomer that was told of no peer met no member in
    /// `Config::found_after`: it founded `document` (see `join.rs`,
    /// "Founding alone"). Newcomers it has met join it.
    Founded { document: u32 },
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
    /// Ids this replica stopped using at the first edit of a run (see
    /// `Config::id_used_before`).
    pub ids_retired: u64,
    /// LAN announcements sent, heard and dropped.
    pub discovery: DiscoveryStats,
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
/// Copies of an early, small first-contact try in the clear (see
/// `Node::first_try_copies`): the first this many tries, up to this size.
const FIRST_TRY_COPIES: usize = 5;
const FIRST_TRY_COPIED_TRIES: u32 = 4;
const FIRST_TRY_COPIED_BYTES: usize = 256;
/// Most addresses in one peer-exchange frame.
const MAX_PEER_LIST: usize = 32;
/// Smallest budget worth a datagram to an unverified address: a header
/// and the ack of an early packet (tag, three one-byte varints, no
/// ranges), so that even the smallest probe (a ping and a hello with a
/// one-letter name) earns an answer that proves both sides.
const MIN_REPLY: usize = wire::HEADER_LEN + 6;
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
    peers: PeerTable,
    /// Addresses that turned out to be this node itself.
    own_addrs: BTreeSet<SocketAddr>,
    /// In a large group, the addresses known but not contacted (`view.rs`).
    passive: view::Passive,
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
    /// The live members as `refill_queues` last saw them, for `view_of`.
    view: View,
    view_of: Option<ReplicaId>,
    /// Reused by `refill_queues` for the peers with a pull.
    pull_scratch: Vec<SocketAddr>,
    /// Reused by `handle_timeout` for the peers with a timer due, and to
    /// bring the deadline index up to date.
    due_scratch: Vec<SocketAddr>,
    /// Peers that may have something to send, listed by `poll_transmit`
    /// (from those that changed) and worked through from `ready_at` on.
    ready: Vec<SocketAddr>,
    ready_at: usize,
    /// The latest `now` the driver gave: `poll_transmit` sends "now".
    last_now: Time,
    /// The base retransmission timeout of the peer whose round trip was
    /// measured last: how long a challenge to an address not yet heard
    /// waits for its answer (a path from here, as RFC 9002, 6.2.2, lets a
    /// new connection start from an earlier one's RTT), instead of the
    /// initial timeout.
    path_rto: Option<Duration>,
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
    /// Named versions, spread to every member (see `tags`).
    tags: tags::TagTable,
    /// Reports, members, gone declarations: when history may be cleaned up.
    stability: stability::Stability,
    /// False while a newcomer waits for a member's snapshot (`Config::joining`).
    joined: bool,
    /// A peer showed it holds ops of ours that we lack (`Event::OwnOpsLost`):
    /// we wait, as a newcomer does, to rejoin under a new id.
    own_ops_lost: bool,
    /// This run's id is one no earlier run used (a new replica, or one
    /// taken by a rejoin or at the run's first edit): see
    /// `Config::id_used_before`.
    id_fresh: bool,
    /// The id this run stopped using and how many of its ops we had then.
    retired: Option<(ReplicaId, u64)>,
    /// An `Event::OwnOpsLost` was given this run.
    lost_reported: bool,
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
    /// The last `report_members` and what it was made of.
    report_members: std::cell::RefCell<Option<(anti_entropy::MembersKey, Vec<ReplicaId>)>>,
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
            peers: PeerTable::default(),
            own_addrs: BTreeSet::new(),
            passive: Default::default(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            cursor: None,
            refilled_total: 0,
            gossip,
            targets_scratch: Vec::new(),
            view: View::default(),
            view_of: None,
            pull_scratch: Vec::new(),
            due_scratch: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            last_now: now,
            path_rto: None,
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
            tags: Default::default(),
            stability: Default::default(),
            joined: true,
            own_ops_lost: false,
            id_fresh: false,
            retired: None,
            lost_reported: false,
            refusal_queued: [false; 4],
            held_aged_at: now,
            document: 0,
            datagram_document: 0,
            foreign_document: 0,
            report_members: Default::default(),
        };
        node.document = node.config.document;
        node.joined = !node.config.joining;
        node.id_fresh = !node.config.id_used_before;
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
        // (A newcomer's edits are re-made under a new id when it joins.)
        if !self.id_fresh && self.joined {
            self.take_fresh_id();
        }
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
        if wire::is_announcement(bytes) {
            return self.on_announcement(now, from, bytes);
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
            let other_replica = self.peers.get(&from).is_some_and(|p| p.replica().is_some());
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
                    .is_some_and(|p| p.admission.proven() && p.replica() == Some(header.sender));
            if fresh {
                // (A handshake it started after we proved it is moot.)
                self.handshakes.remove(&from);
                // Sealed for us: it has taken us in, our answer arrived.
                if let Some(p) = self.peers.get_mut(&from) {
                    p.admission.taken_in();
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
                peer.admission.wrote_first();
            }
            peer.admission.received(bytes.len());
        }
        self.on_heard(now, from, header.sender);

        let eliciting = frames.iter().any(Frame::is_ack_eliciting);
        let mut ping = false;
        {
            let peer = self.peers.get_mut(&from).expect("ensured above");
            for f in &frames {
                if let Frame::Hello { session, .. } = f {
                    peer.heard_session(*session);
                }
            }
            if !peer.received_packet(header.packet, now, eliciting) {
                self.stats.duplicates += 1;
            }
        }
        let mut patches = Vec::new();
        for frame in frames {
            match frame {
                Frame::Ack(ack) => self.on_ack(now, from, &ack),
                Frame::Ping => ping = true,
                Frame::Hello { name, .. } => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.set_name(display_name(&name));
                    }
                }
                Frame::Digest(d) => self.on_digest(now, from, &d),
                Frame::Join => self.on_join(now, from, header.sender),
                Frame::Gone(list) => {
                    let me = self.doc.replica();
                    let declared = list.iter().find(|&&(r, _)| r == me).map(|&(_, n)| n);
                    self.stability.adopt(header.sender, me, &list, &self.doc);
                    if let Some(count) = declared {
                        self.declared_gone(count);
                    }
                    self.stats.members_gone = self.stability.gone_count() as u64;
                }
                Frame::Peers(list) => self.on_peer_list(now, from, &list, bytes.len()),
                Frame::Challenge(nonce) if self.seal_keys.is_some() => {
                    if let Some(p) = self.peers.get_mut(&from) {
                        p.challenged(nonce);
                    }
                }
                // (A response counts in `handshake` only.)
                Frame::Challenge(_) | Frame::Response(_) => {}
                Frame::Op(op) => self.on_op(from, op, &mut patches),
                Frame::Have(entries) => self.on_have(now, from, &entries),
                Frame::Snapshot(chunk) => self.on_snapshot_chunk(from, chunk, &mut patches),
                Frame::Presence(p) => self.on_presence(now, from, header.sender, p),
                Frame::Tag(t) => self.on_tag(from, t),
            }
        }
        self.stats.ops_buffered = self.doc.pending_len() as u64;
        if !patches.is_empty() {
            self.events.push_back(Event::RemoteEdit { patches });
        }
        if let Some(peer) = self.peers.get_mut(&from) {
            if eliciting {
                peer.schedule_ack(now, ping, self.config.max_ack_delay);
            }
        }
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
        if self.timers.expire(node_timer::DISCOVER, now) {
            self.discovery_timeout(now);
        }
        if self.timers.expire(node_timer::FOUND, now) {
            self.found_alone(now);
        }
        if self.timers.expire(node_timer::PEER_EXCHANGE, now) {
            self.check_view();
            if self.config.peer_exchange {
                // Each live peer gets a window of the others.
                let listable = self.listable_addrs();
                for addr in self.live_addrs() {
                    self.queue_peer_list_from(addr, &listable);
                }
            }
            self.timers.set(
                node_timer::PEER_EXCHANGE,
                now + self.config.peer_exchange_interval,
            );
        }
        // Only peers with a timer due (hundreds of peers, few due).
        let mut due = std::mem::take(&mut self.due_scratch);
        self.peers.due(now, &mut due);
        for &addr in &due {
            if self.peers.contains_key(&addr) {
                self.peer_timeouts(now, addr);
            }
        }
        self.due_scratch = due;
        self.presence_timeout(now);
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.online {
            return None;
        }
        self.fill_view(self.last_now);
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
        // hundreds of peers: only the peers that changed since the last
        // call can have something to send (see `peer_table.rs`). They are
        // listed (a cheap test, in round-robin order) and worked through
        // over the calls; "nothing" is answered only once no peer that
        // changed meanwhile is left.
        loop {
            while let Some(&addr) = self.ready.get(self.ready_at) {
                self.ready_at += 1;
                if let Some(bytes) = self.build_datagram(addr) {
                    // A first try, or an answer to an unverified address,
                    // may go more than once (see `liveness.rs`).
                    let copies = match self.first_try_copies(addr, bytes.len()) {
                        1 if self.answer_goes_twice(addr, &bytes) => 2,
                        n => n,
                    };
                    for _ in 1..copies {
                        self.direct.push_back(Transmit {
                            to: addr,
                            bytes: bytes.clone(),
                        });
                    }
                    // It may have more: it is listed again next round.
                    self.peers.mark_sendable(addr);
                    self.cursor = Some(addr);
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += bytes.len() as u64;
                    return Some(Transmit { to: addr, bytes });
                }
            }
            if !self.list_ready() {
                break;
            }
        }
        self.peers.index_deadlines();
        #[cfg(debug_assertions)]
        self.assert_nothing_to_send();
        None
    }

    /// Lists the peers that changed and may have something to send,
    /// starting after the last one that sent; false if there are none.
    fn list_ready(&mut self) -> bool {
        let mut ready = std::mem::take(&mut self.ready);
        (self.peers).take_changed_if(Watcher::Send, &mut ready, Peer::may_send);
        // In address order, rotated to start after the cursor.
        ready.sort_unstable();
        if let Some(c) = self.cursor {
            let after = ready.partition_point(|&a| a <= c);
            ready.rotate_left(after);
        }
        self.ready = ready;
        self.ready_at = 0;
        !self.ready.is_empty()
    }

    /// Debug builds check what the peer table promises: a peer that did
    /// not change since its last build, and has no timer due, has nothing
    /// to send (so looking at the changed peers only misses no datagram).
    /// A build that finds nothing changes nothing that matters, so the
    /// check leaves the run as it was.
    #[cfg(debug_assertions)]
    fn assert_nothing_to_send(&mut self) {
        let now = self.last_now;
        let quiet: Vec<SocketAddr> = self
            .peers
            .values()
            .filter(|p| p.may_send() && p.timers.next().is_none_or(|t| t > now))
            .map(|p| p.addr())
            .collect();
        for addr in quiet {
            if self.build_datagram(addr).is_some() {
                panic!("peer {addr} had something to send but was not listed as changed");
            }
        }
        self.peers.index_deadlines();
    }

    /// When the node next wants `handle_timeout` called.
    pub fn poll_timeout(&self) -> Option<Time> {
        if !self.online {
            return None;
        }
        let presence = self.presence.poll_timeout();
        self.timers
            .next()
            .into_iter()
            .chain(self.peers.next_deadline())
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
        self.arm_founding(now);
        self.arm_discovery(now);
    }

    /// `d` scaled by a random factor in [0.5, 1.5): peers do not fall into step.
    fn jittered(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.rng.random_range(0.5..1.5))
    }
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
