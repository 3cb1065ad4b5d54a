//! The same work done by rumor and by the strongest existing Rust text
//! CRDTs, so benches can compare them in one run. Shared by `benches/doc.rs`
//! and `examples/compare.rs` (included with `#[path]`); both binaries
//! declare `mod traces` (the trace loader) and install [`alloc::Counting`].
//!
//! Each contender does, on a sequential trace:
//! - `local`: replay every patch as local edits on a fresh document;
//! - `encode`: serialize the whole history a new peer needs;
//! - `remote`: build a fresh replica from that history the way a peer that
//!   receives it would (op by op where the library has such a path);
//! - `load`: build a fresh replica from the encoded bytes in one piece;
//! - the heap the document keeps after `local` (measured by the caller).
//!
//! What each library's numbers mean exactly is in [`Contender::NOTES`].

pub mod alloc;

use crate::traces::{ConcurrentTrace, SequentialTrace};

/// Replays `trace` as local edits on `C`, checks the text where `C` keeps
/// one, and returns the document with the heap bytes it retains.
pub fn replay_checked<C: Contender>(trace: &SequentialTrace) -> (C::Doc, usize) {
    let (doc, heap) = alloc::retained(|| C::local(trace));
    if let Some(text) = C::text(&doc) {
        assert!(
            text == trace.end_content,
            "{} got the wrong text on {}",
            C::NAME,
            trace.name
        );
    }
    (doc, heap)
}

/// One library under test. `Remote` is what a receiving peer gets, made
/// outside the timed part.
pub trait Contender {
    const NAME: &'static str;
    /// What the numbers of this library mean, when not obvious.
    const NOTES: &'static str;
    type Doc;
    type Remote: Clone;

    fn local(trace: &SequentialTrace) -> Self::Doc;
    /// The document's text, to check every contender really did the work.
    fn text(doc: &Self::Doc) -> Option<String>;
    /// The encoded history, or `None` if the library has none.
    fn encode(doc: &Self::Doc) -> Option<Vec<u8>>;
    /// What a remote replica receives, or `None` if there is no remote path.
    fn remote_input(doc: &Self::Doc, trace: &SequentialTrace) -> Option<Self::Remote>;
    /// Builds a fresh replica from `input`; returns its visible length in chars.
    fn remote(input: Self::Remote) -> usize;
    /// Loads a fresh replica from [`Contender::encode`]'s bytes in one piece;
    /// returns its visible length (or `None` without such a path).
    fn load(bytes: &[u8]) -> Option<usize>;
}

// ---------------------------------------------------------------------------

pub struct Rumor;

impl Contender for Rumor {
    const NAME: &'static str = "rumor";
    const NOTES: &'static str =
        "encode: Doc::encode_history (compact, deflated); remote: Doc::apply of each op, in order (decoding not included; diamond-types and yrs include theirs)";
    type Doc = rumor::Doc;
    type Remote = Vec<rumor::Op>;

    fn local(trace: &SequentialTrace) -> rumor::Doc {
        let mut doc = rumor::Doc::new(rumor::ReplicaId(1));
        for patch in trace.patches() {
            patch.apply_to(&mut doc).expect("patch in range");
        }
        doc
    }

    fn text(doc: &rumor::Doc) -> Option<String> {
        Some(doc.text())
    }

    fn encode(doc: &rumor::Doc) -> Option<Vec<u8>> {
        Some(doc.encode_history())
    }

    fn remote_input(doc: &rumor::Doc, _: &SequentialTrace) -> Option<Vec<rumor::Op>> {
        Some(doc.ops_since(&rumor::VersionVector::new()))
    }

    fn remote(ops: Vec<rumor::Op>) -> usize {
        let mut doc = rumor::Doc::new(rumor::ReplicaId(2));
        for op in ops {
            doc.apply(op).expect("op applies");
        }
        doc.len()
    }

    fn load(bytes: &[u8]) -> Option<usize> {
        let doc = rumor::Doc::decode_history(rumor::ReplicaId(2), bytes).expect("history decodes");
        Some(doc.len())
    }
}

/// rumor's ops as a full op-by-op sync sends them: postcard of
/// `ops_since(empty)`, before framing (no compression).
pub fn rumor_ops_postcard(doc: &rumor::Doc) -> Vec<u8> {
    let ops = doc.ops_since(&rumor::VersionVector::new());
    postcard::to_allocvec(&ops).expect("ops encode")
}

