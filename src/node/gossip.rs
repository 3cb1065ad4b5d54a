//! Who gets an op eagerly, and how the others learn of it: fan-out gossip.
//!
//! **The rule.** Each op is pushed along a tree rooted at its author. A node
//! sorts the live members it knows (peers it has heard from and not
//! declared down, plus itself) by replica id, puts the op's author first
//! (rotating the sorted list), and numbers the members from 0 (the author)
//! on. Member `i` pushes the op to members `i*k + 1 ..= i*k + k`: a k-ary
//! tree of depth log_k(N), in which every member but the author has one
//! parent. So each node sends each op at most `k` times and receives it
//! once, whatever the group size, and an op reaches everyone in log_k(N)
//! hops. `k` is `Config::fanout`; in groups of at most
//! `Config::direct_push_max` members it is the group size, so the author
//! pushes to every member directly (one hop, as before) and nobody relays:
//! a 5-node group receives each op once per node instead of four times.
//! Every author has its own tree (the rotation), so no link carries an op
//! twice, and the load of relaying is spread over all members. (The one
//! exception: in such a group a member passes an author's op on to its
//! live peers the author has not named in a peer list to it, since the
//! author may not reach them; see `relay.rs`.)
//!
//! Like Plumtree's eager push, this relies on nothing but the node's own
//! view; unlike Plumtree it needs no prune messages, because with equal
//! views the trees have no redundant links to prune. Views differ for a
//! while (a member just joined, or one went down and only some noticed):
//! then some member may get an op twice (harmless, the doc is idempotent)
//! or not at all from the tree. The second case is what the lazy half
//! repairs.
//!
//! **Lazy announcements and pull.** Every `Config::gossip_interval` a node
//! whose version grew sends a `Have` frame (the counts of the replicas that
//! grew) to `Config::lazy_fanout` random live peers. A receiver that lacks
//! some of it waits `Config::pull_delay` (the tree copy is probably on its
//! way) and then, if it still lacks it, pulls: it sends the announcer a
//! digest scoped to those replicas, and the announcer, as for any digest
//! showing a gap, queues exactly what is missing.
//!
//! **Why every op still reaches everyone.** Take an op and a live member
//! that lacks it, in a connected group. Some member has it; every member
//! that has an op it has not announced announces it within one interval to
//! random peers, so (as in any push gossip) the announcement reaches the
//! member within O(log N) intervals, and it pulls (a pull lost on the way
//! is repeated by the next announcement). Independently of all that,
//! anti-entropy digests still go to a random peer every
//! `anti_entropy_interval`, and a peer that comes back up or online is
//! caught up by a digest exchange: announcements make repair fast, digests
//! make it certain. Without peer exchange a node's view is not the group
//! (a chain knows only its neighbours), so such a node relays every op to
//! every peer, as before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::doc::{ReplicaId, VersionVector};

use super::Time;

/// What the node keeps for gossip.
#[derive(Clone, Debug, Default)]
pub struct Gossip {
    /// The doc's version at the last refill: ops beyond it are new and go
    /// down their author's tree.
    pub pushed: VersionVector,
    /// The doc's version at the last announcement round.
    pub announced: VersionVector,
    /// Pulls waiting for their delay, by announcer.
    pub pulls: BTreeMap<SocketAddr, Pull>,
}

/// Counts a peer announced that we lacked, and when to ask for them.
#[derive(Clone, Debug)]
pub struct Pull {
    pub wants: VersionVector,
    pub due: Time,
}

impl Gossip {
    /// Gossip for a node whose doc starts at `version`.
    pub fn new(version: VersionVector) -> Gossip {
        Gossip {
            announced: version.clone(),
            pushed: version,
            pulls: BTreeMap::new(),
        }
    }

    /// A peer announced `entries`; remembers those we lack (a pull after
    /// `delay` unless the tree delivers them first). Returns when the
    /// pull is due, if one is pending for this peer.
    pub fn on_have(
        &mut self,
        now: Time,
        from: SocketAddr,
        entries: &[(ReplicaId, u64)],
        ours: &VersionVector,
        delay: Duration,
    ) -> Option<Time> {
        let lacking: Vec<(ReplicaId, u64)> = entries
            .iter()
            .copied()
            .filter(|&(r, n)| n > ours.get(r))
            .collect();
        if lacking.is_empty() {
            return None;
        }
        let pull = self.pulls.entry(from).or_insert_with(|| Pull {
            wants: VersionVector::new(),
            due: now + delay,
        });
        for (r, n) in lacking {
            if n > pull.wants.get(r) {
                pull.wants.set(r, n);
            }
        }
        Some(pull.due)
    }

