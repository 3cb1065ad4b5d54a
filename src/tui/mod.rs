//! The full-screen terminal editor, `rumor edit`.

pub mod mirror;
pub mod model;