// ---------------------------------------------------------------------------

pub struct DiamondTypes;

impl Contender for DiamondTypes {
    const NAME: &'static str = "diamond-types";
    const NOTES: &'static str =
        "encode: OpLog::encode(ENCODE_FULL); remote: ListCRDT::load_from (decode + merge the whole history at once; no op-by-op path)";
    type Doc = diamond_types::list::ListCRDT;
    type Remote = Vec<u8>;

    fn local(trace: &SequentialTrace) -> Self::Doc {
        use diamond_types::list::operation::Operation;
        let mut doc = diamond_types::list::ListCRDT::new();
        let agent = doc.get_or_create_agent_id("a");
        let mut ops = Vec::with_capacity(2);
        for patch in trace.patches() {
            ops.clear();
            if patch.del > 0 {
                ops.push(Operation::new_delete(patch.pos..patch.pos + patch.del));
            }
            if !patch.ins.is_empty() {
                ops.push(Operation::new_insert(patch.pos, &patch.ins));
            }
            doc.apply_local_operations(agent, &ops);
        }
        doc
    }

    fn text(doc: &Self::Doc) -> Option<String> {
        Some(doc.branch.content().to_string())
    }

    fn encode(doc: &Self::Doc) -> Option<Vec<u8>> {
        Some(doc.oplog.encode(diamond_types::list::encoding::ENCODE_FULL))
    }

    fn remote_input(doc: &Self::Doc, _: &SequentialTrace) -> Option<Vec<u8>> {
        Self::encode(doc)
    }

    fn remote(bytes: Vec<u8>) -> usize {
        Self::load(&bytes).expect("dt loads")
    }

    fn load(bytes: &[u8]) -> Option<usize> {
        let doc = diamond_types::list::ListCRDT::load_from(bytes).expect("dt decodes");
        Some(doc.len())
    }
}

// ---------------------------------------------------------------------------

pub struct Cola;

/// A cola edit as a peer receives it (cola keeps no text: positions only).
#[derive(Clone)]
pub enum ColaEdit {
    Insert(cola::Insertion),
    Delete(cola::Deletion),
}

fn cola_replay(trace: &SequentialTrace, mut sink: impl FnMut(ColaEdit)) -> cola::Replica {
    let mut replica = cola::Replica::new(1, 0);
    for patch in trace.patches() {
        if patch.del > 0 {
            sink(ColaEdit::Delete(
                replica.deleted(patch.pos..patch.pos + patch.del),
            ));
        }
        if !patch.ins.is_empty() {
            let len = patch.ins.chars().count();
            sink(ColaEdit::Insert(replica.inserted(patch.pos, len)));
        }
    }
    replica
}

impl Contender for Cola {
    const NAME: &'static str = "cola";
    const NOTES: &'static str =
        "stores no text (positions only); encode: Replica::encode (state, no text); remote: integrate_insertion/deletion of each edit, in order";
    type Doc = cola::Replica;
    type Remote = Vec<ColaEdit>;

    fn local(trace: &SequentialTrace) -> cola::Replica {
        cola_replay(trace, |edit| {
            std::hint::black_box(edit);
        })
    }

    fn text(_: &cola::Replica) -> Option<String> {
        None
    }

    fn encode(doc: &cola::Replica) -> Option<Vec<u8>> {
        Some(postcard::to_allocvec(&doc.encode()).expect("cola encodes"))
    }

    fn remote_input(_: &cola::Replica, trace: &SequentialTrace) -> Option<Vec<ColaEdit>> {
        let mut edits = Vec::new();
        cola_replay(trace, |edit| edits.push(edit));
        Some(edits)
    }

    fn remote(edits: Vec<ColaEdit>) -> usize {
        // A peer joins an existing session by forking its initial state.
        let mut replica = cola::Replica::new(1, 0).fork(2);
        for edit in &edits {
            match edit {
                ColaEdit::Insert(ins) => {
                    std::hint::black_box(replica.integrate_insertion(ins));
                }
                ColaEdit::Delete(del) => {
                    std::hint::black_box(replica.integrate_deletion(del));
                }
            }
        }
        replica.len()
    }

    fn load(bytes: &[u8]) -> Option<usize> {
        let encoded: cola::EncodedReplica = postcard::from_bytes(bytes).expect("cola bytes");
        let replica = cola::Replica::decode(2, &encoded).expect("cola decodes");
        Some(replica.len())
    }
}

