//! The real driver: one mio event loop around one [`Node`] and one UDP
//! socket, with the [`Store`] for durability.
//!
//! The loop waits on mio until a datagram arrives, the front end wakes it
//! (a line of input, through a [`Waker`]), or the next timer is due (the
//! node's [`Node::poll_timeout`] or an injected delay). After every input
//! it settles the [`Host`] (persist, then events: see `host`), then sends
//! what the host yields. What is persisted, when, and in what order is the
//! host's business, shared with the simulator; this module owns the socket,
//! the clock and injected faults.
//!
//! Sending never spins: a send that would block is queued and retried when
//! mio says the socket is writable; meanwhile the node keeps its own queue.

pub mod editor;
mod faults;
pub mod file_binding;
pub mod interfaces;
mod lan;
mod refusals;
pub mod text_merge;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use crate::host::{format_utc, Change, History, HistoryEntry, HISTORY_CAP};
pub use faults::{Fate, Faults};
use file_binding::FileBinding;
pub use file_binding::FileStatus;
use lan::LanSocket;
pub use lan::{
    discovery_addr, discovery_addr_for, DISCOVERY_GROUP, DISCOVERY_GROUP_V6, DISCOVERY_PORT,
};
use refusals::Refusals;

use crate::doc::{self, LocalEdits, Outcome, UndoStack};
use crate::host::{BootConfig, BootError, Host, HostStats};
use crate::node::{self, Edit, Event, Node, PeerState, Refusal, Time, Transmit};
use crate::store::{self, Recovered, Store, StoreError};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// The LAN socket's (editor connections count up from 3).
const LAN: Token = Token(usize::MAX - 1);
/// How often the interfaces are looked at for changes (LAN discovery).
const INTERFACE_CHECK: Duration = Duration::from_secs(5);
/// Most datagrams read from the LAN socket per wake-up: a flood of
/// announcements must not keep the loop from the peers' datagrams.
const MAX_LAN_READS: usize = 64;
/// Datagrams fed to the node before it is settled (persist, then send).
/// Bigger batches mean fewer fsyncs during a bulk catch-up; smaller ones
/// let acks out sooner, so the sender refills its window while this side
/// is still applying (16 measured faster than 256 on catch-up, both with
/// and without a data directory).
const MAX_BATCH: usize = 16;
/// Longest wait on exit for peers to acknowledge what this replica has.
pub const LINGER: Duration = Duration::from_secs(3);
/// Big enough for any UDP datagram, so nothing is ever cut short.
const RECV_BUF: usize = 65_536;
/// Most bytes held back by `--delay` (both ways); past it datagrams are
/// dropped, as a router with a full queue would. Incoming datagrams are
/// held before anything checks them, so a flood must not grow this.
pub const MAX_DELAYED_BYTES: usize = 8 << 20;

/// What the driver needs to start.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub listen: SocketAddr,
    pub peers: Vec<SocketAddr>,
    pub node: node::Config,
    /// `None`: the document lives in memory only.
    pub data: Option<PathBuf>,
    /// The log is compacted once past this size (and the snapshot's).
    pub compact_min_bytes: u64,
    pub faults: Faults,
    /// The plain text file the document is bound to (`--file`).
    pub file: Option<PathBuf>,
    /// The document, if told up front (an invite ticket's; 0: kept in the
    /// data directory, adopted on joining, or made up by a founder).
    pub document: u32,
    /// Announce this peer on the LAN and hear others' announcements
    /// (`lan`, `node::discovery`); only with a group key.
    pub discovery: bool,
}

