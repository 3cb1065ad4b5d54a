//! One replica, hosted: the protocol node, its durable storage, the
//! history of what it wrote and the notices for its user. This is the one
//! place that decides what is persisted, when, and in what order; the real
//! driver (`net`, over the file store) and the simulator (`sim`, over a
//! simulated disk) both drive a [`Host`].
//!
//! The calling contract, for a driver:
//!
//! 1. [`Host::boot`] builds the replica from what its storage recovered (a
//!    snapshot and the log's ops after it) and hands the node its peers.
//! 2. After every input to the node (a datagram, a timeout, an edit, a
//!    command), call [`Host::settle`]. It persists what the document gained
//!    (one durable append per batch, compacting the log when it has grown;
//!    storing the new id and document after a rejoin), then moves the
//!    node's events to [`Host::poll_event`].
//! 3. Then drain [`Host::poll_transmit`]. It yields nothing while the
//!    document holds ops that are not durable: a datagram could carry one,
//!    and a replica that crashed before writing it would use its id again
//!    for other content. Once a write succeeds (settle retries on every
//!    input), sending resumes.
//! 4. Wait until [`Hosted::poll_timeout`] or the next input, and go to 2.
//!
//! A failed write is not an exception to handle elsewhere: the edit stays
//! in the document (in memory only, held back from peers), the user is told
//! so ([`Host::persist_error`], a notice), and nothing already durable is
//! lost. The host never touches a socket, a clock or a real file: time and
//! wall-clock stamps come in as arguments.

mod history;
mod storage;
mod tags;
mod versions;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

pub use history::{format_utc, Change, History, HistoryEntry, HISTORY_CAP};
pub use storage::Storage;
pub use tags::{valid_name, Kept, Tag, TagName, Tags, MAX_TAG_NAME};
pub use versions::{Stamp, Versions};

use crate::doc::{Doc, Op, ReplicaId, VersionVector};
use crate::node::{self, Event, Membership, Node, Time, Transmit};
pub use crate::store::{Entry, Recovered};

/// What the host needs of a protocol node beyond its sans-IO surface:
/// the real [`Node`], and the simulator's test protocols.
pub trait Hosted {
    fn new(doc: Doc, config: node::Config, rng: ChaCha8Rng, now: Time) -> Self;
    fn doc(&self) -> &Doc;
    fn poll_event(&mut self) -> Option<Event>;
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Time>;
    fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool;
    /// A snapshot of the document now, for compaction (`None`: this
    /// protocol has none, and the log is never compacted).
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        None
    }
    /// The snapshot the node holds already, if any (made or loaded).
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        None
    }
    /// The document's snapshot as stored (`version` is what it holds):
    /// the node hands it to newcomers without making its own.
    fn offer_snapshot(&mut self, _version: VersionVector, _bytes: Arc<[u8]>) {}
    /// Makes the snapshot a newcomer gets, ahead of time.
    fn prepare_snapshot(&mut self) {}
    /// Differs from its last value whenever [`Hosted::membership`] may
    /// have changed (`None`: this protocol keeps no membership).
    fn membership_changes(&self) -> Option<(u64, bool, u32)> {
        None
    }
    /// What the replica must remember about its group across restarts.
    fn membership(&self) -> Option<Membership> {
        None
    }
    /// At boot, before any input: the membership the storage kept.
    fn restore_membership(&mut self, _now: Time, _membership: &Membership) {}
    /// Spreads a tag to the group (`None`: this protocol has no tags).
    fn spread_tag(&mut self, _tag: TagName) {}
}