// ---------------------------------------------------------------------------

pub struct Yrs;

fn yrs_doc(client: u64) -> yrs::Doc {
    let mut options = yrs::Options::with_client_id(yrs::block::ClientID::new(client));
    // Code points; equal to UTF-16 units in these traces (no astral chars).
    options.offset_kind = yrs::OffsetKind::Utf16;
    yrs::Doc::with_options(options)
}

/// Replays `trace` on a yrs doc, one transaction per trace txn; `sink` sees
/// each transaction's v2 update (or nothing, when `None`).
fn yrs_replay(trace: &SequentialTrace, mut sink: Option<&mut Vec<Vec<u8>>>) -> yrs::Doc {
    use yrs::{Text, Transact};
    let doc = yrs_doc(1);
    let text = doc.get_or_insert_text("text");
    for txn in &trace.txns {
        let mut t = doc.transact_mut();
        for patch in txn {
            if patch.del > 0 {
                text.remove_range(&mut t, patch.pos as u32, patch.del as u32);
            }
            if !patch.ins.is_empty() {
                text.insert(&mut t, patch.pos as u32, &patch.ins);
            }
        }
        if let Some(updates) = sink.as_deref_mut() {
            updates.push(t.encode_update_v2());
        }
    }
    doc
}

impl Contender for Yrs {
    const NAME: &'static str = "yrs";
    const NOTES: &'static str =
        "one transaction per trace txn; encode: encode_state_as_update_v2; remote: decode_v2 + apply_update of each txn's update, in order";
    type Doc = yrs::Doc;
    type Remote = Vec<Vec<u8>>;

    fn local(trace: &SequentialTrace) -> yrs::Doc {
        yrs_replay(trace, None)
    }

    fn text(doc: &yrs::Doc) -> Option<String> {
        use yrs::{GetString, Transact};
        let text = doc.get_or_insert_text("text");
        Some(text.get_string(&doc.transact()))
    }

    fn encode(doc: &yrs::Doc) -> Option<Vec<u8>> {
        use yrs::{ReadTxn, Transact};
        Some(
            doc.transact()
                .encode_state_as_update_v2(&yrs::StateVector::default()),
        )
    }

    fn remote_input(_: &yrs::Doc, trace: &SequentialTrace) -> Option<Vec<Vec<u8>>> {
        let mut updates = Vec::new();
        yrs_replay(trace, Some(&mut updates));
        Some(updates)
    }

    fn remote(updates: Vec<Vec<u8>>) -> usize {
        use yrs::updates::decoder::Decode;
        use yrs::{Text, Transact};
        let doc = yrs_doc(2);
        let text = doc.get_or_insert_text("text");
        for bytes in &updates {
            let update = yrs::Update::decode_v2(bytes).expect("yrs decodes");
            doc.transact_mut()
                .apply_update(update)
                .expect("yrs applies");
        }
        let len = text.len(&doc.transact()) as usize;
        len
    }

    fn load(bytes: &[u8]) -> Option<usize> {
        use yrs::updates::decoder::Decode;
        use yrs::{Text, Transact};
        let doc = yrs_doc(2);
        let text = doc.get_or_insert_text("text");
        let update = yrs::Update::decode_v2(bytes).expect("yrs decodes");
        doc.transact_mut()
            .apply_update(update)
            .expect("yrs applies");
        let len = text.len(&doc.transact()) as usize;
        Some(len)
    }
}

// ---------------------------------------------------------------------------

/// A plain rope with no CRDT at all: the floor for local edits.
pub struct Jumprope;

impl Contender for Jumprope {
    const NAME: &'static str = "jumprope";
    const NOTES: &'static str = "a rope, no CRDT: local edits only";
    type Doc = jumprope::JumpRope;
    type Remote = ();

    fn local(trace: &SequentialTrace) -> jumprope::JumpRope {
        let mut rope = jumprope::JumpRope::new();
        for patch in trace.patches() {
            rope.replace(patch.pos..patch.pos + patch.del, &patch.ins);
        }
        rope
    }

    fn text(rope: &jumprope::JumpRope) -> Option<String> {
        Some(rope.to_string())
    }

    fn encode(_: &jumprope::JumpRope) -> Option<Vec<u8>> {
        None
    }

    fn remote_input(_: &jumprope::JumpRope, _: &SequentialTrace) -> Option<()> {
        None
    }

