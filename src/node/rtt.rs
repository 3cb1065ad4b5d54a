//! Round-trip time estimation and the retransmission timeout (RFC 6298,
//! with the peer's ack delay added as QUIC's probe timeout adds it, RFC
//! 9002 6.2.1), with exponential backoff and a cap.

use std::time::Duration;

/// Clock granularity G of RFC 6298: the node's timers are in microseconds,
/// but a driver rarely wakes more precisely than a millisecond.
const GRANULARITY: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    latest: Option<Duration>,
    rttvar: Duration,
    initial_rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    /// How long the peer may hold an ack back: an ack that long late is
    /// no loss, so every timeout waits for it.
    max_ack_delay: Duration,
    /// Consecutive timeouts without an ack in between: the RTO doubles each time.
    backoff: u32,
}

/// While the peer is heard from, the timeout backs off to at most this
/// many times its base: the path works (RFC 6298's backoff is for one that
/// may be gone), only datagrams are lost.
const HEARD_BACKOFF_MAX: u32 = 4;

impl RttEstimator {
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            latest: None,
            rttvar: Duration::ZERO,
            initial_rto,
            min_rto,
            max_rto,
            max_ack_delay: Duration::ZERO,
            backoff: 0,
        }
    }

    /// The peer holds acks back at most `delay` (RFC 9002's max_ack_delay):
    /// every timeout after a sample waits that much longer.
    #[must_use]
    pub fn with_max_ack_delay(mut self, delay: Duration) -> Self {
        self.max_ack_delay = delay;
        self
    }

    /// This estimator with `path` as its timeout before any sample: the
    /// base timeout last measured from this node, to another peer (RFC
    /// 9002, 6.2.2, lets a new connection start from an earlier one's RTT
    /// on the same network). Unchanged once sampled, or without a path.
    #[must_use]
    pub fn or_path(&self, path: Option<Duration>) -> RttEstimator {
        let mut e = *self;
        if let (None, Some(path)) = (e.srtt, path) {
            e.initial_rto = path;
        }
        e
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Feeds one measurement (RFC 6298 section 2, alpha = 1/8, beta = 1/4).
    pub fn sample(&mut self, rtt: Duration) {
        self.latest = Some(rtt);
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// The timeout before backoff: SRTT + max(G, 4 RTTVAR) + the peer's
    /// ack delay, within bounds.
    pub fn base_rto(&self) -> Duration {
        let rto = match self.srtt {
            None => self.initial_rto,
            Some(srtt) => srtt + (self.rttvar * 4).max(GRANULARITY) + self.max_ack_delay,
        };
        rto.clamp(self.min_rto, self.max_rto)
    }

    /// The timeout now, backoff included, capped at the maximum.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.base_rto().saturating_mul(factor).min(self.max_rto)
    }

    /// The timeout now while the peer is heard from: backed off at most
    /// to `HEARD_BACKOFF_MAX` base timeouts.
    pub fn rto_while_heard(&self) -> Duration {
        self.rto()
            .min(self.base_rto().saturating_mul(HEARD_BACKOFF_MAX))
    }

    /// How long after a later datagram was acknowledged an earlier one
    /// counts as lost (RFC 9002, 6.1.2: 9/8 of the larger of SRTT and the
    /// latest sample). `None` before any sample.
    pub fn loss_delay(&self) -> Option<Duration> {
        let rtt = self.srtt?.max(self.latest?);
        Some((rtt * 9 / 8).max(GRANULARITY))
    }

    /// A retransmission timer fired: back off.
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(16);
    }

    /// New data was acknowledged: the path works, forget the backoff.
    pub fn on_ack(&mut self) {
        self.backoff = 0;
    }

    pub fn backoff(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn est() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(200), ms(10_000))
    }

    #[test]
    fn initial_rto_before_any_sample() {
        assert_eq!(est().rto(), ms(1000));
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut e = est();
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // 100 + 4 * 50
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn later_samples_smooth() {
        let mut e = est();
        e.sample(ms(100));
        e.sample(ms(200));
        // rttvar = 3/4 * 50 + 1/4 * 100 = 62.5; srtt = 7/8 * 100 + 1/8 * 200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn steady_rtt_converges_to_min_rto_floor() {
        let mut e = est();
        for _ in 0..100 {
            e.sample(ms(10));
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        assert_eq!(e.rto(), ms(200), "floored at min_rto");
    }

    #[test]
    fn loss_delay_is_nine_eighths_of_the_larger_rtt() {
        let mut e = est();
        assert_eq!(e.loss_delay(), None);
        e.sample(ms(80));
        e.sample(ms(40)); // srtt 75 ms, latest 40 ms
        assert_eq!(e.loss_delay(), Some(Duration::from_micros(75_000 * 9 / 8)));
    }

    #[test]
    fn the_peers_ack_delay_is_in_every_measured_timeout() {
        let mut e = RttEstimator::new(ms(1000), ms(1), ms(10_000)).with_max_ack_delay(ms(25));
        assert_eq!(e.rto(), ms(1000), "not before a sample");
        e.sample(ms(40));
        // 40 + 4 * 20 + 25
        assert_eq!(e.rto(), ms(145));
    }

    #[test]
    fn while_heard_the_backoff_stops_at_four_base_timeouts() {
        let mut e = est();
        e.sample(ms(100)); // rto 300 ms
        e.on_timeout();
        assert_eq!(e.rto_while_heard(), ms(600));
        for _ in 0..3 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), ms(4800));
        assert_eq!(e.rto_while_heard(), ms(1200));
    }

    #[test]
    fn a_measured_path_times_a_peer_not_measured_yet() {
        let mut e = est();
        assert_eq!(e.or_path(None).rto(), ms(1000));
        // Floored as any timeout, and backed off as the peer's own.
        assert_eq!(e.or_path(Some(ms(60))).rto(), ms(200));
        e.on_timeout();
        assert_eq!(e.or_path(Some(ms(300))).rto(), ms(600));
        e.sample(ms(100));
        assert_eq!(
            e.or_path(Some(ms(5000))).base_rto(),
            ms(300),
            "its own, once sampled"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = est();
        e.sample(ms(100)); // rto 300 ms
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        for _ in 0..40 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), ms(10_000), "capped at max_rto");
        e.on_ack();
        assert_eq!(e.rto(), ms(300));
    }
}
