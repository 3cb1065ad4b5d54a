//! Presence: who has the document open and where their cursor (and
//! selection) is, spread as ephemeral state (like Yjs awareness).
//!
//! An editor calls [`Node::set_cursor`] (or [`Node::set_selection`], or
//! [`Node::set_selections`] with several cursors) whenever its cursor or
//! selection moves. The node
//! sends a [`PresenceFrame`] to every peer: at once when
//! the cursor moved (at most one per [`MIN_GAP`]), and again every
//! [`HEARTBEAT`] so that a peer that missed one (or joined later) catches
//! up. A presence is never acknowledged for its own sake, never
//! retransmitted, never relayed and never stored: a lost one is replaced by
//! the next. Each replica's newest presence is kept until nothing was heard
//! from it for [`EXPIRY`], or it says it is leaving.
//!
//! A node whose driver never calls `set_cursor` (the command prompt, the
//! simulator) sends no presence.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::{Id, ReplicaId};
use crate::wire::{CursorRange, Frame, PresenceFrame, MAX_PRESENCE_RANGES};

use super::{display_name, truncate, Node, Time, MAX_NAME};

/// Least time between two presences sent because the cursor moved.
pub const MIN_GAP: Duration = Duration::from_millis(50);
/// A presence is sent again this often while nothing moves.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A peer's presence is forgotten after this long without a new one.
pub const EXPIRY: Duration = Duration::from_secs(7);

/// Another replica's presence, as last heard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub replica: ReplicaId,
    /// Where the last presence came from.
    pub addr: SocketAddr,
    pub name: String,
    /// The char the cursor is just before; `None`: the end of the text.
    pub cursor: Option<Id>,
    /// With text selected, its other end, as `cursor`.
    pub anchor: Option<Option<Id>>,
    /// Its further cursors and selections (multi-cursor), fewer than
    /// [`MAX_PRESENCE_RANGES`].
    pub more: Vec<CursorRange>,
    pub heard: Time,
}

impl Presence {
    /// Every cursor and selection: `cursor` and `anchor` first, then `more`.
    pub fn ranges(&self) -> Vec<CursorRange> {
        let first = CursorRange {
            cursor: self.cursor,
            anchor: self.anchor,
        };
        std::iter::once(first)
            .chain(self.more.iter().copied())
            .collect()
    }
}

/// This node's side of presence, kept in the [`Node`].
#[derive(Debug, Default)]
pub(super) struct PresenceState {
    /// `None` until the driver first calls `set_cursor`.
    local: Option<Local>,
    remote: BTreeMap<ReplicaId, Remote>,
}

#[derive(Debug)]
struct Local {
    /// At least one, at most [`MAX_PRESENCE_RANGES`].
    ranges: Vec<CursorRange>,
    seq: u64,
    /// The cursor moved since the last presence sent.
    moved: bool,
    last_sent: Option<Time>,
}

#[derive(Debug)]
struct Remote {
    presence: Presence,
    session: u64,
    seq: u64,
}

impl PresenceState {
    /// When the node next has presence work: a presence to send, or one
    /// to forget.
    pub(super) fn poll_timeout(&self) -> Option<Time> {
        let send = self.local.as_ref().map(|l| match l.last_sent {
            None => Time::ZERO,
            Some(t) if l.moved => t + MIN_GAP,
            Some(t) => t + HEARTBEAT,
        });
        let expire = self
            .remote
            .values()
            .map(|r| r.presence.heard + EXPIRY)
            .min();
        send.into_iter().chain(expire).min()
    }
}

impl Node {
    /// Tells peers where this editor's cursor is: just before char
    /// `cursor`, or at the end of the text (`None`).
    pub fn set_cursor(&mut self, now: Time, cursor: Option<Id>) {
        self.set_selection(now, cursor, None);
    }

    /// Tells peers where this editor's cursor is and, with text selected,
    /// the selection's other end (`anchor`, as the cursor).
    pub fn set_selection(&mut self, now: Time, cursor: Option<Id>, anchor: Option<Option<Id>>) {
        self.set_selections(now, &[CursorRange { cursor, anchor }]);
    }

