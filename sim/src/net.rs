//! The network model: what happens to one datagram on its way from one node to another.
//!
//! Per datagram: a partition or an MTU can stop it, loss can drop it, it can be
//! duplicated, and each copy gets its own one-way delay (mean, jitter, and an
//! occasional extra delay that reorders it behind later datagrams).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::queue::Micros;

/// Random per-datagram faults, the same on every link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkFaults {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub dup: f64,
    /// Probability a datagram gets an extra delay that lets later ones overtake it.
    pub reorder: f64,
    /// Mean one-way delay.
    pub delay: Micros,
    /// Delay varies uniformly within `delay ± jitter`.
    pub jitter: Micros,
}

impl LinkFaults {
    /// A healthy network: no loss, no duplication, no reordering; delay and jitter kept.
    pub fn healed(&self) -> LinkFaults {
        LinkFaults {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            ..self.clone()
        }
    }
}

/// Why a datagram did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    Loss,
    Partition,
    Mtu,
    /// The sender or the receiver was offline.
    Offline,
    /// The receiver had crashed.
    Down,
    /// The destination address is no node of the simulation.
    UnknownAddress,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::Loss,
        DropReason::Partition,
        DropReason::Mtu,
        DropReason::Offline,
        DropReason::Down,
        DropReason::UnknownAddress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::Mtu => "mtu",
            DropReason::Offline => "offline",
            DropReason::Down => "down",
            DropReason::UnknownAddress => "unknown_address",
        }
    }

    /// A stable code for the trace hash.
    pub fn code(self) -> u64 {
        self as u64 + 1
    }
}

/// Who cannot send to whom while a partition lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partition {
    /// Two-way: nodes in different groups cannot reach each other. Nodes in
    /// no group form one more group of their own.
    Split(Vec<Vec<usize>>),
    /// One-way: datagrams from any node of `from` to any node of `to` are lost;
    /// the other direction still works.
    OneWay { from: Vec<usize>, to: Vec<usize> },
}

impl Partition {
    /// Whether this partition stops datagrams from `from` to `to`.
    pub fn blocks(&self, from: usize, to: usize) -> bool {
        match self {
            Partition::Split(groups) => {
                let group_of = |n: usize| groups.iter().position(|g| g.contains(&n));
                group_of(from) != group_of(to)
            }
            Partition::OneWay { from: f, to: t } => f.contains(&from) && t.contains(&to),
        }
    }

    /// Draws a random partition of `nodes` nodes: two-way or one-way, random sides.
    pub fn random(nodes: usize, rng: &mut ChaCha8Rng) -> Partition {
        let mut side_a = Vec::new();
        let mut side_b = Vec::new();
        for n in 0..nodes {
            if rng.random_bool(0.5) {
                side_a.push(n)
            } else {
                side_b.push(n)
            }
        }
        // Both sides non-empty, so the partition cuts something.
        if side_a.is_empty() {
            side_a.push(side_b.remove(0));
        } else if side_b.is_empty() {
            side_b.push(side_a.remove(0));
        }
        if rng.random_bool(0.3) {
            Partition::OneWay {
                from: side_a,
                to: side_b,
            }
        } else {
            Partition::Split(vec![side_a, side_b])
        }
    }

    pub fn describe(&self) -> String {
        let list = |g: &[usize]| {
            g.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Partition::Split(groups) => {
                groups.iter().map(|g| list(g)).collect::<Vec<_>>().join("/")
            }
            Partition::OneWay { from, to } => format!("{}>{}", list(from), list(to)),
        }
    }
}

/// What the network does with one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Dropped(DropReason),
    /// Delivered after `delay`, and once more after `copy`'s delay when duplicated.
    Delivered {
        delay: Micros,
        copy: Option<Micros>,
    },
}

/// The links between `nodes` nodes: faults, per-link MTU and the partitions in force.
pub struct Network {
    nodes: usize,
    pub faults: LinkFaults,
    /// `link_mtu[from * nodes + to]`: the largest datagram the link carries.
    link_mtu: Vec<usize>,
    /// Active partitions, each with an id so it can be lifted on its own.
    partitions: Vec<(u64, Partition)>,
    /// `blocked[from * nodes + to]`, recomputed when partitions change.
    blocked: Vec<bool>,
}

impl Network {
    pub fn new(nodes: usize, faults: LinkFaults, link_mtu: Vec<usize>) -> Network {
        assert_eq!(link_mtu.len(), nodes * nodes);
        Network {
            nodes,
            faults,
            link_mtu,
            partitions: Vec::new(),
            blocked: vec![false; nodes * nodes],
        }
    }

    pub fn link_mtu(&self, from: usize, to: usize) -> usize {
        self.link_mtu[from * self.nodes + to]
    }

    pub fn add_partition(&mut self, id: u64, partition: Partition) {
        self.partitions.push((id, partition));
        self.recompute();
    }

    pub fn remove_partition(&mut self, id: u64) {
        self.partitions.retain(|(p, _)| *p != id);
        self.recompute();
    }

    pub fn heal_partitions(&mut self) {
        self.partitions.clear();
        self.recompute();
    }