    /// The pulls due at `now` that are still worth making: for each
    /// announcer, the smallest replica range covering what we still lack.
    pub fn due_pulls(
        &mut self,
        now: Time,
        ours: &VersionVector,
    ) -> Vec<(SocketAddr, (ReplicaId, ReplicaId))> {
        let due: Vec<SocketAddr> = self
            .pulls
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(&a, _)| a)
            .collect();
        let mut out = Vec::new();
        for addr in due {
            let Some(pull) = self.pulls.remove(&addr) else {
                continue;
            };
            let mut lacking = pull.wants.iter().filter(|&(r, n)| n > ours.get(r));
            if let Some((first, _)) = lacking.next() {
                let last = lacking.last().map_or(first, |(r, _)| r);
                out.push((addr, (first, last)));
            }
        }
        out
    }

    /// When the next pull is due.
    pub fn next_pull(&self) -> Option<Time> {
        self.pulls.values().map(|p| p.due).min()
    }

    /// The entries of `version` that grew since the last announcement (and
    /// marks them announced).
    pub fn take_announcement(&mut self, version: &VersionVector) -> Vec<(ReplicaId, u64)> {
        let grew: Vec<(ReplicaId, u64)> = version
            .iter()
            .filter(|&(r, n)| n > self.announced.get(r))
            .collect();
        self.announced.merge(version);
        grew
    }
}

/// The live members as one node sees them: sorted by replica id, each with
/// its address (`None` for the node itself).
#[derive(Clone, Debug, Default)]
pub struct View {
    members: Vec<(ReplicaId, Option<SocketAddr>)>,
}

impl View {
    /// `me` and the live peers `(replica, addr)`, in any order.
    #[cfg(test)]
    pub fn new(me: ReplicaId, peers: impl IntoIterator<Item = (ReplicaId, SocketAddr)>) -> View {
        let mut view = View::default();
        view.rebuild(me, peers);
        view
    }

    /// Makes the view of `me` and the live peers `(replica, addr)`, in
    /// any order (reusing the allocation).
    pub fn rebuild(
        &mut self,
        me: ReplicaId,
        peers: impl IntoIterator<Item = (ReplicaId, SocketAddr)>,
    ) {
        let members = &mut self.members;
        members.clear();
        members.extend(peers.into_iter().map(|(r, a)| (r, Some(a))));
        members.push((me, None));
        // Stable on equal ids (two addresses claiming one replica): the
        // tree then just names one of them.
        members.sort_by_key(|&(r, _)| r);
        members.dedup_by_key(|m| m.0);
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The address of member `replica`, if it is a peer in this view.
    pub fn addr_of(&self, replica: ReplicaId) -> Option<SocketAddr> {
        let i = self.members.binary_search_by_key(&replica, |m| m.0).ok()?;
        self.members[i].1
    }

    /// The peers in this view (the node itself is not one), by replica id.
    pub fn peer_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.members.iter().filter_map(|m| m.1)
    }

    /// The peers this node pushes an op of `author` to, by the tree rule
    /// (see the module doc), appended to `out`. `k` is the fan-out for
    /// this group size (see [`fanout_for`]).
    pub fn children(&self, me: ReplicaId, author: ReplicaId, k: usize, out: &mut Vec<SocketAddr>) {
        let members = &self.members;
        // The author may be outside our view (down, or not met yet): place
        // it where it would sort, as the other members' views likely do.
        let (author_at, author_known) = match members.binary_search_by_key(&author, |m| m.0) {
            Ok(i) => (i, true),
            Err(i) => (i, false),
        };
        let len = members.len() + usize::from(!author_known);
        // Index in the list with the author inserted.
        let with_author = |i: usize| {
            if !author_known && i >= author_at {
                i + 1
            } else {
                i
            }
        };
        let Ok(my_at) = members.binary_search_by_key(&me, |m| m.0) else {
            return;
        };
        let my_rank = (with_author(my_at) + len - author_at) % len;
        let k = k.max(1);
        let first = my_rank.saturating_mul(k).saturating_add(1);
        for rank in first..first.saturating_add(k).min(len) {
            let mut i = (author_at + rank) % len;
            if !author_known {
                if i == author_at {
                    continue; // the author itself (cannot happen for rank >= 1)
                }
                if i > author_at {
                    i -= 1;
                }
            }
            if let Some((_, Some(addr))) = members.get(i) {
                out.push(*addr);
            }
        }
    }
}