    /// Tells peers where this editor's cursors and selections are (several
    /// with multi-cursor editing): the first is the main one. Only the
    /// first [`MAX_PRESENCE_RANGES`] are sent; an empty list changes nothing.
    pub fn set_selections(&mut self, now: Time, ranges: &[CursorRange]) {
        self.tick(now);
        if ranges.is_empty() {
            return;
        }
        let ranges = &ranges[..ranges.len().min(MAX_PRESENCE_RANGES)];
        let local = self.presence.local.get_or_insert_with(|| Local {
            ranges: ranges.to_vec(),
            seq: 0,
            moved: true,
            last_sent: None,
        });
        if local.ranges != ranges {
            local.ranges = ranges.to_vec();
            local.moved = true;
        }
        self.presence_timeout(now);
    }

    /// Tells peers this editor is closing (so they drop its marker now),
    /// and sends no more presence.
    pub fn leave_presence(&mut self, now: Time) {
        self.tick(now);
        if let Some(local) = self.presence.local.take() {
            let cursor = CursorRange {
                cursor: local.ranges[0].cursor,
                anchor: None,
            };
            self.send_presence(local.seq + 1, &[cursor], true);
        }
    }

    /// The other replicas' presences that have not expired, by replica.
    pub fn presences(&self) -> Vec<Presence> {
        let now = self.last_now;
        self.presence
            .remote
            .values()
            .filter(|r| now < r.presence.heard + EXPIRY)
            .map(|r| r.presence.clone())
            .collect()
    }

    /// A presence frame from `replica` at `from`.
    pub(super) fn on_presence(
        &mut self,
        now: Time,
        from: SocketAddr,
        replica: ReplicaId,
        p: PresenceFrame,
    ) {
        if let Some(known) = self.presence.remote.get(&replica) {
            let newer = known.session != p.session || p.seq > known.seq;
            if !newer {
                return; // a late or duplicated copy
            }
        }
        if p.leaving {
            self.presence.remote.remove(&replica);
            return;
        }
        let presence = Presence {
            replica,
            addr: from,
            name: display_name(&p.name),
            cursor: p.cursor,
            anchor: p.anchor,
            more: p.more,
            heard: now,
        };
        self.presence.remote.insert(
            replica,
            Remote {
                presence,
                session: p.session,
                seq: p.seq,
            },
        );
    }

    /// Sends what is due and forgets what expired (from `handle_timeout`
    /// and `set_cursor`).
    pub(super) fn presence_timeout(&mut self, now: Time) {
        self.presence
            .remote
            .retain(|_, r| now < r.presence.heard + EXPIRY);
        let online = self.online;
        let Some(local) = &mut self.presence.local else {
            return;
        };
        if !online {
            return; // what moved goes out once back online
        }
        let due = match local.last_sent {
            None => true,
            Some(t) if local.moved => now >= t + MIN_GAP,
            Some(t) => now >= t + HEARTBEAT,
        };
        if !due {
            return;
        }
        local.seq += 1;
        local.moved = false;
        local.last_sent = Some(now);
        let (seq, ranges) = (local.seq, local.ranges.clone());
        self.send_presence(seq, &ranges, false);
    }

