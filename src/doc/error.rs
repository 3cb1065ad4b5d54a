use super::id::Id;

/// Why an edit or an op was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("position {pos} is out of range (document has {len} chars)")]
    OutOfRange { pos: usize, len: usize },
    #[error("invalid op: {0}")]
    InvalidOp(&'static str),
    #[error("op {0:?} reuses an id already known with other content")]
    Conflict(Id),
    #[error("too many ops held waiting for their dependencies")]
    PendingFull,
    /// The op needs history this replica has cleaned up (see `Doc::collect`):
    /// its author made it without knowing of that cleanup (a member that was
    /// declared gone) and must rejoin.
    #[error("op needs history cleaned up here (char {0:?}); its author must rejoin")]
    Collected(Id),
    /// A snapshot that lacks history this replica has cleaned up: older
    /// than what is here (a late copy, or one a peer began before this
    /// replica restarted), so it has nothing to give and cannot take our
    /// ops back in.
    #[error("snapshot is older than the history cleaned up here")]
    StaleSnapshot,
}
