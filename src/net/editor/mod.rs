//! The editor bridge (stub).
pub mod ot;
