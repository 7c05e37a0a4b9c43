//! Exponential back-off with full jitter, for retried verifications and for reconnecting
//! the invalidation stream.
//!
//! The wait before retry `n` (0 for the first retry) is drawn uniformly from
//! `0..=min(cap, base * 2^n)`: spreading the waits over the whole range keeps a fleet of
//! clients that failed together from retrying together.

use std::time::Duration;

use rand::Rng;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
}

impl Backoff {
    /// Waits starting at most `base`, doubling, never more than `cap`.
    pub(crate) const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The longest wait before retry `retry` (0-based).
    pub(crate) fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1_u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`: uniformly random up to [`Backoff::ceiling`].
    pub(crate) fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }

    /// [`Backoff::delay`] with the thread's random number generator.
    pub(crate) fn jittered(&self, retry: u32) -> Duration {
        self.delay(retry, &mut rand::rng())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let backoff = Backoff::new(50 * MS, 1000 * MS);
        let ceilings: Vec<_> = (0..7).map(|n| backoff.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [
                50 * MS,
                100 * MS,
                200 * MS,
                400 * MS,
                800 * MS,
                1000 * MS,
                1000 * MS
            ]
        );
        assert_eq!(
            backoff.ceiling(40),
            1000 * MS,
            "no overflow on long outages"
        );
        assert_eq!(backoff.ceiling(u32::MAX), 1000 * MS);
    }

    #[test]
    fn delays_are_jittered_over_the_whole_range_and_never_past_the_ceiling() {
        let backoff = Backoff::new(100 * MS, 5000 * MS);
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 0..10 {
            let ceiling = backoff.ceiling(retry);
            let delays: Vec<_> = (0..500).map(|_| backoff.delay(retry, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling));
            // Full jitter: both halves of the range are used.
            assert!(delays.iter().any(|d| *d < ceiling / 4));
            assert!(delays.iter().any(|d| *d > ceiling * 3 / 4));
        }
    }

    #[test]
    fn a_zero_base_never_waits() {
        let backoff = Backoff::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(backoff.jittered(3), Duration::ZERO);
    }
}
