//! The order in which this replica applied ops, every one, with the time
//! each was written: what names the versions `@N` (the document after the
//! first N entries). The order is causal (a replica applies an op only
//! after its causes), so the ops of every prefix form a real version.
//!
//! It is the replica's own record, not the document's: kept in the data
//! directory (`versions`, appended after each durable batch of ops) and
//! checked against the document at boot. An entry lost there (the file is
//! appended without a sync; the log is the durable one) is made again from
//! the document, with time 0 (unknown). A document loaded from a snapshot
//! that this record does not cover (a data directory from before it
//! existed, or a snapshot from a peer) adds its ops as entries of time 0;
//! history it cleaned up adds one entry per replica (versions below it
//! cannot be rebuilt anyway).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::doc::{Doc, Id, IdSpan, ReplicaId, VersionVector};

/// One entry: the op (or ops of one replica, for history taken in whole)
/// with ids `id .. id + len`, applied at `unix_ms` (0: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub unix_ms: u64,
    pub id: Id,
    pub len: u64,
}

impl Stamp {
    fn end(&self) -> u64 {
        self.id.counter + self.len
    }
}

#[derive(Debug, Default, Clone)]
pub struct Versions {
    stamps: Vec<Stamp>,
    /// Per replica: the first counter of each of its entries and the
    /// entry's index (a replica's entries come in counter order).
    by_replica: BTreeMap<ReplicaId, Vec<(u64, u32)>>,
    /// What the record covers: the version after all entries.
    version: VersionVector,
    /// Entries not yet handed to storage.
    saved: usize,
    /// The stored record must be replaced whole (it was cut at boot).
    rewrite: bool,
}

