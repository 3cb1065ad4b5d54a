//! rumor-sim: runs many real rumor nodes inside a seeded, deterministic
//! discrete-event simulation (see DESIGN.md, "The sim program").

pub mod broken;
pub mod config;
pub mod disk;
pub mod hash;
pub mod net;
pub mod protocol;
pub mod queue;
pub mod report;
pub mod toy;
pub mod workload;
pub mod world;

pub use config::{Partitions, Sabotage, SimConfig, Topology};
pub use report::Report;
pub use world::Simulation;

/// Runs one simulation of the real node to the end (of its deliberately
/// broken variant for `Sabotage::BrokenNode`).
pub fn run(cfg: SimConfig) -> Report {
    match cfg.sabotage {
        Some(Sabotage::BrokenNode) => Simulation::<broken::DroppingNode>::new(cfg).run(),
        _ => Simulation::<rumor::node::Node>::new(cfg).run(),
    }
}