    pub fn partitions(&self) -> impl Iterator<Item = &Partition> {
        self.partitions.iter().map(|(_, p)| p)
    }

    fn recompute(&mut self) {
        for from in 0..self.nodes {
            for to in 0..self.nodes {
                self.blocked[from * self.nodes + to] =
                    self.partitions.iter().any(|(_, p)| p.blocks(from, to));
            }
        }
    }

    pub fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked[from * self.nodes + to]
    }

    /// Decides the fate of a datagram of `len` bytes from `from` to `to`.
    /// Draws from `rng` in a fixed order, so the outcome depends only on its state.
    pub fn route(&self, from: usize, to: usize, len: usize, rng: &mut ChaCha8Rng) -> Route {
        if self.is_blocked(from, to) {
            return Route::Dropped(DropReason::Partition);
        }
        if len > self.link_mtu(from, to) {
            return Route::Dropped(DropReason::Mtu);
        }
        let f = &self.faults;
        if f.loss > 0.0 && rng.random_bool(f.loss) {
            return Route::Dropped(DropReason::Loss);
        }
        let duplicated = f.dup > 0.0 && rng.random_bool(f.dup);
        let delay = self.delay(rng);
        let copy = duplicated.then(|| self.delay(rng));
        Route::Delivered { delay, copy }
    }

    fn delay(&self, rng: &mut ChaCha8Rng) -> Micros {
        let f = &self.faults;
        let mut d = f.delay;
        if f.jitter > 0 {
            let j = rng.random_range(0..=2 * f.jitter);
            d = (d + j).saturating_sub(f.jitter);
        }
        if f.reorder > 0.0 && rng.random_bool(f.reorder) {
            // Long enough to be overtaken by datagrams sent after it.
            d += rng.random_range(0..=2 * f.delay + 2 * f.jitter + 10_000);
        }
        d.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn faults() -> LinkFaults {
        LinkFaults {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            delay: 10_000,
            jitter: 2_000,
        }
    }

    #[test]
    fn two_way_split_blocks_across_groups_only() {
        let p = Partition::Split(vec![vec![0, 1], vec![2]]);
        assert!(!p.blocks(0, 1));
        assert!(p.blocks(0, 2) && p.blocks(2, 1));
        // Node 3 is in no group: its own group.
        assert!(p.blocks(3, 0) && p.blocks(2, 3));
    }

    #[test]
    fn one_way_blocks_one_direction() {
        let p = Partition::OneWay {
            from: vec![0],
            to: vec![1, 2],
        };
        assert!(p.blocks(0, 1) && p.blocks(0, 2));
        assert!(!p.blocks(1, 0) && !p.blocks(2, 0) && !p.blocks(1, 2));
    }

    #[test]
    fn partitions_heal_independently() {
        let mut net = Network::new(3, faults(), vec![1500; 9]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        net.add_partition(1, Partition::Split(vec![vec![0], vec![1, 2]]));
        net.add_partition(2, Partition::Split(vec![vec![0, 1], vec![2]]));
        assert_eq!(
            net.route(1, 2, 10, &mut rng),
            Route::Dropped(DropReason::Partition)
        );
        net.remove_partition(2);
        assert!(matches!(
            net.route(1, 2, 10, &mut rng),
            Route::Delivered { .. }
        ));
        assert!(net.is_blocked(0, 1));
        net.heal_partitions();
        assert!(!net.is_blocked(0, 1));
    }

    #[test]
    fn mtu_loss_dup_and_delay_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut mtus = vec![1200; 4];
        mtus[1] = 500; // link 0 -> 1
        let net = Network::new(2, faults(), mtus);
        assert_eq!(
            net.route(0, 1, 501, &mut rng),
            Route::Dropped(DropReason::Mtu)
        );
        assert!(matches!(
            net.route(1, 0, 501, &mut rng),
            Route::Delivered { .. }
        ));
        for _ in 0..1000 {
            match net.route(0, 1, 100, &mut rng) {
                Route::Delivered { delay, copy } => {
                    assert_eq!(copy, None);
                    assert!((8_000..=12_000).contains(&delay), "{delay}");
                }
                other => panic!("{other:?}"),
            }
        }
        let lossy = Network::new(
            2,
            LinkFaults {
                loss: 0.5,
                dup: 0.5,
                ..faults()
            },
            vec![1200; 4],
        );
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match lossy.route(0, 1, 100, &mut rng) {
                Route::Dropped(DropReason::Loss) => lost += 1,
                Route::Delivered { copy: Some(_), .. } => dup += 1,
                Route::Delivered { copy: None, .. } => {}
                other => panic!("{other:?}"),
            }
        }
        assert!((4_500..5_500).contains(&lost), "{lost}");
        assert!((2_000..3_000).contains(&dup), "{dup}");
    }

    #[test]
    fn random_partitions_cut_something() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for nodes in 2..8 {
            for _ in 0..50 {
                let p = Partition::random(nodes, &mut rng);
                let cuts = (0..nodes)
                    .flat_map(|a| (0..nodes).map(move |b| (a, b)))
                    .filter(|&(a, b)| p.blocks(a, b))
                    .count();
                assert!(cuts > 0, "{p:?}");
            }
        }
    }
}