    /// Queues a presence for every peer (a down one too: like a ping, it
    /// may bring it back), replacing any older one still waiting there.
    /// `ranges` holds at least one.
    fn send_presence(&mut self, seq: u64, ranges: &[CursorRange], leaving: bool) {
        if !self.online {
            return;
        }
        let Some((first, more)) = ranges.split_first() else {
            return;
        };
        let frame = Frame::Presence(PresenceFrame {
            session: self.session,
            seq,
            name: truncate(&self.config.name, MAX_NAME),
            cursor: first.cursor,
            leaving,
            anchor: first.anchor,
            more: more.to_vec(),
        });
        for peer in self.peers.values_mut() {
            peer.control.retain(|f| !matches!(f, Frame::Presence(_)));
            peer.control.push_back(frame.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::doc::Doc;
    use crate::node::Config;
    use crate::wire;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn node(replica: u64, name: &str) -> Node {
        let config = Config {
            name: name.into(),
            ..Config::default()
        };
        Node::new(
            Doc::new(ReplicaId(replica)),
            config,
            ChaCha8Rng::seed_from_u64(replica),
            Time::ZERO,
        )
    }

    /// Delivers everything `from` (at `from_addr`) sends to `to`; counts
    /// the presences sent (a first-contact retry goes as copies of the
    /// same datagram: a copy is not counted).
    fn deliver(now: Time, from: &mut Node, from_addr: SocketAddr, to: &mut Node) -> usize {
        let mut presences = 0;
        let mut last: Option<Vec<u8>> = None;
        while let Some(t) = from.poll_transmit() {
            to.handle_datagram(now, from_addr, &t.bytes);
            if last.as_ref() == Some(&t.bytes) {
                continue;
            }
            let frames = wire::decode(&t.bytes).unwrap().1;
            last = Some(t.bytes);
            presences += frames
                .iter()
                .filter(|f| matches!(f, Frame::Presence(_)))
                .count();
        }
        presences
    }

    fn ms(n: u64) -> Time {
        Time::from_millis(n)
    }

    #[test]
    fn a_cursor_reaches_the_peer_and_expires_when_it_goes_quiet() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        b.add_peer(ms(0), addr(1));
        let id = Id::new(ReplicaId(1), 5);
        a.set_cursor(ms(1), Some(id));
        assert_eq!(deliver(ms(1), &mut a, addr(1), &mut b), 1);
        let seen = b.presences();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].replica, ReplicaId(1));
        assert_eq!(seen[0].name, "ann");
        assert_eq!(seen[0].cursor, Some(id));
        // Nothing from b: b sends no presence (it never set a cursor).
        assert_eq!(deliver(ms(1), &mut b, addr(2), &mut a), 0);
        assert!(a.presences().is_empty());

        // a goes quiet: b forgets it after EXPIRY.
        let later = ms(1) + EXPIRY;
        assert!(b.poll_timeout().is_some_and(|t| t <= later));
        b.handle_timeout(later);
        assert!(b.presences().is_empty());
    }

