//! rumor: a peer-to-peer collaborative plain-text editor.
//!
//! Layers (see DESIGN.md): [`doc`] is the sequence CRDT; [`store`] keeps a
//! replica durable on disk.

pub mod doc;
pub mod store;

pub use doc::{Applied, Doc, Id, IdSpan, Op, OpKind, Patch, ReplicaId, VersionVector};