/// The fan-out for a group of `members`: everyone at once up to
/// `direct_push_max`, else `fanout`.
pub fn fanout_for(members: usize, fanout: usize, direct_push_max: usize) -> usize {
    if members <= direct_push_max {
        members.max(1)
    } else {
        fanout.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, (i / 250) as u8, (i % 250 + 1) as u8], 7000))
    }

    /// Node `i` has replica id `ids[i]`; each builds its view of everyone.
    fn views(ids: &[u64]) -> Vec<View> {
        (0..ids.len())
            .map(|i| {
                let peers = (0..ids.len())
                    .filter(|&j| j != i)
                    .map(|j| (ReplicaId(ids[j]), addr(j)));
                View::new(ReplicaId(ids[i]), peers)
            })
            .collect()
    }

    /// With equal views, every member but the author gets each op from
    /// exactly one parent, and within ceil(log_k) hops.
    #[test]
    fn equal_views_make_a_spanning_tree_per_author() {
        for n in [1, 2, 5, 8, 9, 10, 37, 100, 300] {
            // Scrambled ids, so sorted order is not node order.
            let ids: Vec<u64> = (0..n as u64).map(|i| (i * 7919 + 13) % 100_003).collect();
            let views = views(&ids);
            let k = fanout_for(n, 4, 8);
            for author in 0..n {
                let mut parents = vec![0usize; n];
                let mut depth = vec![usize::MAX; n];
                depth[author] = 0;
                let mut frontier = vec![author];
                while let Some(x) = frontier.pop() {
                    let mut out = Vec::new();
                    views[x].children(ReplicaId(ids[x]), ReplicaId(ids[author]), k, &mut out);
                    assert!(out.len() <= k);
                    for a in out {
                        let c = (0..n).find(|&j| addr(j) == a).unwrap();
                        parents[c] += 1;
                        depth[c] = depth[x] + 1;
                        frontier.push(c);
                    }
                }
                for (c, &got) in parents.iter().enumerate() {
                    let want = usize::from(c != author);
                    assert_eq!(got, want, "n {n} author {author} node {c}");
                }
                let max_depth = depth.iter().max().copied().unwrap();
                if n <= 8 {
                    assert!(max_depth <= 1, "small groups: one hop");
                } else {
                    // A k-ary tree of n nodes: depth at most log_k(n) + 1.
                    let bound = (n as f64).log(k as f64).ceil() as usize;
                    assert!(max_depth <= bound, "n {n} depth {max_depth} > {bound}");
                }
            }
        }
    }

    /// An author missing from a view is placed where it sorts: the views
    /// that lack it still agree with those that have it on the rest.
    #[test]
    fn author_outside_the_view_is_placed_where_it_sorts() {
        let ids: Vec<u64> = (0..20).map(|i| i * 10).collect();
        let full = views(&ids);
        let author = 7;
        for x in 0..20 {
            if x == author {
                continue;
            }
            let peers = (0..20)
                .filter(|&j| j != x && j != author)
                .map(|j| (ReplicaId(ids[j]), addr(j)));
            let partial = View::new(ReplicaId(ids[x]), peers);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            full[x].children(ReplicaId(ids[x]), ReplicaId(ids[author]), 4, &mut a);
            partial.children(ReplicaId(ids[x]), ReplicaId(ids[author]), 4, &mut b);
            assert_eq!(a, b, "node {x}");
        }
    }

    #[test]
    fn pulls_wait_and_ask_only_for_what_is_still_missing() {
        let mut g = Gossip::default();
        let p = addr(1);
        let mut ours = VersionVector::new();
        ours.set(ReplicaId(5), 10);
        let have = [(ReplicaId(2), 3), (ReplicaId(5), 10), (ReplicaId(9), 4)];
        let delay = Duration::from_millis(100);
        let due = g.on_have(Time(0), p, &have, &ours, delay).unwrap();
        assert_eq!(due, Time(0) + delay);
        assert!(g.due_pulls(Time(1), &ours).is_empty(), "not yet");
        // Replica 2 arrived down the tree meanwhile: only 9 is pulled.
        ours.set(ReplicaId(2), 3);
        assert_eq!(
            g.due_pulls(due, &ours),
            vec![(p, (ReplicaId(9), ReplicaId(9)))]
        );
        assert!(g.next_pull().is_none());
        // Nothing lacking: no pull at all.
        ours.set(ReplicaId(9), 4);
        assert!(g.on_have(Time(0), p, &have, &ours, delay).is_none());
    }

    #[test]
    fn announcements_carry_only_what_grew() {
        let mut g = Gossip::default();
        let mut v = VersionVector::new();
        v.set(ReplicaId(1), 4);
        v.set(ReplicaId(2), 1);
        assert_eq!(g.take_announcement(&v).len(), 2);
        assert!(g.take_announcement(&v).is_empty());
        v.set(ReplicaId(2), 7);
        assert_eq!(g.take_announcement(&v), vec![(ReplicaId(2), 7)]);
    }
}
