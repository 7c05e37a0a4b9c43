//! Exponential back-off with a cap, used for connection retries at start-up.

use std::time::Duration;

/// A capped exponential back-off schedule: `initial`, `2 × initial`, … up to `max`.
///
/// It is an iterator of delays and ends once the sum of delays would exceed `budget`,
/// so a caller that sleeps each delay never waits longer than the budget overall.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    remaining: Duration,
}

impl Backoff {
    /// A schedule starting at `initial`, doubling up to `max`, spending at most `budget`.
    pub fn new(initial: Duration, max: Duration, budget: Duration) -> Self {
        Self {
            next: initial.min(max),
            max,
            remaining: budget,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.remaining.is_zero() || self.next.is_zero() {
            return None;
        }
        let delay = self.next.min(self.remaining);
        self.remaining -= delay;
        self.next = (self.next * 2).min(self.max);
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap() {
        let delays: Vec<_> = Backoff::new(100 * MS, 400 * MS, 10_000 * MS)
            .take(5)
            .collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 400 * MS, 400 * MS]);
    }

    #[test]
    fn never_exceeds_the_budget() {
        let delays: Vec<_> = Backoff::new(100 * MS, 1_000 * MS, 750 * MS).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 50 * MS]);
        assert_eq!(delays.iter().sum::<Duration>(), 750 * MS);
    }

    #[test]
    fn a_zero_budget_means_no_retry() {
        assert_eq!(
            Backoff::new(100 * MS, 1_000 * MS, Duration::ZERO).count(),
            0
        );
    }

    #[test]
    fn initial_above_the_cap_is_capped() {
        assert_eq!(
            Backoff::new(5_000 * MS, 1_000 * MS, 2_000 * MS).next(),
            Some(1_000 * MS)
        );
    }
}
