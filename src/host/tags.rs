//! Named versions (`tag NAME`, `@NAME`).
//!
//! A tag names a version vector, which every replica that has those ops
//! can resolve, so it is what spreads to peers. Each replica then keeps
//! the document at that version (its text and the ids of its chars) with
//! the tag, once it holds the ops: cleanup may drop the ops later, and a
//! tagged version must still be seen, compared and restored. Kept in the
//! data directory (`tags`), replaced whole when a tag is added.
//!
//! Two replicas may give one name to two versions at once: every replica
//! keeps the same one (the later, then the one of the higher replica id),
//! so the name means one version everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::doc::{Doc, IdSpan, Past, PastError};
pub use crate::node::{valid_tag_name as valid_name, MAX_TAG_NAME};
pub use crate::wire::TagFrame as TagName;

/// Most tags a replica keeps (a peer cannot fill its memory with them).
pub const MAX_TAGS: usize = crate::node::MAX_TAGS;

/// What this replica keeps of a tagged version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kept {
    /// Not yet: this replica lacks some of its ops.
    Waiting,
    /// The text and the ids of its chars.
    Text { text: String, ids: Vec<IdSpan> },
    /// Never: this replica had cleaned up history it needs before the tag
    /// arrived.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: TagName,
    pub kept: Kept,
}

impl Tag {
    /// The document at the tagged version, if this replica has it.
    pub fn past(&self) -> Option<Past> {
        match &self.kept {
            Kept::Text { text, ids } => Some(Past {
                text: text.clone(),
                ids: ids.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Tags {
    tags: BTreeMap<String, Tag>,
    /// Changed since last stored.
    dirty: bool,
}

impl Tags {
    /// Tags as stored ([`Tags::encode`]); unreadable bytes give none.
    pub fn decode(bytes: &[u8]) -> Option<Tags> {
        let list: Vec<Tag> = postcard::from_bytes(bytes).ok()?;
        let tags = list
            .into_iter()
            .filter(|t| valid_name(&t.name.name))
            .map(|mut t| {
                // Kept text that does not match its ids (a damaged or
                // forged file) is dropped: the version is rebuilt if it can be.
                if let Kept::Text { text, ids } = &t.kept {
                    if !matches_ids(text, ids) {
                        t.kept = Kept::Waiting;
                    }
                }
                (t.name.name.clone(), t)
            })
            .take(MAX_TAGS)
            .collect();
        Some(Tags {
            tags,
            ..Tags::default()
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let list: Vec<&Tag> = self.tags.values().collect();
        postcard::to_allocvec(&list).unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&Tag> {
        self.tags.get(name)
    }

    /// Every tag, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.tags.values()
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Takes a tag (made here or by a peer). Returns whether it changed
    /// what this replica keeps (a new name, or a winning version of one).
    pub fn learn(&mut self, name: TagName, doc: &Doc) -> bool {
        if !valid_name(&name.name) {
            return false;
        }
        match self.tags.get(&name.name) {
            Some(old) if !name.supersedes(&old.name) => return false,
            None if self.tags.len() >= MAX_TAGS => return false,
            _ => {}
        }
        let mut tag = Tag {
            name: name.clone(),
            kept: Kept::Waiting,
        };
        resolve(&mut tag, doc);
        self.tags.insert(name.name.clone(), tag);
        self.dirty = true;
        true
    }

    /// Keeps the text of the tags whose ops have all arrived since.
    pub fn resolve_waiting(&mut self, doc: &Doc) {
        for tag in self.tags.values_mut() {
            if tag.kept == Kept::Waiting && resolve(tag, doc) {
                self.dirty = true;
            }
        }
    }

    /// The encoded tags if they changed since the last call.
    pub fn take_changed(&mut self) -> Option<Vec<u8>> {
        std::mem::take(&mut self.dirty).then(|| self.encode())
    }

    /// Stores the tags again at the next [`Tags::take_changed`] (a write failed).
    pub fn mark_changed(&mut self) {
        self.dirty = true;
    }
}

/// Whether `ids` name exactly one char of `text` each.
fn matches_ids(text: &str, ids: &[IdSpan]) -> bool {
    let mut total = 0u64;
    for s in ids {
        if s.len == 0 || s.start.counter.checked_add(s.len).is_none() {
            return false;
        }
        match total.checked_add(s.len) {
            Some(t) => total = t,
            None => return false,
        }
    }
    total == text.chars().count() as u64
}

/// Keeps the tagged version's text if `doc` has its ops; whether it changed.
fn resolve(tag: &mut Tag, doc: &Doc) -> bool {
    tag.kept = match doc.past(&tag.name.version) {
        Ok(past) => Kept::Text {
            text: past.text,
            ids: past.ids,
        },
        Err(PastError::CleanedUp) => Kept::Lost,
        Err(PastError::Unknown) => return false,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{ReplicaId, VersionVector};

    #[test]
    fn names_that_could_be_read_as_versions_are_refused() {
        for ok in ["v1", "release-2.0", "_draft", "été"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "1st", "-3", "10:30", "a b", "a@b", &"x".repeat(41)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_tag_keeps_its_text_and_one_name_means_one_version_everywhere() {
        let mut doc = Doc::new(ReplicaId(1));
        doc.insert(0, "one").unwrap();
        let v1 = doc.version();
        doc.insert(3, " two").unwrap();
        let name = |by: u64, ms: u64, version: &VersionVector| TagName {
            name: "v".into(),
            version: version.clone(),
            by: ReplicaId(by),
            unix_ms: ms,
        };
        let mut tags = Tags::default();
        assert!(tags.learn(name(1, 10, &v1), &doc));
        assert_eq!(tags.get("v").unwrap().past().unwrap().text, "one");
        // An older one of the same name loses; a newer one wins.
        assert!(!tags.learn(name(2, 5, &doc.version()), &doc));
        assert!(tags.learn(name(2, 11, &doc.version()), &doc));
        assert_eq!(tags.get("v").unwrap().past().unwrap().text, "one two");
        // Stored and read back; kept text that does not match its ids is
        // not trusted.
        let back = Tags::decode(&tags.encode()).unwrap();
        assert_eq!(back.get("v"), tags.get("v"));
        let mut forged = tags.get("v").unwrap().clone();
        forged.kept = Kept::Text {
            text: "x".into(),
            ids: vec![IdSpan::new(crate::doc::Id::new(ReplicaId(1), 0), u64::MAX)],
        };
        let bytes = postcard::to_allocvec(&vec![forged]).unwrap();
        assert_eq!(
            Tags::decode(&bytes).unwrap().get("v").unwrap().kept,
            Kept::Waiting
        );
        // A version with ops this replica lacks waits for them.
        let mut ahead = doc.version();
        ahead.set(ReplicaId(3), 1);
        let mut waiting = name(3, 20, &ahead);
        waiting.name = "w".into();
        tags.learn(waiting, &doc);
        assert_eq!(tags.get("w").unwrap().kept, Kept::Waiting);
    }
}
