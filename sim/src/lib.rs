//! rumor-sim: runs many real rumor nodes inside a seeded, deterministic
//! discrete-event simulation (see DESIGN.md, "The sim program").

pub mod config;
pub mod hash;
pub mod net;
pub mod queue;
pub mod store;
pub mod workload;