impl Hosted for Node {
    fn new(doc: Doc, config: node::Config, rng: ChaCha8Rng, now: Time) -> Self {
        Node::new(doc, config, rng, now)
    }
    fn doc(&self) -> &Doc {
        Node::doc(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Node::poll_event(self)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Node::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Time> {
        Node::poll_timeout(self)
    }
    fn add_peer(&mut self, now: Time, addr: SocketAddr) -> bool {
        Node::add_peer(self, now, addr)
    }
    fn snapshot_now(&mut self) -> Option<Arc<[u8]>> {
        Some(Node::snapshot_now(self))
    }
    fn current_snapshot(&self) -> Option<&Arc<[u8]>> {
        Node::current_snapshot(self)
    }
    fn offer_snapshot(&mut self, version: VersionVector, bytes: Arc<[u8]>) {
        Node::offer_snapshot(self, version, bytes)
    }
    fn prepare_snapshot(&mut self) {
        Node::prepare_snapshot(self)
    }
    fn membership_changes(&self) -> Option<(u64, bool, u32)> {
        Some(Node::membership_changes(self))
    }
    fn membership(&self) -> Option<Membership> {
        Some(Node::membership(self))
    }
    fn restore_membership(&mut self, now: Time, membership: &Membership) {
        Node::restore_membership(self, now, membership)
    }
    fn spread_tag(&mut self, tag: TagName) {
        Node::spread_tag(self, tag)
    }
}

/// Counters of the host (the node counts its own).
#[derive(Debug, Clone, Default)]
pub struct HostStats {
    /// Ops made durable (or, without storage, recorded) since boot.
    pub ops_persisted: u64,
    /// Ops of the log replayed at boot, and those the document refused.
    pub ops_replayed: u64,
    pub ops_refused_on_replay: u64,
}

/// Why a replica could not boot.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the stored snapshot is not one this rumor can read ({0}); refusing to use it")]
    Snapshot(crate::doc::Error),
}

/// One replica: a node of protocol `N` over storage `S` (`None`: the
/// document lives in memory only). See the module docs for the contract.
pub struct Host<S: Storage, N: Hosted = Node> {
    node: N,
    store: Option<S>,
    /// Every op in this version is durable (or recorded, without storage).
    persisted: VersionVector,
    /// The replica of the document `persisted` was taken from.
    persisted_replica: ReplicaId,
    /// The last write failed with this message; nothing is sent until a
    /// write succeeds again.
    persist_error: Option<String>,
    history: Option<History>,
    /// Named versions (`tag NAME`).
    tags: Tags,
    events: VecDeque<Event>,
    notices: VecDeque<String>,
    /// The ops the last settle made durable, in order.
    fresh: Vec<Op>,
    /// `Hosted::membership_changes` when the membership was last written
    /// (`None`: not yet in this run).
    membership_written: Option<(u64, bool, u32)>,
    /// The membership as last written (or found at boot).
    membership: Membership,
    /// The ids this replica edited under before, oldest first (its data
    /// directory's, and those it left in this run).
    former_ids: Vec<crate::doc::ReplicaId>,
    stats: HostStats,
}

/// How to boot a replica.
pub struct BootConfig {
    pub node: node::Config,
    /// Peers to add at boot.
    pub peers: Vec<SocketAddr>,
    /// A replica given peers that has not joined their group yet (its
    /// stored membership says so; without one, it holds only its own ops)
    /// joins it as a newcomer (`Config::joining`), as `rumor` does. (Off for
    /// a group's founder.)
    pub join_if_new: bool,
    /// Keep a [`History`] of what was written (the `history` command).
    pub keep_history: bool,
    /// The document, if the replica is told it (0: kept in its storage,
    /// adopted when it joins, or made up by a founder).
    pub document: u32,
}

impl<S: Storage, N: Hosted> Host<S, N> {
    /// Builds the replica from what its storage recovered: the last
    /// snapshot and the log's entries after it (the document
    /// `Doc::new(replica)` when there is nothing). Settle before sending.
    pub fn boot(
        recovered: Recovered,
        store: Option<S>,
        config: BootConfig,
        rng: ChaCha8Rng,
        now: Time,
    ) -> Result<Host<S, N>, BootError> {
        let mut notices: VecDeque<String> = recovered.warnings.into();
        let former_ids = recovered.former_ids;
        let mut history = config.keep_history.then(|| {
            let (batches, whole) = store.as_ref().map(S::load_versions).unwrap_or_default();
            let mut versions = Versions::load(batches.iter().map(Vec::as_slice));
            if !whole {
                versions.rewrite_when_saved();
            }
            History::with_versions(versions)
        });
        let mut stats = HostStats::default();
        let mut doc = match &recovered.snapshot {
            Some(bytes) => {
                Doc::decode_history(recovered.replica, bytes).map_err(BootError::Snapshot)?
            }
            None => Doc::new(recovered.replica),
        };
        let snapshot_version = doc.version();
        // What the snapshot holds comes before the log in the record.
        if let Some(h) = &mut history {
            h.catch_up_within(&doc);
        }
        for entry in recovered.entries {
            stats.ops_replayed += 1;
            let before = doc.version_ref().total();
            match doc.apply(entry.op.clone()) {
                Ok(_) if doc.version_ref().total() > before => {
                    if let Some(h) = &mut history {
                        h.record(&entry.op, entry.unix_ms);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    stats.ops_refused_on_replay += 1;
                    notices.push_back(format!("an op in the data directory was refused: {e}"));
                }
            }
        }
        if let Some(h) = &mut history {
            h.catch_up(&doc);
        }
        let mut tags = match store.as_ref().and_then(S::load_tags) {
            Some(bytes) => Tags::decode(&bytes).unwrap_or_else(|| {
                notices.push_back("the stored tags are unreadable; starting without them".into());
                Tags::default()
            }),
            None => Tags::default(),
        };
        tags.resolve_waiting(&doc);
        // The stored snapshot is the document's, if the log added nothing.
        let stored_snapshot = recovered
            .snapshot
            .filter(|_| doc.version_ref() == &snapshot_version)
            .map(Arc::<[u8]>::from);
        if doc.pending_len() > 0 {
            notices.push_back(format!(
                "{} ops in the data directory wait for ops that are missing; peers will send those",
                doc.pending_len()
            ));
        }
        let persisted = doc.version();
        let stored: Option<Membership> =
            match recovered.membership.as_deref().map(postcard::from_bytes) {
                Some(Ok(m)) => Some(m),
                Some(Err(e)) => {
                    notices.push_back(format!(
                        "the stored membership is unreadable ({e}); starting without it: \
                         members will be learned again from peers"
                    ));
                    None
                }
                None => None,
            };
        let mut node_config = config.node;
        // A replica told of peers that has not joined their group yet joins
        // it as a newcomer (see `node::Config::joining`). Whether it has is
        // in its stored membership; a store without one (a fresh one, or
        // one from before rumor kept it) has joined if it holds any op but
        // its own.
        let only_own = doc.version_ref().iter().all(|(r, _)| r == doc.replica());
        let newcomer = match &stored {
            Some(m) => !m.joined,
            None => only_own,
        };
        node_config.joining |= config.join_if_new && !config.peers.is_empty() && newcomer;
        // A replica with nothing but a group secret (no peer, no history
        // but its own edits) looks for its group on the LAN: if it knows of
        // no document either, it founds one when it meets no member in
        // time (see `node::join`, "Founding alone"); if it does (it heard
        // of one in an earlier run), it waits for a member of it.
        let on_lan_alone = config.peers.is_empty()
            && newcomer
            && only_own
            && node_config.key.is_some()
            && node_config.discovery.is_some()
            && node_config.found_after.is_some();
        node_config.joining |= on_lan_alone;
        if !on_lan_alone || config.document != 0 || membership_document(&stored) != 0 {
            node_config.found_after = None;
        }
        // An id kept in storage may have been used by a run whose ops this
        // storage no longer has (a restored backup): edit under a fresh one.
        node_config.id_used_before = store.is_some() && !recovered.created;
        let membership = stored.unwrap_or_default();
        // The document: as kept, or as given; a founder (a member holding
        // nothing of anyone else) makes one up. A newcomer adopts its
        // group's when it joins; a member from before documents had ids,
        // the first one a peer names (see `Node::document`).
        let mut document = match membership.document {
            0 => config.document,
            kept => kept,
        };
        if document == 0 && !node_config.joining && only_own {
            document = node::new_document(doc.replica());
        }
        node_config.document = document;
        let mut node = N::new(doc, node_config, rng, now);
        // A replica that was a member (it founded or joined the group) is
        // one again, and remembers who else was (see `node::Membership`).
        node.restore_membership(now, &membership);
        // A newcomer gets the document as one snapshot: have it ready.
        match stored_snapshot {
            Some(bytes) => {
                let version = node.doc().version();
                node.offer_snapshot(version, bytes);
            }
            None => node.prepare_snapshot(),
        }
        for &peer in &config.peers {
            node.add_peer(now, peer);
        }
        // The tags kept here go on spreading (to peers that lack them).
        for tag in tags.iter() {
            node.spread_tag(tag.name.clone());
        }
        Ok(Host {
            persisted_replica: node.doc().replica(),
            node,
            store,
            persisted,
            persist_error: None,
            history,
            tags,
            events: VecDeque::new(),
            notices,
            fresh: Vec::new(),
            membership_written: None,
            former_ids,
            membership,
            stats,
        })
    }

    pub fn node(&self) -> &N {
        &self.node
    }

    /// The node, for input (`handle_datagram`, `handle_timeout`, `edit`,
    /// commands). Call [`Host::settle`] after each.
    pub fn node_mut(&mut self) -> &mut N {
        &mut self.node
    }

    pub fn store(&self) -> Option<&S> {
        self.store.as_ref()
    }

    pub fn store_mut(&mut self) -> Option<&mut S> {
        self.store.as_mut()
    }

    /// The storage, when the replica stops (a crash: what is not durable
    /// goes with the host).
    pub fn into_store(self) -> Option<S> {
        self.store
    }

    pub fn stats(&self) -> &HostStats {
        &self.stats
    }

    /// What was written, when (if kept: [`BootConfig::keep_history`]).
    pub fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// The named versions.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// Names the document's version now `name` (replacing a tag of that
    /// name), kept at the next [`Host::settle`] and spread to peers.
    pub fn tag(&mut self, name: &str, unix_ms: u64) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "a tag name is 1 to {MAX_TAG_NAME} letters, digits, '_', '-' or '.', \
                 starting with a letter or '_'"
            ));
        }
        let doc = self.node.doc();
        let name = TagName {
            name: name.to_string(),
            version: doc.version(),
            by: doc.replica(),
            unix_ms,
        };
        self.tags.learn(name.clone(), doc);
        self.node.spread_tag(name);
        Ok(())
    }

    /// Set while a write fails: the document holds ops that are not
    /// durable, and nothing is sent.
    pub fn persist_error(&self) -> Option<&str> {
        self.persist_error.as_deref()
    }

    /// Every op in this version is durable.
    /// The ids this replica edited under before its current one, oldest
    /// first (with storage; they are "me" to its user).
    pub fn former_ids(&self) -> &[crate::doc::ReplicaId] {
        &self.former_ids
    }

    pub fn persisted(&self) -> &VersionVector {
        &self.persisted
    }

    /// The ops the last [`Host::settle`] made durable, in the order written.
    pub fn fresh(&self) -> &[Op] {
        &self.fresh
    }

    /// After any input to the node: persist, then collect its events
    /// (collected even when the write failed: they describe the document
    /// in memory).
    /// `unix_ms` stamps what is written (for `history`).
    pub fn settle(&mut self, unix_ms: u64) {
        self.fresh.clear();
        match self.persist(unix_ms) {
            Err(e) => {
                if self.persist_error.as_deref() != Some(e.as_str()) {
                    self.notices.push_back(format!(
                        "cannot write the data directory: {e}; sending nothing until it works"
                    ));
                }
                self.persist_error = Some(e);
            }
            Ok(()) => {
                if self.persist_error.take().is_some() {
                    self.notices
                        .push_back("the data directory works again".to_string());
                }
            }
        }
        // Events describe the document in memory, durable or not: an editor
        // following them must show what the replica holds.
        let mut learned = false;
        while let Some(event) = self.node.poll_event() {
            if let Event::Tag(tag) = &event {
                learned |= self.tags.learn(tag.clone(), self.node.doc());
            }
            self.events.push_back(event);
        }
        if learned && self.persist_error.is_none() {
            if let Err(e) = self.persist_tags() {
                self.notices
                    .push_back(format!("cannot write the tags a peer sent: {e}"));
            }
        }
    }

    /// The next datagram to send; none while a write is failing.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.persist_error.is_some() {
            return None;
        }
        self.node.poll_transmit()
    }

    /// The node's next event (collected by [`Host::settle`]).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True when events wait for [`Host::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// A line for the user about a repair or a failure.
    pub fn poll_notice(&mut self) -> Option<String> {
        self.notices.pop_front()
    }

    pub fn has_notices(&self) -> bool {
        !self.notices.is_empty()
    }

    /// Adds a line for the user (from the driver).
    pub fn push_notice(&mut self, notice: String) {
        self.notices.push_back(notice);
    }

    /// Appends what the document gained since the last persist, durably,
    /// and compacts the log when it has grown.
    ///
    /// Without storage, ops that came in a snapshot from a peer are not
    /// listed one by one in `history` (as after a restart, when a snapshot
    /// is loaded): a newcomer's whole history at once would only cost time.
    /// (With storage they are appended as ops: one sync, where writing the
    /// snapshot whole takes several.)
    fn persist(&mut self, unix_ms: u64) -> Result<(), String> {
        self.persist_ops(unix_ms)?;
        self.persist_versions();
        self.persist_tags()?;
        self.persist_membership()
    }

    /// Brings the record of versions up to the document (ops that came
    /// whole, in a snapshot or a rejoin, are not recorded one by one) and
    /// hands its new entries to storage. A failed write is a notice: the
    /// record is rebuilt from the document at the next boot.
    fn persist_versions(&mut self) {
        let Some(history) = &mut self.history else {
            return;
        };
        history.catch_up(self.node.doc());
        let Some((batch, whole)) = history.versions_mut().encode_unsaved() else {
            return;
        };
        if let Some(store) = &mut self.store {
            if let Err(e) = store.save_versions(&batch, whole) {
                history.versions_mut().rewrite_when_saved();
                self.notices
                    .push_back(format!("cannot write the record of versions: {e}"));
            }
        }
    }

    /// Keeps the text of tags whose ops arrived, and stores changed tags.
    fn persist_tags(&mut self) -> Result<(), String> {
        self.tags.resolve_waiting(self.node.doc());
        if let Some(bytes) = self.tags.take_changed() {
            if let Some(store) = &mut self.store {
                if let Err(e) = store.save_tags(&bytes) {
                    self.tags.mark_changed();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Writes the membership down when it changed (after the ops: a
    /// membership that says "joined" is never durable before the document
    /// it joined with).
    fn persist_membership(&mut self) -> Result<(), String> {
        let changes = self.node.membership_changes();
        if changes.is_none() || changes == self.membership_written {
            return Ok(());
        }
        let Some(membership) = self.node.membership() else {
            return Ok(());
        };
        if membership != self.membership {
            if let Some(store) = &mut self.store {
                let bytes = postcard::to_allocvec(&membership)
                    .map_err(|e| format!("cannot encode the membership: {e}"))?;
                store.save_membership(&bytes)?;
            }
            self.membership = membership;
        }
        self.membership_written = changes;
        Ok(())
    }

    fn persist_ops(&mut self, unix_ms: u64) -> Result<(), String> {
        let doc = self.node.doc();
        // A document's version only grows while its replica stays (a
        // rejoin makes a new replica): the same replica with the same
        // total is the same version. (Comparing whole versions after
        // every input cost more than the input, with hundreds of peers.)
        if doc.replica() == self.persisted_replica
            && doc.version_ref().total() == self.persisted.total()
        {
            debug_assert_eq!(doc.version_ref(), &self.persisted);
            return Ok(());
        }
        if let Some(ops) = self.grown_ops() {
            return self.persist_grown(ops, unix_ms);
        }
        let doc = self.node.doc();
        let new_id = self
            .store
            .as_ref()
            .is_some_and(|s| s.replica() != doc.replica());
        let dominates = doc.version_ref().dominates(&self.persisted);
        let grown = dominates && doc.can_serve(&self.persisted);
        // The log holds ops the document lacks: a rejoin whose write failed
        // after it stored the new id. Appending would replay both documents.
        let stale_log = self.store.is_some() && !dominates;
        let former = self.store.as_ref().map(|s| s.replica());
        if new_id && grown {
            // The run's fresh id (`Config::id_used_before`), stored before
            // any op made under it; then the ops, as usual.
            if let Some(store) = &mut self.store {
                store.set_replica(doc.replica())?;
            }
            self.former_ids.extend(former);
        } else if new_id || stale_log || !doc.can_serve(&self.persisted) {
            // The node rejoined as a new replica (see `Event::Rejoined`), or
            // loaded a snapshot with history it cannot give as ops: the
            // document is a new one, kept whole.
            if let Some(id) = former.filter(|id| new_id && !self.former_ids.contains(id)) {
                self.former_ids.push(id);
            }
            if let Some(store) = &mut self.store {
                store.rejoin(doc.replica(), &doc.encode_snapshot())?;
            }
            self.persisted_replica = doc.replica();
            // What is new of our own (ops re-made under a new id) is fresh.
            let me = doc.replica();
            let mut before = doc.version();
            before.set(me, self.persisted.get(me));
            if doc.can_serve(&before) {
                self.fresh = doc.ops_since(&before);
            }
            self.persisted = doc.version();
            return Ok(());
        }
        let version = doc.version();
        let replica = doc.replica();
        if self.store.is_none() && self.node.current_snapshot().is_some() {
            let gained = version.total() - self.persisted.total();
            if gained * 2 > version.total() {
                self.persisted_replica = replica;
                self.persisted = version;
                return Ok(());
            }
        }
        let ops = doc.ops_since(&self.persisted);
        self.write_ops(&ops, unix_ms)?;
        self.persisted_replica = replica;
        self.persisted = version;
        self.fresh = ops;
        Ok(())
    }

    /// The common case, found with one pass over the document's authors:
    /// the same replica, stored under its id, whose version grew from
    /// what is persisted (no op persisted is missing) by ops it can give
    /// (it cleaned up nothing persisted lacks). Then the new ops, which
    /// `persist_grown` writes; otherwise none (the caller decides as for
    /// any change). Comparing, copying and dropping whole versions after
    /// each input with ops cost 4% of a 300-node simulation.
    fn grown_ops(&self) -> Option<Vec<Op>> {
        let doc = self.node.doc();
        if doc.replica() != self.persisted_replica
            || self
                .store
                .as_ref()
                .is_some_and(|s| s.replica() != doc.replica())
        {
            return None;
        }
        let collected = doc.collected();
        if !collected.is_empty() && !doc.can_serve(&self.persisted) {
            return None;
        }
        let ops = doc.ops_since(&self.persisted);
        // The ops bring each replica from its persisted count to the
        // document's where that is higher: they sum to the growth of the
        // total exactly when no replica's count went down.
        let gained = ops.iter().map(Op::len).fold(0u64, u64::wrapping_add);
        let grown = doc
            .version_ref()
            .total()
            .wrapping_sub(self.persisted.total());
        let dominates = gained == grown;
        debug_assert_eq!(dominates, doc.version_ref().dominates(&self.persisted));
        dominates.then_some(ops)
    }

    /// Writes `ops`, the whole growth of the document since what is
    /// persisted (see [`Host::grown_ops`]), and moves the persisted
    /// version up by them.
    fn persist_grown(&mut self, ops: Vec<Op>, unix_ms: u64) -> Result<(), String> {
        if self.store.is_none() && self.node.current_snapshot().is_some() {
            let total = self.node.doc().version_ref().total();
            let gained = total - self.persisted.total();
            if gained * 2 > total {
                self.persisted = self.node.doc().version();
                return Ok(());
            }
        }
        self.write_ops(&ops, unix_ms)?;
        for op in &ops {
            let end = op.span().end_counter();
            if end > self.persisted.get(op.id.replica) {
                self.persisted.set(op.id.replica, end);
            }
        }
        debug_assert_eq!(&self.persisted, self.node.doc().version_ref());
        self.fresh = ops;
        Ok(())
    }

    /// Appends `ops` to the store (compacting it when due) and records
    /// them in the history.
    fn write_ops(&mut self, ops: &[Op], unix_ms: u64) -> Result<(), String> {
        if let Some(store) = &mut self.store {
            store.append(ops, unix_ms)?;
            if store.needs_compaction() {
                // The node's snapshot: it may have it already (made for a
                // newcomer, or loaded from one), and keeps it for the next.
                if let Some(snapshot) = self.node.snapshot_now() {
                    if let Err(e) = store.compact(&snapshot) {
                        // The log itself is fine; compaction is retried later.
                        self.notices
                            .push_back(format!("log compaction failed: {e}"));
                    }
                }
            }
        }
        if let Some(history) = &mut self.history {
            for op in ops {
                history.record(op, unix_ms);
            }
        }
        self.stats.ops_persisted += ops.len() as u64;
        Ok(())
    }
}

/// The document a stored membership names (0: none, or nothing stored).
fn membership_document(stored: &Option<Membership>) -> u32 {
    stored.as_ref().map_or(0, |m| m.document)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::node::{Discovery, ANNOUNCE_INTERVAL, FOUND_AFTER};
    use crate::wire::GroupKey;

    /// `rumor --secret-file F` with nothing else, as the CLI configures it
    /// (`peers`, `document`: what a ticket or `--peer` would add).
    fn boot(
        peers: Vec<SocketAddr>,
        document: u32,
        discovery: bool,
        stored: Option<Membership>,
    ) -> Host<crate::store::Store> {
        let recovered = Recovered {
            replica: ReplicaId(0x5ec2e7),
            created: stored.is_none(),
            snapshot: None,
            entries: Vec::new(),
            membership: stored.map(|m| postcard::to_allocvec(&m).unwrap()),
            former_ids: Vec::new(),
            warnings: Vec::new(),
        };
        let node = node::Config {
            key: Some(GroupKey::from_seed(3)),
            discovery: discovery.then(|| Discovery {
                group: SocketAddr::from(([239, 255, 82, 77], 47_389)),
                port: 7001,
                interval: ANNOUNCE_INTERVAL,
            }),
            found_after: Some(FOUND_AFTER),
            ..node::Config::default()
        };
        let config = BootConfig {
            node,
            peers,
            join_if_new: true,
            keep_history: false,
            document,
        };
        Host::boot(
            recovered,
            None,
            config,
            ChaCha8Rng::seed_from_u64(1),
            Time(0),
        )
        .unwrap()
    }

    #[test]
    fn only_a_replica_told_nothing_looks_for_its_group_before_founding() {
        let alone = boot(Vec::new(), 0, true, None);
        assert!(alone.node().is_founding());
        assert!(!alone.node().is_joined());
        assert_eq!(alone.node().document(), 0);

        // Told of a peer (`--peer`): a newcomer that never founds.
        let peer = SocketAddr::from(([10, 0, 0, 2], 7001));
        let told = boot(vec![peer], 0, true, None);
        assert!(!told.node().is_founding() && !told.node().is_joined());

        // Given a ticket's document (and its addresses): waits for it.
        let ticket = boot(vec![peer], 0xd0c, true, None);
        assert!(!ticket.node().is_founding() && !ticket.node().is_joined());
        assert_eq!(ticket.node().document(), 0xd0c);

        // No LAN to look on: it founds at once, as before.
        let no_lan = boot(Vec::new(), 0, false, None);
        assert!(no_lan.node().is_joined() && !no_lan.node().is_founding());
        assert_ne!(no_lan.node().document(), 0);
    }

    #[test]
    fn a_restart_keeps_what_the_last_run_learned() {
        // It had heard of a document and was waiting for it: it waits on.
        let waiting = Membership {
            joined: false,
            document: 0xd0c,
            ..Membership::default()
        };
        let h = boot(Vec::new(), 0, true, Some(waiting));
        assert!(!h.node().is_founding() && !h.node().is_joined());
        assert_eq!(h.node().document(), 0xd0c);
        // It had joined (or founded): a member at once.
        let member = Membership {
            joined: true,
            document: 0xd0c,
            ..Membership::default()
        };
        let h = boot(Vec::new(), 0, true, Some(member));
        assert!(h.node().is_joined() && !h.node().is_founding());
        assert_eq!(h.node().document(), 0xd0c);
        // It had found nothing yet: it looks again.
        let h = boot(Vec::new(), 0, true, Some(Membership::default()));
        assert!(h.node().is_founding());
    }
}