    #[test]
    fn moves_are_rate_limited_and_heartbeats_repeat_the_cursor() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        a.set_cursor(ms(0), None);
        assert_eq!(deliver(ms(0), &mut a, addr(1), &mut b), 1);
        // Three moves within MIN_GAP: nothing more goes out yet...
        for (t, c) in [(10, 1), (20, 2), (30, 3)] {
            a.set_cursor(ms(t), Some(Id::new(ReplicaId(1), c)));
            assert_eq!(deliver(ms(t), &mut a, addr(1), &mut b), 0);
        }
        // ...then one presence with the latest cursor.
        let due = a.poll_timeout().unwrap();
        assert!(due <= ms(50));
        a.handle_timeout(ms(50));
        assert_eq!(deliver(ms(50), &mut a, addr(1), &mut b), 1);
        assert_eq!(b.presences()[0].cursor, Some(Id::new(ReplicaId(1), 3)));
        // No move: a heartbeat after HEARTBEAT keeps it alive at b.
        let beat = ms(50) + HEARTBEAT;
        a.handle_timeout(beat);
        assert_eq!(deliver(beat, &mut a, addr(1), &mut b), 1);
        b.handle_timeout(ms(50) + EXPIRY);
        assert_eq!(b.presences().len(), 1);
    }

    #[test]
    fn a_move_made_offline_goes_out_when_back_online() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        a.set_cursor(ms(0), None);
        deliver(ms(0), &mut a, addr(1), &mut b);
        a.set_online(ms(100), false);
        let id = Id::new(ReplicaId(1), 9);
        a.set_cursor(ms(200), Some(id));
        a.set_online(ms(300), true);
        let due = a.poll_timeout().unwrap();
        assert!(due <= ms(300));
        a.handle_timeout(ms(300));
        assert_eq!(deliver(ms(300), &mut a, addr(1), &mut b), 1);
        assert_eq!(b.presences()[0].cursor, Some(id));
    }

    #[test]
    fn a_selection_reaches_the_peer_and_a_plain_cursor_clears_it() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        let (from, to) = (Id::new(ReplicaId(1), 2), Id::new(ReplicaId(1), 7));
        a.set_selection(ms(0), Some(to), Some(Some(from)));
        deliver(ms(0), &mut a, addr(1), &mut b);
        assert_eq!(b.presences()[0].cursor, Some(to));
        assert_eq!(b.presences()[0].anchor, Some(Some(from)));
        a.set_cursor(ms(100), Some(to));
        a.handle_timeout(ms(100));
        assert_eq!(deliver(ms(100), &mut a, addr(1), &mut b), 1, "a change");
        assert_eq!(b.presences()[0].anchor, None);
    }

    #[test]
    fn old_copies_are_ignored_and_leaving_forgets_at_once() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        let frame = |seq, counter, leaving| {
            wire::encode(
                &wire::Header {
                    sender: ReplicaId(1),
                    packet: seq,
                    document: 0,
                },
                &[Frame::Presence(PresenceFrame {
                    session: 7,
                    seq,
                    name: "ann\x1b[2J".into(),
                    cursor: Some(Id::new(ReplicaId(1), counter)),
                    leaving,
                    anchor: None,
                    more: Vec::new(),
                })],
            )
        };
        b.handle_datagram(ms(1), addr(1), &frame(5, 50, false));
        b.handle_datagram(ms(2), addr(1), &frame(4, 40, false));
        let seen = b.presences();
        assert_eq!(seen[0].cursor, Some(Id::new(ReplicaId(1), 50)));
        assert_eq!(seen[0].name, "ann[2J", "control chars are dropped");
        b.handle_datagram(ms(3), addr(1), &frame(6, 60, true));
        assert!(b.presences().is_empty());

        // The real node says goodbye too.
        a.set_cursor(ms(4), None);
        deliver(ms(4), &mut a, addr(1), &mut b);
        assert_eq!(b.presences().len(), 1);
        a.leave_presence(ms(5));
        deliver(ms(5), &mut a, addr(1), &mut b);
        assert!(b.presences().is_empty());
        assert!(a.presence.local.is_none());
    }

    #[test]
    fn several_cursors_reach_the_peer_and_more_than_the_bound_are_cut() {
        let (mut a, mut b) = (node(1, "ann"), node(2, "bob"));
        a.add_peer(ms(0), addr(2));
        let id = |c| Some(Id::new(ReplicaId(1), c));
        let ranges: Vec<CursorRange> = (0..MAX_PRESENCE_RANGES as u64 + 4)
            .map(|i| CursorRange {
                cursor: id(10 * i + 5),
                anchor: (i % 2 == 0).then(|| id(10 * i)),
            })
            .collect();
        a.set_selections(ms(0), &ranges[..3]);
        assert_eq!(deliver(ms(0), &mut a, addr(1), &mut b), 1);
        let seen = &b.presences()[0];
        assert_eq!(seen.cursor, id(5));
        assert_eq!(seen.anchor, Some(id(0)));
        assert_eq!(seen.ranges(), ranges[..3]);

        // Too many: the first MAX_PRESENCE_RANGES go out, no error.
        a.set_selections(ms(100), &ranges);
        a.handle_timeout(ms(100));
        assert_eq!(deliver(ms(100), &mut a, addr(1), &mut b), 1);
        assert_eq!(b.presences()[0].ranges(), ranges[..MAX_PRESENCE_RANGES]);

        // Back to one cursor: the others are gone at the peer.
        a.set_cursor(ms(200), id(1));
        a.handle_timeout(ms(200));
        assert_eq!(deliver(ms(200), &mut a, addr(1), &mut b), 1);
        let one = CursorRange {
            cursor: id(1),
            anchor: None,
        };
        assert_eq!(b.presences()[0].ranges(), vec![one]);
        // An empty list changes nothing.
        a.set_selections(ms(300), &[]);
        a.handle_timeout(ms(300));
        assert_eq!(deliver(ms(300), &mut a, addr(1), &mut b), 0);
    }
}
