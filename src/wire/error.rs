//! Why bytes are not a datagram this node can read: the one error type of
//! the decoder, shared by the datagram layer (`codec`) and the frames
//! (`frame`), so neither needs the other for it.

use super::VERSION;

/// Why bytes are not a datagram this node can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a rumor datagram")]
    NotRumor,
    #[error("protocol version {0} (this node speaks {VERSION})")]
    WrongVersion(u8),
    #[error("datagram too large ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed datagram: {0}")]
    Malformed(&'static str),
    #[error("a sealed datagram, but this node has no group secret (--secret-file)")]
    Sealed,
    #[error("a datagram in the clear, but this node accepts only sealed ones")]
    Unsealed,
    #[error(
        "authentication failed: the sender has another group secret, or the bytes were altered"
    )]
    BadTag,
}
