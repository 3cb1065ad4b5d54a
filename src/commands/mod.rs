//! The command layer both front ends share: the command language (parse,
//! escape), a session that runs commands against a [`crate::net::Driver`]
//! and words their replies, and the input a session reads. The prompt and
//! script mode (`cli`) and the full-screen editor (`tui`) sit on top of it;
//! it knows neither.

pub mod command;
pub mod input;
pub mod session;
pub mod versions;
