//! The recent ops this replica has made durable (its own and its peers'),
//! with the time each was written, for the `history` command, and the
//! whole order it applied them in ([`Versions`], which names `@N`).

use std::collections::VecDeque;

use super::versions::Versions;
use crate::doc::{Doc, Id, Op, OpKind};

/// How many ops are remembered.
pub const HISTORY_CAP: usize = 10_000;
/// How many chars of an insert are remembered.
const PREVIEW_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The first chars of the inserted text.
    Insert {
        preview: String,
    },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its place in the order this replica applied ops: the version `@N`
    /// is the document right after it.
    pub number: usize,
    /// When this replica wrote the op, ms since the Unix epoch. (Ops that
    /// reached a snapshot are not listed after a restart: a snapshot keeps
    /// the document, not when each op was written.)
    pub unix_ms: u64,
    /// First id of the op; `id.replica` made it.
    pub id: Id,
    /// Chars inserted or deleted.
    pub len: u64,
    pub change: Change,
}

#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<HistoryEntry>,
    versions: Versions,
}

impl History {
    /// A history that goes on from a stored record of versions.
    pub fn with_versions(versions: Versions) -> History {
        History {
            entries: VecDeque::new(),
            versions,
        }
    }

    /// Every entry's place and time: what names the versions.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    pub fn versions_mut(&mut self) -> &mut Versions {
        &mut self.versions
    }

    /// Makes the record of versions agree with `doc` (see
    /// [`Versions::catch_up`]).
    pub fn catch_up(&mut self, doc: &Doc) {
        self.versions.catch_up(doc);
    }

    /// [`Versions::catch_up_within`].
    pub fn catch_up_within(&mut self, doc: &Doc) {
        self.versions.catch_up_within(doc);
    }

    pub fn record(&mut self, op: &Op, unix_ms: u64) {
        let number = self.versions.record(op.id, op.len(), unix_ms);
        let change = match &op.kind {
            OpKind::Insert { text, .. } => Change::Insert {
                preview: text.chars().take(PREVIEW_CHARS).collect(),
            },
            OpKind::Delete { .. } => Change::Delete,
        };
        if self.entries.len() == HISTORY_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(HistoryEntry {
            number,
            unix_ms,
            id: op.id,
            len: op.len(),
            change,
        });
    }

    /// The last `n` entries, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &HistoryEntry> {
        self.entries
            .iter()
            .skip(self.entries.len().saturating_sub(n))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for ms since the Unix epoch.
pub fn format_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{IdSpan, ReplicaId, TargetSpan};

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_796_083_199_000), "2026-11-30 23:59:59");
    }

    #[test]
    fn keeps_the_last_ops() {
        let mut h = History::default();
        let r = ReplicaId(9);
        for i in 0..HISTORY_CAP as u64 + 5 {
            let op = Op {
                id: Id::new(r, i),
                kind: OpKind::Delete {
                    targets: vec![TargetSpan::forward(IdSpan::new(
                        Id::new(ReplicaId(1), i),
                        1,
                    ))],
                },
            };
            h.record(&op, i);
        }
        assert_eq!(h.len(), HISTORY_CAP);
        let last: Vec<u64> = h.last(2).map(|e| e.unix_ms).collect();
        assert_eq!(last, vec![HISTORY_CAP as u64 + 3, HISTORY_CAP as u64 + 4]);
    }
}
