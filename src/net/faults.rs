//! Injected loss and delay (`--loss P`, `--delay MS`), for experiments on a
//! real network. Seeded, so a run's choices can be replayed.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::node::Time;

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Drop,
    /// Hand it on at this time (now, when there is no delay).
    DeliverAt(Time),
}

#[derive(Debug, Clone)]
pub struct Faults {
    loss: f64,
    delay: Duration,
    seed: u64,
    rng: ChaCha8Rng,
}

impl Faults {
    /// `loss` is the chance each datagram (sent or received) is dropped;
    /// `delay` the mean extra delay, drawn uniformly from 0.5x to 1.5x so
    /// that delayed datagrams also get reordered.
    pub fn new(loss: f64, delay: Duration, seed: u64) -> Faults {
        Faults {
            loss: loss.clamp(0.0, 1.0),
            delay,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn none() -> Faults {
        Faults::new(0.0, Duration::ZERO, 0)
    }

    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || !self.delay.is_zero()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn loss(&self) -> f64 {
        self.loss
    }

    pub fn delay(&self) -> Duration {
        self.delay
    }

    pub fn decide(&mut self, now: Time) -> Fate {
        if self.loss > 0.0 && self.rng.random_bool(self.loss) {
            return Fate::Drop;
        }
        if self.delay.is_zero() {
            return Fate::DeliverAt(now);
        }
        let mean = self.delay.as_micros() as u64;
        let extra = self.rng.random_range(mean / 2..=mean + mean / 2);
        Fate::DeliverAt(Time(now.0.saturating_add(extra)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_deliver_now() {
        let mut f = Faults::none();
        assert!(!f.is_active());
        for t in 0..100 {
            assert_eq!(f.decide(Time(t)), Fate::DeliverAt(Time(t)));
        }
    }

    #[test]
    fn loss_rate_is_roughly_p_and_seeded() {
        let run = |seed| {
            let mut f = Faults::new(0.3, Duration::ZERO, seed);
            (0..10_000)
                .map(|_| f.decide(Time(0)) == Fate::Drop)
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let dropped = a.iter().filter(|d| **d).count();
        assert!((2500..3500).contains(&dropped), "{dropped}");
    }

    #[test]
    fn delay_stays_within_half_to_one_and_a_half_times() {
        let mut f = Faults::new(0.0, Duration::from_millis(100), 1);
        for _ in 0..1000 {
            match f.decide(Time(1_000_000)) {
                Fate::DeliverAt(t) => assert!((1_050_000..=1_150_000).contains(&t.0)),
                Fate::Drop => panic!("no loss configured"),
            }
        }
    }
}