impl DriverConfig {
    /// Listens on `listen`, no peers, default node, memory only, no faults.
    pub fn new(listen: SocketAddr) -> DriverConfig {
        DriverConfig {
            listen,
            peers: Vec::new(),
            node: node::Config::default(),
            data: None,
            compact_min_bytes: store::DEFAULT_COMPACT_MIN_BYTES,
            faults: Faults::none(),
            file: None,
            document: 0,
            discovery: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("event loop: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Snapshot(String),
    /// The file given to bind the document to cannot be used.
    #[error("--file {0}")]
    File(String),
}

impl From<BootError> for StartError {
    fn from(e: BootError) -> StartError {
        StartError::Snapshot(e.to_string())
    }
}

/// The driver as the place undo and redo make their edits: node edits,
/// recorded by the stack itself, settled once the whole step is made.
struct Unrecorded<'a> {
    driver: &'a mut Driver,
}

impl LocalEdits for Unrecorded<'_> {
    fn doc(&self) -> &doc::Doc {
        self.driver.host.node().doc()
    }
    fn insert(&mut self, pos: usize, text: &str) -> Result<(), doc::Error> {
        let now = self.driver.now();
        let text = text.to_string();
        self.driver
            .host
            .node_mut()
            .edit(now, Edit::Insert { pos, text })
    }
    fn delete(&mut self, pos: usize, len: usize) -> Result<(), doc::Error> {
        let now = self.driver.now();
        self.driver
            .host
            .node_mut()
            .edit(now, Edit::Delete { pos, len })
    }
}

/// A local change the node refused or could not make durable.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Doc(#[from] doc::Error),
    /// The edit is in the document but could not be written: it is kept
    /// in memory and held back from the peers until a write succeeds.
    #[error(
        "the edit is NOT saved ({0}); it is kept in memory and sent to no peer \
         until the data directory can be written again (retried on every input), \
         and it is lost if rumor stops before then"
    )]
    NotDurable(String),
    /// Not done, for the reason given (a bad tag name).
    #[error("{0}")]
    Refused(String),
}

/// Counters of the driver itself (the node counts its own in `Stats`).
#[derive(Debug, Clone, Default)]
pub struct DriverStats {
    /// Outgoing datagrams dropped by `--loss`.
    pub injected_loss_out: u64,
    /// Incoming datagrams dropped by `--loss`.
    pub injected_loss_in: u64,
    /// Datagrams held back by `--delay` (both ways).
    pub delayed: u64,
    /// Datagrams dropped because `--delay` already held
    /// [`MAX_DELAYED_BYTES`].
    pub delay_queue_full: u64,
    /// Sends that would have blocked and were queued.
    pub sends_blocked: u64,
    /// Sends the OS refused (e.g. no route); the datagram is dropped.
    pub send_errors: u64,
    pub recv_errors: u64,
    /// Outgoing datagrams dropped because the node went offline while
    /// they were delayed.
    pub dropped_offline: u64,
}

/// Whether this peer takes part in LAN discovery, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryState {
    /// Announcing on these interfaces (one address of each).
    On(Vec<std::net::IpAddr>),
    /// `--no-discovery`.
    Off,
    /// No group secret: nothing to seal announcements with.
    NoSecret,
    /// The LAN socket could not be opened.
    Failed(String),
}

/// Whether the loop goes on after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    In,
    Out,
}

/// A datagram held back by `--delay`. Ordered by due time, then by the
/// order it was held (`seq`), so equal times keep their order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Delayed {
    due: Time,
    seq: u64,
    direction: Direction,
    addr: SocketAddr,
    bytes: Vec<u8>,
}

pub struct Driver {
    poll: Poll,
    socket: UdpSocket,
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    /// The replica: node, store, history; what is persisted and when.
    host: Host<Store>,
    epoch: Instant,
    faults: Faults,
    delayed: BinaryHeap<Reverse<Delayed>>,
    /// Bytes in `delayed`.
    delayed_bytes: usize,
    delayed_seq: u64,
    /// Sends that would block, oldest first.
    blocked: VecDeque<Transmit>,
    stats: DriverStats,
    recv_buf: Vec<u8>,
    configured_peers: Vec<SocketAddr>,
    refusals: Refusals,
    /// The bound file (`--file`), see `file_binding`.
    file: Option<FileBinding>,
    /// Times the document was changed from the file.
    file_edits: u64,
    /// Editors of the bound file (`editor`).
    editors: Option<editor::EditorBridge>,
    /// This replica's own edits, for `undo` and `redo`.
    undo: UndoStack,
    /// The LAN discovery socket (`None`: discovery is off; see `discovery`).
    lan: Option<LanSocket>,
    discovery: DiscoveryState,
    /// When the interfaces are next looked at for changes.
    interfaces_due: Time,
    /// The LAN socket was left with datagrams unread (`MAX_LAN_READS`).
    lan_unread: bool,
}