    fn remote(_: ()) -> usize {
        0
    }

    fn load(_: &[u8]) -> Option<usize> {
        None
    }
}

// ---------------------------------------------------------------------------
// Concurrent traces: several agents, each txn made at the merge of its
// parents. The measure is the merge of the whole history into a fresh
// replica (rumor: `decode_history`, and `apply` of every op; diamond-types:
// `load_from`, which merges with its own algorithm).

/// The trace's whole history as rumor holds it: one replica per agent,
/// each brought to exactly its txn's parents before the txn's edits (see
/// `tests/traces.rs`), every op gathered in one replica that is returned.
pub fn rumor_concurrent(trace: &ConcurrentTrace) -> rumor::Doc {
    use rumor::{Doc, ReplicaId, VersionVector};
    let mut all = Doc::new(ReplicaId(0));
    let mut agents: Vec<Doc> = (0..trace.num_agents)
        .map(|a| Doc::new(ReplicaId(a as u64 + 1)))
        .collect();
    let mut versions: Vec<VersionVector> = Vec::with_capacity(trace.txns.len());
    for txn in &trace.txns {
        let mut target = VersionVector::new();
        for &p in &txn.parents {
            target.merge(&versions[p]);
        }
        let doc = &mut agents[txn.agent];
        for op in all.ops_since(doc.version_ref()) {
            let span = op.span();
            let wanted = target.get(span.start.replica);
            if span.start.counter >= wanted {
                continue;
            }
            let op = if span.end_counter() > wanted {
                op.slice(0, wanted - span.start.counter)
            } else {
                op
            };
            doc.apply(op).expect("trace op applies");
        }
        assert_eq!(doc.version_ref(), &target, "replica at the txn's parents");
        for patch in &txn.patches {
            patch.apply_to(doc).expect("patch in range");
        }
        for op in doc.ops_since(&target) {
            all.apply(op).expect("op applies");
        }
        versions.push(doc.version());
    }
    assert!(
        all.text() == trace.end_content,
        "rumor: {} merges to the wrong text",
        trace.name
    );
    all
}

/// The trace's whole history as a diamond-types oplog: each patch added at
/// the version of the txn's parents (then at the previous patch).
pub fn dt_concurrent(trace: &ConcurrentTrace) -> diamond_types::list::OpLog {
    let oplog = dt_concurrent_unchecked(trace);
    assert!(
        oplog.checkout_tip().content().to_string() == trace.end_content,
        "diamond-types: {} merges to the wrong text",
        trace.name
    );
    oplog
}

/// [`dt_concurrent`] without checking the text it merges to.
pub fn dt_concurrent_unchecked(trace: &ConcurrentTrace) -> diamond_types::list::OpLog {
    let mut oplog = diamond_types::list::OpLog::new();
    let agents: Vec<_> = (0..trace.num_agents)
        .map(|a| oplog.get_or_create_agent_id(&format!("agent{a}")))
        .collect();
    let mut last: Vec<usize> = Vec::with_capacity(trace.txns.len());
    for txn in &trace.txns {
        let mut version: Vec<usize> = txn.parents.iter().map(|&p| last[p]).collect();
        version.sort_unstable();
        let agent = agents[txn.agent];
        for patch in &txn.patches {
            if patch.del > 0 {
                let t = oplog.add_delete_at(agent, &version, patch.pos..patch.pos + patch.del);
                version = vec![t];
            }
            if !patch.ins.is_empty() {
                let t = oplog.add_insert_at(agent, &version, patch.pos, &patch.ins);
                version = vec![t];
            }
        }
        last.push(version[0]);
    }
    oplog
}

/// What each library measures on a concurrent trace.
pub struct Merged {
    /// The encoded whole history.
    pub bytes: Vec<u8>,
    /// What op-by-op apply receives (rumor only).
    pub ops: Option<Vec<rumor::Op>>,
}

pub fn rumor_merged(trace: &ConcurrentTrace) -> Merged {
    let doc = rumor_concurrent(trace);
    Merged {
        bytes: doc.encode_history(),
        ops: Some(doc.ops_since(&rumor::VersionVector::new())),
    }
}

pub fn dt_merged(trace: &ConcurrentTrace) -> Merged {
    let oplog = dt_concurrent(trace);
    Merged {
        bytes: oplog.encode(diamond_types::list::encoding::ENCODE_FULL),
        ops: None,
    }
}
