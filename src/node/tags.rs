//! Tags (named versions, `wire::TagFrame`) spread to every member.
//!
//! A tag made here goes at once to every peer that is not down; one learned
//! from a peer, if it is new here (or supersedes the one of its name), is
//! handed to the driver ([`Event::Tag`]) and relayed the same way, so it
//! crosses the group as ops do. Each anti-entropy round also sends the
//! peer it picked a few tags, taking turns through all of them: a peer that
//! was away, or that joined later, gets every tag in time. A tag is small
//! (a name and a version vector) and sent without acknowledgement: a lost
//! one comes again in a later round.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::wire::{Frame, TagFrame};

use super::{Event, Node, PeerState};

/// Most tags a node keeps: a peer cannot fill our memory with names (and
/// each replica keeps the text of every tagged version).
pub const MAX_TAGS: usize = 200;
/// Longest tag name, in chars.
pub const MAX_TAG_NAME: usize = 40;
/// Tags sent to the peer picked in one anti-entropy round.
const TAGS_PER_ROUND: usize = 8;

/// Whether `name` can name a tag: 1 to [`MAX_TAG_NAME`] letters, digits,
/// `_`, `-` and `.`, starting with a letter or `_` (so that `@NAME` never
/// reads as a version number, a count back or a time).
pub fn valid_tag_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().count() <= MAX_TAG_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The tags this node knows, by name.
#[derive(Debug, Default)]
pub(super) struct TagTable {
    tags: BTreeMap<String, TagFrame>,
    /// Where the next round's turn starts (a name; the next one after it).
    turn: Option<String>,
}

impl TagTable {
    /// Keeps `tag` if it is new or supersedes the one of its name.
    fn take(&mut self, tag: &TagFrame) -> bool {
        if !valid_tag_name(&tag.name) {
            return false;
        }
        match self.tags.get(&tag.name) {
            Some(old) if !tag.supersedes(old) => false,
            None if self.tags.len() >= MAX_TAGS => false,
            _ => {
                self.tags.insert(tag.name.clone(), tag.clone());
                true
            }
        }
    }

    /// The next `n` tags in turn.
    fn next_turn(&mut self, n: usize) -> Vec<TagFrame> {
        let after = self.turn.take();
        let mut out: Vec<TagFrame> = match &after {
            Some(name) => self
                .tags
                .range::<String, _>((std::ops::Bound::Excluded(name), std::ops::Bound::Unbounded))
                .map(|(_, t)| t.clone())
                .take(n)
                .collect(),
            None => Vec::new(),
        };
        if out.len() < n {
            // Wrap around to the start.
            for t in self.tags.values().take(n - out.len()) {
                if out.iter().any(|o| o.name == t.name) {
                    break;
                }
                out.push(t.clone());
            }
        }
        self.turn = out.last().map(|t| t.name.clone());
        out
    }
}

impl Node {
    /// Spreads a tag made here (or one the driver kept from before a
    /// restart) to every member.
    pub fn spread_tag(&mut self, tag: TagFrame) {
        if self.tags.take(&tag) {
            self.send_tag_to_all(&tag, None);
        }
    }

    /// The tags this node knows, by name.
    pub fn tags(&self) -> impl Iterator<Item = &TagFrame> {
        self.tags.tags.values()
    }

    pub(super) fn on_tag(&mut self, from: SocketAddr, tag: TagFrame) {
        if self.tags.take(&tag) {
            self.send_tag_to_all(&tag, Some(from));
            self.events.push_back(Event::Tag(tag));
        }
    }

    /// Some tags, in turn, for the peer an anti-entropy round picked.
    pub(super) fn tags_round(&mut self, to: SocketAddr) {
        let turn = self.tags.next_turn(TAGS_PER_ROUND);
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.control.extend(turn.into_iter().map(Frame::Tag));
        }
    }

    fn send_tag_to_all(&mut self, tag: &TagFrame, except: Option<SocketAddr>) {
        for peer in self.peers.values_mut() {
            if peer.state() != PeerState::Down && Some(peer.addr()) != except {
                peer.control.push_back(Frame::Tag(tag.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{ReplicaId, VersionVector};

    fn tag(name: &str, ms: u64) -> TagFrame {
        TagFrame {
            name: name.into(),
            version: VersionVector::new(),
            by: ReplicaId(1),
            unix_ms: ms,
        }
    }

    #[test]
    fn a_table_keeps_one_tag_per_name_and_takes_turns_through_all() {
        let mut t = TagTable::default();
        assert!(t.take(&tag("b", 1)));
        assert!(!t.take(&tag("b", 1)), "the same tag again is not news");
        assert!(!t.take(&tag("b", 0)), "an older one of the name loses");
        assert!(t.take(&tag("b", 2)));
        assert!(!t.take(&tag("9lives", 1)), "not a tag name");
        for n in ["a", "c", "d"] {
            t.take(&tag(n, 1));
        }
        let names = |v: Vec<TagFrame>| v.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(t.next_turn(3)), ["a", "b", "c"]);
        assert_eq!(names(t.next_turn(3)), ["d", "a", "b"]);
        assert_eq!(names(t.next_turn(10)), ["c", "d", "a", "b"]);
    }
}