impl Driver {
    /// Opens the data directory (replaying it), binds the socket and
    /// starts the node. Warnings from the replay are queued as notices.
    pub fn start(config: DriverConfig) -> Result<Driver, StartError> {
        let epoch = Instant::now();
        let (store, recovered) = match &config.data {
            Some(dir) => {
                let (mut store, recovered) = Store::open(dir)?;
                store.set_compact_min_bytes(config.compact_min_bytes);
                (Some(store), recovered)
            }
            None => (
                None,
                Recovered {
                    replica: store::new_replica_id(),
                    created: true,
                    snapshot: None,
                    entries: Vec::new(),
                    membership: None,
                    former_ids: Vec::new(),
                    warnings: Vec::new(),
                },
            ),
        };
        let mut node_config = config.node;
        let mut epoch_warning = None;
        node_config.discovery = None;
        if node_config.key.is_some() {
            // A new sealing epoch for this run, above every earlier one.
            node_config.epoch = match &store {
                Some(store) => {
                    let (epoch, warning) = store.next_epoch(unix_ms_now())?;
                    epoch_warning = warning;
                    epoch
                }
                // A fresh replica id every run: any epoch is new.
                None => unix_ms_now(),
            };
        }

        let std_socket =
            std::net::UdpSocket::bind(config.listen).map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        std_socket.set_nonblocking(true)?;
        let local_addr = std_socket.local_addr()?;
        let mut socket = UdpSocket::from_std(std_socket);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut socket, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (lan, discovery) = match (config.discovery, &node_config.key) {
            (false, _) => (None, DiscoveryState::Off),
            (true, None) => (None, DiscoveryState::NoSecret),
            (true, Some(_)) => match LanSocket::open(local_addr) {
                Ok(mut lan) => {
                    poll.registry()
                        .register(lan.socket_mut(), LAN, Interest::READABLE)?;
                    node_config.discovery = Some(node::Discovery {
                        group: lan.group(),
                        port: local_addr.port(),
                        interval: node::ANNOUNCE_INTERVAL,
                    });
                    let on = DiscoveryState::On(lan.interfaces());
                    (Some(lan), on)
                }
                Err(e) => (
                    None,
                    DiscoveryState::Failed(format!(
                        "cannot listen on {}: {e}",
                        discovery_addr_for(local_addr)
                    )),
                ),
            },
        };

        let node_seed: u64 = rand::random();
        let boot = BootConfig {
            node: node_config,
            peers: config.peers.clone(),
            join_if_new: true,
            keep_history: true,
            document: config.document,
        };
        let rng = ChaCha8Rng::seed_from_u64(node_seed);
        let mut host = Host::boot(recovered, store, boot, rng, Time(0))?;
        if let Some(warning) = epoch_warning {
            host.push_notice(warning);
        }

        let mut driver = Driver {
            poll,
            socket,
            local_addr,
            waker,
            host,
            epoch,
            faults: config.faults,
            delayed: BinaryHeap::new(),
            delayed_bytes: 0,
            delayed_seq: 0,
            blocked: VecDeque::new(),
            stats: DriverStats::default(),
            recv_buf: vec![0; RECV_BUF],
            configured_peers: config.peers,
            refusals: Refusals::default(),
            file: None,
            file_edits: 0,
            editors: None,
            undo: UndoStack::new(),
            lan,
            discovery,
            interfaces_due: Time(0) + INTERFACE_CHECK,
            lan_unread: false,
        };
        driver.settle();
        if let Some(path) = config.file {
            driver.bind_file(path.clone())?;
            driver.serve_editors(&path);
        }
        Ok(driver)
    }

