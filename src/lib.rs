//! rumor: a peer-to-peer collaborative plain-text editor.
//!
//! Layers (see DESIGN.md): [`doc`] is the sequence CRDT, [`wire`] the
//! datagram format, [`node`] the sans-IO protocol state machine; [`host`]
//! is one replica (node, storage, boot, persist-then-send), which [`net`]
//! drives over real UDP with the file [`store`] (and `sim` over a simulated
//! disk);
//! [`cli`] is the `rumor` program's command line.

pub mod cli;
pub mod commands;
pub mod doc;
pub mod host;
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
