//! rumor: a peer-to-peer collaborative plain-text editor.
//!
//! Layers (see DESIGN.md): [`doc`] is the sequence CRDT, [`wire`] the
//! datagram format, [`node`] the sans-IO protocol state machine; [`store`]
//! keeps a replica durable on disk and [`net`] drives a node over real UDP;
//! [`cli`] is the `rumor` program's command line.

pub mod cli;
pub mod doc;
pub mod net;
pub mod node;
pub mod store;
pub mod tui;
pub mod wire;

pub use doc::{
    Applied, Doc, DocStats, Id, IdSpan, Op, OpKind, Patch, ReplicaId, TargetSpan, VersionVector,
};

/// The README's Rust examples, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