    /// The driver's clock: microseconds since it started.
    pub fn now(&self) -> Time {
        Time(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Wakes the loop from another thread (after sending it input).
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    pub fn node(&self) -> &Node {
        self.host.node()
    }

    /// The replica this driver hosts.
    pub fn host(&self) -> &Host<Store> {
        &self.host
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn store(&self) -> Option<&Store> {
        self.host.store()
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Whether this peer takes part in LAN discovery (see `lan`).
    pub fn discovery(&self) -> &DiscoveryState {
        &self.discovery
    }

    /// Ops replayed at start, persisted since, refused on replay.
    pub fn host_stats(&self) -> &HostStats {
        self.host.stats()
    }

    pub fn history(&self) -> &History {
        self.host
            .history()
            .expect("the driver's host keeps a history")
    }

    /// Sends nothing until a persist succeeds again, when set.
    pub fn persist_error(&self) -> Option<&str> {
        self.host.persist_error()
    }

    /// A local edit, an undo step of its own. When it returns `Ok`, the
    /// edit is durable (with a data directory) and on its way to the peers.
    pub fn edit(&mut self, edit: Edit) -> Result<(), EditError> {
        self.edit_in_step(edit, false)
    }

    /// A local edit; `merge`: it joins the open undo step (more of one
    /// burst of typing) instead of starting one. Clears the redo stack.
    pub fn edit_in_step(&mut self, edit: Edit, merge: bool) -> Result<(), EditError> {
        self.edit_unsettled(edit, merge)?;
        self.settle();
        self.durable()
    }

    /// Several local edits as one undo step (`restore`), made durable
    /// together. On an error the edits made so far stay (and undo as one).
    pub fn edit_as_one_step(&mut self, edits: Vec<Edit>) -> Result<(), EditError> {
        self.undo.close();
        let mut result = Ok(());
        for (i, edit) in edits.into_iter().enumerate() {
            result = self.edit_unsettled(edit, i > 0);
            if result.is_err() {
                break;
            }
        }
        self.undo.close();
        self.settle();
        result?;
        self.durable()
    }

    /// Names the version now (`tag NAME`); durable when it returns `Ok`.
    pub fn tag(&mut self, name: &str) -> Result<(), EditError> {
        self.host
            .tag(name, unix_ms_now())
            .map_err(EditError::Refused)?;
        self.settle();
        self.durable()
    }

    /// A local edit recorded for undo, not yet persisted nor sent.
    fn edit_unsettled(&mut self, edit: Edit, merge: bool) -> Result<(), EditError> {
        self.follow_replica();
        let now = self.now();
        let doc = self.host.node().doc();
        let (deleting, inserting) = match &edit {
            Edit::Delete { pos, len } => (doc::Change::deleting(doc, *pos, *len), None),
            Edit::Insert { pos, text } => (None, Some((*pos, text.chars().count()))),
        };
        self.host.node_mut().edit(now, edit)?;
        let doc = self.host.node().doc();
        // (Read after the edit: a run's first edit takes a fresh id.)
        let replica = doc.replica();
        let change =
            deleting.or_else(|| inserting.and_then(|(pos, n)| doc::Change::inserted(doc, pos, n)));
        if let Some(change) = change {
            self.undo.record(replica, change, merge);
        }
        self.follow_replica();
        Ok(())
    }

    /// Ends the open undo step: the next edit starts a new one.
    pub fn close_undo_step(&mut self) {
        self.undo.close();
    }

    /// Reverts this replica's last own step still in the text (see
    /// `doc::undo`), as ordinary local edits. `Ok(None)`: nothing to undo.
    pub fn undo(&mut self) -> Result<Option<Outcome>, EditError> {
        self.undo_or_redo(true)
    }

    /// Re-does the last step undone. `Ok(None)`: nothing to redo.
    pub fn redo(&mut self) -> Result<Option<Outcome>, EditError> {
        self.undo_or_redo(false)
    }

    fn undo_or_redo(&mut self, undo: bool) -> Result<Option<Outcome>, EditError> {
        self.follow_replica();
        let mut stack = std::mem::take(&mut self.undo);
        let mut target = Unrecorded { driver: self };
        let result = if undo {
            stack.undo(&mut target)
        } else {
            stack.redo(&mut target)
        };
        self.undo = stack;
        self.settle();
        let outcome = result?;
        self.durable()?;
        Ok(outcome)
    }

    /// Steps that can be undone and redone.
    pub fn undo_depth(&self) -> (usize, usize) {
        (self.undo.undo_len(), self.undo.redo_len())
    }

    /// Clears the undo stack, with a notice, when the document now belongs
    /// to a new replica id (a rejoin): its ids name chars that are no
    /// longer ours.
    fn follow_replica(&mut self) {
        let replica = self.host.node().doc().replica();
        if self.undo.follow(replica) {
            self.host.push_notice(format!(
                "undo history cleared: this replica is now {replica}, and the steps \
                 recorded before name chars it re-made under new ids"
            ));
        }
    }

    fn durable(&self) -> Result<(), EditError> {
        match self.host.persist_error() {
            Some(e) => Err(EditError::NotDurable(e.to_string())),
            None => Ok(()),
        }
    }

    /// Adds a peer; false when the node refused it (its own address, or
    /// the peer table is full).
    pub fn add_peer(&mut self, addr: SocketAddr) -> bool {
        let now = self.now();
        let added = self.host.node_mut().add_peer(now, addr);
        self.settle();
        added
    }

    pub fn set_online(&mut self, online: bool) {
        let now = self.now();
        self.host.node_mut().set_online(now, online);
        self.settle();
    }

    pub fn sync_now(&mut self) {
        let now = self.now();
        self.host.node_mut().sync_now(now);
        self.settle();
    }

    /// Back online if offline, the configured peers re-added (in case they
    /// were forgotten), and a digest exchange with every peer.
    pub fn reconnect(&mut self) {
        let now = self.now();
        if !self.host.node().is_online() {
            self.host.node_mut().set_online(now, true);
        }
        for peer in self.configured_peers.clone() {
            self.host.node_mut().add_peer(now, peer);
        }
        self.host.node_mut().sync_now(now);
        self.settle();
    }

    /// Where this editor's cursor is, for the peers (see `node::presence`).
    pub fn set_cursor(&mut self, cursor: Option<doc::Id>) {
        self.set_selection(cursor, None);
    }

    /// Where this editor's cursor and selection (its other end) are.
    pub fn set_selection(&mut self, cursor: Option<doc::Id>, anchor: Option<Option<doc::Id>>) {
        let now = self.now();
        self.host.node_mut().set_selection(now, cursor, anchor);
        self.settle();
    }

    /// Where this editor's cursors and selections are (multi-cursor), the
    /// main one first (see [`crate::node::Node::set_selections`]).
    pub fn set_selections(&mut self, ranges: &[crate::wire::CursorRange]) {
        let now = self.now();
        self.host.node_mut().set_selections(now, ranges);
        self.settle();
    }

    /// Tells the peers this editor is closing.
    pub fn leave_presence(&mut self) {
        let now = self.now();
        self.host.node_mut().leave_presence(now);
        self.settle();
    }

    /// The node's events since the last call, oldest first.
    pub fn take_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.next_event())
    }

    /// Repairs and failures to show the user, oldest first.
    pub fn take_notices(&mut self) -> impl Iterator<Item = String> + '_ {
        std::iter::from_fn(|| self.host.poll_notice())
    }

    /// Runs the loop until `on_input` says [`Flow::Exit`] or `inbox` is
    /// closed. `on_input` gets each value sent on `inbox` (the sender wakes
    /// the loop with [`Driver::waker`]); `on_event` gets each node event and
    /// `on_notice` each notice, after the input or datagrams that caused them.
    ///
    /// On the way out the loop lingers (at most [`LINGER`], reading no more
    /// input) until every live peer has acknowledged everything this
    /// replica has, so an edit made just before `exit` is not stranded.
    pub fn run<T>(
        &mut self,
        inbox: &Receiver<T>,
        on_input: impl FnMut(&mut Driver, T) -> Flow,
        on_event: impl FnMut(&Driver, Event),
        on_notice: impl FnMut(String),
    ) -> io::Result<()> {
        self.run_with_idle(inbox, on_input, on_event, on_notice, |_| None)
    }

    /// [`Driver::run`], plus `on_idle`, called each time the loop is about
    /// to wait (every input, datagram and event handled): where a screen
    /// is redrawn. It returns when it wants to be called again at the
    /// latest (`None`: only after the next wake-up).
    pub fn run_with_idle<T>(
        &mut self,
        inbox: &Receiver<T>,
        mut on_input: impl FnMut(&mut Driver, T) -> Flow,
        mut on_event: impl FnMut(&Driver, Event),
        mut on_notice: impl FnMut(String),
        mut on_idle: impl FnMut(&mut Driver) -> Option<Time>,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        let mut leaving: Option<Time> = None;
        loop {
            let file_due = self.tend_file();
            self.tend_editors();
            self.report(&mut on_event, &mut on_notice);
            if let Some(deadline) = leaving {
                if self.peers_have_everything() || self.now() >= deadline {
                    self.flush_file();
                    self.report(&mut on_event, &mut on_notice);
                    return Ok(());
                }
            }
            let idle_due = on_idle(self);
            if self.host.has_events() || self.host.has_notices() {
                // on_idle's calls into the node had news: hand it over
                // (and be idle again) before waiting.
                continue;
            }
            let due = [self.next_deadline(), leaving, idle_due, file_due]
                .into_iter()
                .flatten()
                .min();
            let timeout = match self.lan_unread {
                // Datagrams wait on the LAN socket: look again at once.
                true => Some(Duration::ZERO),
                false => due.map(|due| due.saturating_since(self.now())),
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.flush_file();
                    return Err(e);
                }
            }
            let (mut readable, mut writable) = (false, false);
            let mut lan_readable = std::mem::take(&mut self.lan_unread);
            let mut editors = Vec::new();
            for event in events.iter() {
                match event.token() {
                    SOCKET => {
                        readable |= event.is_readable();
                        writable |= event.is_writable();
                    }
                    LAN => lan_readable = true,
                    WAKER => {}
                    token => editors.push(token),
                }
            }
            for token in editors {
                self.editor_ready(token);
            }
            if writable {
                self.flush_blocked();
            }
            if readable {
                self.read_socket();
            }
            if lan_readable {
                self.read_lan();
            }
            // Input is drained on every wake-up, not only on the waker's
            // token: a wake-up that raced with the last drain is harmless.
            while leaving.is_none() {
                let flow = match inbox.try_recv() {
                    Ok(input) => {
                        let flow = on_input(self, input);
                        self.report(&mut on_event, &mut on_notice);
                        flow
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => Flow::Exit,
                };
                if flow == Flow::Exit {
                    leaving = Some(self.now() + LINGER);
                }
            }
            self.fire_timers();
        }
    }

    /// True when every peer that is alive has acknowledged all this
    /// replica has (or the node is offline, so nothing can be sent). A
    /// newcomer that typed has not: its edits go out only once a member's
    /// copy has arrived.
    pub fn peers_have_everything(&self) -> bool {
        let node = self.host.node();
        if !node.is_online() {
            return true;
        }
        if !node.is_joined() && node.doc().version_ref().get(node.replica()) > 0 {
            return false;
        }
        let mine = self.node().doc().version_ref();
        self.node()
            .peers()
            .iter()
            .filter(|p| p.state == PeerState::Alive)
            .all(|p| p.acked.dominates(mine))
    }

    fn report(
        &mut self,
        on_event: &mut impl FnMut(&Driver, Event),
        on_notice: &mut impl FnMut(String),
    ) {
        let mut events = Vec::new();
        while let Some(event) = self.next_event() {
            events.push(event);
        }
        self.follow_replica();
        while let Some(notice) = self.host.poll_notice() {
            on_notice(notice);
        }
        for event in events {
            on_event(self, event);
        }
    }

    /// The earliest of the node's timer, the next delayed datagram and
    /// the next look at the interfaces (with LAN discovery).
    fn next_deadline(&self) -> Option<Time> {
        let delayed = self.delayed.peek().map(|Reverse(d)| d.due);
        let interfaces = self.lan.as_ref().map(|_| self.interfaces_due);
        [self.host.node().poll_timeout(), delayed, interfaces]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reads announcements from the LAN socket (at most `MAX_LAN_READS`
    /// this time) and hands them to the node, as any datagram.
    fn read_lan(&mut self) {
        let mut fed = 0;
        loop {
            if fed == MAX_LAN_READS {
                self.lan_unread = true;
                break;
            }
            let Some(lan) = &self.lan else {
                return;
            };
            match lan.recv_from(&mut self.recv_buf) {
                Ok((n, from)) => {
                    fed += 1;
                    self.receive(from, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stats.recv_errors += 1;
                    fed += 1;
                }
            }
        }
        if fed > 0 {
            self.settle();
        }
    }

    /// Looks at the interfaces when due: if they changed, the LAN socket
    /// joins the group on the new ones and the node announces again.
    fn check_interfaces(&mut self, now: Time) {
        let Some(lan) = self.lan.as_mut() else {
            return;
        };
        if now < self.interfaces_due {
            return;
        }
        self.interfaces_due = now + INTERFACE_CHECK;
        if lan.refresh() {
            self.discovery = DiscoveryState::On(lan.interfaces());
            self.host.node_mut().addresses_changed(now);
        }
    }

    /// The datagram of `n` bytes in `recv_buf` from `from`, through the
    /// injected faults: dropped, held back, or fed to the node now (true).
    fn receive(&mut self, from: SocketAddr, n: usize) -> bool {
        let now = self.now();
        match self.fate(now) {
            Fate::Drop => {
                self.stats.injected_loss_in += 1;
                false
            }
            Fate::DeliverAt(due) if due > now => {
                let bytes = self.recv_buf[..n].to_vec();
                self.hold(due, Direction::In, from, bytes);
                false
            }
            Fate::DeliverAt(_) => {
                let bytes = std::mem::take(&mut self.recv_buf);
                self.feed(now, from, &bytes[..n]);
                self.recv_buf = bytes;
                true
            }
        }
    }

    /// Reads until the socket would block, feeding the node and settling
    /// after each batch.
    fn read_socket(&mut self) {
        let mut fed = 0;
        let mut errors = 0;
        loop {
            match self.socket.recv_from(&mut self.recv_buf) {
                Ok((n, from)) => {
                    if self.receive(from, n) {
                        fed += 1;
                        if fed == MAX_BATCH {
                            self.settle();
                            fed = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // E.g. an ICMP error reported on the socket: count it
                    // and read on; give up on this wake-up if they persist.
                    self.stats.recv_errors += 1;
                    errors += 1;
                    if errors == 64 {
                        break;
                    }
                }
            }
        }
        if fed > 0 {
            self.settle();
        }
    }

    /// Hands a datagram to the node; tells the user (rate-limited) when it
    /// was refused for a reason they can fix, such as another group secret.
    fn feed(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.host.node_mut().handle_datagram(now, from, bytes);
    }

    /// The next event for the front end. A refused datagram
    /// (`Event::Refused`) becomes a notice instead, at most one per reason
    /// in a quiet period: a misconfigured peer must not flood the user.
    fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.host.poll_event()? {
                Event::Refused { from, reason } => {
                    let now = self.now();
                    if let Some(mut notice) = self.refusals.note(reason, from, now) {
                        if reason == Refusal::OtherDocument {
                            let node = self.host.node();
                            notice += &format!(
                                " (its document {}, ours {})",
                                document_name(node.foreign_document()),
                                document_name(node.document())
                            );
                        }
                        self.host.push_notice(notice);
                    }
                }
                event => return Some(event),
            }
        }
    }

    /// Delivers delayed datagrams that are due and runs the node's timers.
    fn fire_timers(&mut self) {
        let now = self.now();
        while self.delayed.peek().is_some_and(|Reverse(d)| d.due <= now) {
            let Some(Reverse(d)) = self.delayed.pop() else {
                break;
            };
            self.delayed_bytes -= d.bytes.len();
            match d.direction {
                Direction::In => self.feed(now, d.addr, &d.bytes),
                Direction::Out if !self.host.node().is_online() => self.stats.dropped_offline += 1,
                Direction::Out => self.send(Transmit {
                    to: d.addr,
                    bytes: d.bytes,
                }),
            }
        }
        self.check_interfaces(now);
        if self.node().poll_timeout().is_some_and(|t| t <= now) {
            self.host.node_mut().handle_timeout(now);
        }
        self.settle();
    }

    /// After any input to the node: the host persists and collects
    /// events, then what it yields is sent.
    fn settle(&mut self) {
        self.host.settle(unix_ms_now());
        self.drain_transmits();
    }

    fn drain_transmits(&mut self) {
        // While sends are blocked the node keeps its queue: that is the
        // backpressure. `flush_blocked` comes back here once writable.
        // (The host yields nothing while a write fails: see `host`.)
        while self.blocked.is_empty() {
            let Some(transmit) = self.host.poll_transmit() else {
                break;
            };
            let now = self.now();
            match self.fate(now) {
                Fate::Drop => self.stats.injected_loss_out += 1,
                Fate::DeliverAt(due) if due > now => {
                    self.hold(due, Direction::Out, transmit.to, transmit.bytes)
                }
                Fate::DeliverAt(_) => self.send(transmit),
            }
        }
    }

    fn fate(&mut self, now: Time) -> Fate {
        if self.faults.is_active() {
            self.faults.decide(now)
        } else {
            Fate::DeliverAt(now)
        }
    }

    fn hold(&mut self, due: Time, direction: Direction, addr: SocketAddr, bytes: Vec<u8>) {
        if self.delayed_bytes + bytes.len() > MAX_DELAYED_BYTES {
            self.stats.delay_queue_full += 1;
            return;
        }
        self.delayed_bytes += bytes.len();
        self.stats.delayed += 1;
        self.delayed_seq += 1;
        self.delayed.push(Reverse(Delayed {
            due,
            seq: self.delayed_seq,
            direction,
            addr,
            bytes,
        }));
    }

    /// Sends now, or queues behind earlier blocked sends. An announcement
    /// goes out on the LAN socket (never queued: the next one follows).
    fn send(&mut self, transmit: Transmit) {
        if let Some(lan) = self.lan.as_ref().filter(|lan| transmit.to == lan.group()) {
            self.stats.send_errors += lan.send(&transmit.bytes);
            return;
        }
        if !self.blocked.is_empty() {
            self.blocked.push_back(transmit);
            return;
        }
        match self.socket.send_to(&transmit.bytes, transmit.to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.sends_blocked += 1;
                self.blocked.push_back(transmit);
            }
            Err(_) => self.stats.send_errors += 1,
        }
    }

    fn flush_blocked(&mut self) {
        while let Some(transmit) = self.blocked.front() {
            match self.socket.send_to(&transmit.bytes, transmit.to) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.stats.send_errors += 1,
            }
            self.blocked.pop_front();
        }
        self.drain_transmits();
    }
}

/// Wall-clock time for the log's records (not for the protocol).
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Rounds a duration for display: `0.42ms`, `12ms`, `3.1s`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else if us < 10_000_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;

/// A document id as `status` and notices show it: 8 hex digits, or "none
/// yet" for a newcomer's.
pub fn document_name(document: u32) -> String {
    match document {
        0 => "none yet".to_string(),
        d => format!("{d:08x}"),
    }
}