impl Versions {
    /// The record as stored: batches written by [`Versions::encode_unsaved`].
    /// A batch that does not decode ends the record there.
    pub fn load<'a>(batches: impl IntoIterator<Item = &'a [u8]>) -> Versions {
        let mut v = Versions::default();
        'outer: for batch in batches {
            let Ok(stamps) = postcard::from_bytes::<Vec<Stamp>>(batch) else {
                v.rewrite = true;
                break;
            };
            for s in stamps {
                // A record that does not tile each replica's counters is
                // damaged from there on.
                if s.len == 0
                    || s.id.counter != v.version.get(s.id.replica)
                    || s.id.counter.checked_add(s.len).is_none()
                {
                    v.rewrite = true;
                    break 'outer;
                }
                v.push(s);
            }
        }
        v.saved = v.stamps.len();
        v
    }

    fn push(&mut self, s: Stamp) {
        self.by_replica
            .entry(s.id.replica)
            .or_default()
            .push((s.id.counter, self.stamps.len() as u32));
        self.version.set(s.id.replica, s.end());
        self.stamps.push(s);
    }

    /// Records ids `id .. id + len` as applied at `unix_ms`; the part of
    /// them already recorded is skipped. Returns the number of the entry
    /// holding the last of them.
    pub fn record(&mut self, id: Id, len: u64, unix_ms: u64) -> usize {
        let have = self.version.get(id.replica);
        let end = id.counter + len;
        if end > have && id.counter <= have {
            self.push(Stamp {
                unix_ms,
                id: Id::new(id.replica, have),
                len: end - have,
            });
            return self.stamps.len();
        }
        self.number_of(Id::new(id.replica, end.saturating_sub(1)))
            .unwrap_or(self.stamps.len())
    }

    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    pub fn stamps(&self) -> &[Stamp] {
        &self.stamps
    }

    /// The version after all entries.
    pub fn version(&self) -> &VersionVector {
        &self.version
    }

    /// The number (1-based) of the entry holding `id`.
    pub fn number_of(&self, id: Id) -> Option<usize> {
        let list = self.by_replica.get(&id.replica)?;
        let i = list.partition_point(|&(c, _)| c <= id.counter);
        let (_, index) = *list.get(i.checked_sub(1)?)?;
        let s = &self.stamps[index as usize];
        (id.counter < s.end()).then_some(index as usize + 1)
    }

    /// The entry holding `id`.
    pub fn stamp_of(&self, id: Id) -> Option<&Stamp> {
        self.number_of(id).map(|n| &self.stamps[n - 1])
    }

    /// The version `@n`: the ops of the first `n` entries (all of them if
    /// `n` is past the end). O(n).
    pub fn version_at(&self, n: usize) -> VersionVector {
        let mut v = VersionVector::new();
        for s in &self.stamps[..n.min(self.stamps.len())] {
            v.set(s.id.replica, s.end());
        }
        v
    }

    /// The least `n` whose version contains `floor` (`None`: none does).
    pub fn first_containing(&self, floor: &VersionVector) -> Option<usize> {
        let mut v = VersionVector::new();
        if v.dominates(floor) {
            return Some(0);
        }
        for (i, s) in self.stamps.iter().enumerate() {
            v.set(s.id.replica, s.end());
            if v.dominates(floor) {
                return Some(i + 1);
            }
        }
        None
    }

    /// The number of the last entry applied at or before `unix_ms` (0:
    /// none was). Entries of unknown time count as before any time.
    pub fn at_time(&self, unix_ms: u64) -> usize {
        self.stamps
            .iter()
            .rposition(|s| s.unix_ms <= unix_ms)
            .map_or(0, |i| i + 1)
    }

    /// The stored record is replaced whole at the next save (it was
    /// damaged, or a write failed).
    pub fn rewrite_when_saved(&mut self) {
        self.rewrite = true;
    }

    /// Makes the record agree with `doc` where they overlap, adding what
    /// `doc` has beyond it, but keeping entries beyond `doc` (a snapshot:
    /// the log replayed next holds those).
    pub fn catch_up_within(&mut self, doc: &Doc) {
        if self.version.dominates(doc.version_ref()) {
            return;
        }
        self.catch_up(doc);
    }

    /// Makes the record agree with `doc`: cut after the longest prefix
    /// `doc` holds, then the ops `doc` has beyond it added (time 0).
    pub fn catch_up(&mut self, doc: &Doc) {
        let have = doc.version_ref();
        if !have.dominates(&self.version) {
            let keep = self
                .stamps
                .iter()
                .position(|s| !have.contains_span(&IdSpan::new(s.id, s.len)))
                .unwrap_or(self.stamps.len());
            let stamps: Vec<Stamp> = self.stamps[..keep].to_vec();
            *self = Versions {
                rewrite: true,
                ..Versions::default()
            };
            for s in stamps {
                self.push(s);
            }
            self.saved = 0;
        }
        if &self.version == have {
            return;
        }
        let mut from = self.version.clone();
        if !doc.can_serve(&from) {
            // Cleaned-up history: one entry per replica up to where the
            // log starts.
            for (r, n) in doc.collected().iter() {
                let at = from.get(r);
                if n > at {
                    self.push(Stamp {
                        unix_ms: 0,
                        id: Id::new(r, at),
                        len: n - at,
                    });
                }
            }
            from = self.version.clone();
        }
        for op in doc.ops_since(&from) {
            self.record(op.id, op.len(), 0);
        }
    }

    /// The entries not yet stored, as one batch for storage; `true` when
    /// the stored record must be replaced by this batch (which then holds
    /// every entry). `None`: nothing to store.
    pub fn encode_unsaved(&mut self) -> Option<(Vec<u8>, bool)> {
        let whole = std::mem::take(&mut self.rewrite);
        if !whole && self.saved == self.stamps.len() {
            return None;
        }
        let from = if whole { 0 } else { self.saved };
        let bytes = postcard::to_allocvec(&self.stamps[from..]).ok()?;
        self.saved = self.stamps.len();
        Some((bytes, whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_prefixes_of_the_applied_order() {
        let (a, b) = (ReplicaId(1), ReplicaId(2));
        let mut v = Versions::default();
        assert_eq!(v.record(Id::new(a, 0), 3, 10), 1);
        assert_eq!(v.record(Id::new(b, 0), 2, 20), 2);
        assert_eq!(v.record(Id::new(a, 3), 1, 30), 3);
        // Already recorded: the entry that holds it.
        assert_eq!(v.record(Id::new(a, 1), 1, 99), 1);
        assert_eq!(v.len(), 3);
        let at2 = v.version_at(2);
        assert_eq!((at2.get(a), at2.get(b)), (3, 2));
        assert_eq!(v.version_at(0), VersionVector::new());
        assert_eq!(v.at_time(25), 2);
        assert_eq!(v.at_time(5), 0);
        assert_eq!(v.number_of(Id::new(b, 1)), Some(2));
        assert_eq!(v.number_of(Id::new(b, 2)), None);
        let mut floor = VersionVector::new();
        floor.set(b, 1);
        assert_eq!(v.first_containing(&floor), Some(2));
    }

    #[test]
    fn the_stored_record_loads_back_and_a_damaged_tail_is_cut() {
        let a = ReplicaId(1);
        let mut v = Versions::default();
        v.record(Id::new(a, 0), 2, 1);
        let (first, whole) = v.encode_unsaved().unwrap();
        assert!(!whole);
        assert!(v.encode_unsaved().is_none());
        v.record(Id::new(a, 2), 2, 2);
        let (second, _) = v.encode_unsaved().unwrap();
        let back = Versions::load([first.as_slice(), second.as_slice()]);
        assert_eq!(back.stamps(), v.stamps());
        let cut = Versions::load([first.as_slice(), &second[..1]]);
        assert_eq!(cut.len(), 1);
    }

    #[test]
    fn catching_up_cuts_what_the_document_lacks_and_adds_what_it_has() {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "ab").unwrap();
        let mut v = Versions::default();
        v.record(Id::new(ReplicaId(1), 0), 2, 5);
        v.record(Id::new(ReplicaId(7), 0), 4, 6);
        doc.insert(2, "c").unwrap();
        v.catch_up(&doc);
        assert_eq!(v.len(), 2);
        assert_eq!(v.version(), doc.version_ref());
        assert_eq!(v.stamps()[1].unix_ms, 0);
        let (_, whole) = v.encode_unsaved().unwrap();
        assert!(whole);
    }

    /// The record and the tags through a restart from a compacted data
    /// directory (a snapshot and an empty log): every `@N` names the text
    /// it named, with the time it was written, and the tag is there.
    #[test]
    fn versions_and_tags_survive_a_restart_from_a_snapshot() {
        use crate::host::{BootConfig, Host};
        use crate::node::{self, Edit, Node, Time};
        use crate::store::Store;
        use rand_chacha::rand_core::SeedableRng;

        let dir = crate::store::tests::temp_dir("versions-restart");
        let boot = |dir: &std::path::Path| {
            let (mut store, recovered) = Store::open(dir).unwrap();
            store.set_compact_min_bytes(0);
            let config = BootConfig {
                node: node::Config::default(),
                peers: Vec::new(),
                join_if_new: false,
                keep_history: true,
                document: 0,
            };
            let rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            Host::<Store, Node>::boot(recovered, Some(store), config, rng, Time(0)).unwrap()
        };
        let mut host = boot(&dir);
        let mut texts = vec![String::new()];
        for (k, word) in ["one ", "two ", "three "].iter().enumerate() {
            let edit = Edit::Insert {
                pos: 0,
                text: word.to_string(),
            };
            host.node_mut().edit(Time(0), edit).unwrap();
            host.settle(1000 + k as u64);
            texts.push(host.node().doc().text());
        }
        host.tag("first", 5000).unwrap();
        host.node_mut()
            .edit(Time(0), Edit::Delete { pos: 0, len: 4 })
            .unwrap();
        host.settle(2000);
        texts.push(host.node().doc().text());
        let stamps = host.history().unwrap().versions().stamps().to_vec();
        assert!(host.store().unwrap().stats().compactions > 0, "compacted");
        drop(host);

        let host = boot(&dir);
        let versions = host.history().unwrap().versions();
        assert_eq!(versions.stamps(), &stamps[..]);
        let doc = host.node().doc();
        for (n, text) in texts.iter().enumerate() {
            assert_eq!(
                &doc.past(&versions.version_at(n)).unwrap().text,
                text,
                "@{n}"
            );
        }
        let tag = host.tags().get("first").unwrap();
        assert_eq!(tag.past().unwrap().text, texts[3]);
        drop(host);

        // A data directory from before the record: the snapshot's ops
        // become entries of unknown time (the log's keep theirs), and the
        // last one is now.
        std::fs::remove_file(dir.join("versions")).unwrap();
        let host = boot(&dir);
        let versions = host.history().unwrap().versions();
        assert!(!versions.is_empty());
        assert_eq!(versions.stamps()[0].unix_ms, 0);
        let doc = host.node().doc();
        let last = versions.version_at(versions.len());
        assert_eq!(doc.past(&last).unwrap().text, texts[4]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
