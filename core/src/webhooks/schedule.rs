//! When a failed delivery is tried again: quickly at first (a receiver restarting), then
//! further and further apart, for about three days in all (a receiver down over a
//! weekend still gets everything). Each wait is jittered by up to a fifth either way, so
//! that the deliveries of an outage do not all come back in one burst.

use std::time::Duration;

/// The wait before each retry: the first retry comes 10 s after the first attempt failed.
pub const RETRY_WAITS: [Duration; 9] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(12 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(24 * 3600),
];

/// Attempts in all: the first and one per retry.
pub const MAX_ATTEMPTS: u32 = RETRY_WAITS.len() as u32 + 1;

/// The wait after the `failed`-th failed attempt (1 for the first), jittered by `spread`
/// (a random number in [0, 1): 0.5 keeps the wait as scheduled); `None` when no attempt
/// is left.
pub fn retry_after(failed: u32, spread: f64) -> Option<Duration> {
    RetrySchedule::default().retry_after(failed, spread)
}

/// A retry schedule: the default above, or the installation's own
/// (`LOCKSMITH_WEBHOOK_RETRY_SCHEDULE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(RETRY_WAITS.to_vec())
    }
}

impl RetrySchedule {
    /// Most retries a schedule may have.
    pub const MAX_RETRIES: usize = 30;

    /// A schedule of these waits: 0 to 30 of them, each 1 s to a week, never shorter
    /// than the one before. The error says what is wrong.
    pub fn new(waits: Vec<Duration>) -> Result<Self, String> {
        if waits.len() > Self::MAX_RETRIES {
            return Err(format!("at most {} retries", Self::MAX_RETRIES));
        }
        if waits
            .iter()
            .any(|w| *w < Duration::from_secs(1) || *w > Duration::from_secs(7 * 86_400))
        {
            return Err("each wait must be 1 s to 604800 s (a week)".into());
        }
        if waits.windows(2).any(|w| w[1] < w[0]) {
            return Err("each wait must be at least as long as the one before".into());
        }
        Ok(Self(waits))
    }

    /// Attempts in all: the first and one per retry.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// See [`retry_after`].
    pub fn retry_after(&self, failed: u32, spread: f64) -> Option<Duration> {
        let base = self.0.get(usize::try_from(failed.checked_sub(1)?).ok()?)?;
        let factor = 0.8 + 0.4 * spread.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_spread_over_about_three_days_then_stop() {
        let total: Duration = (1..MAX_ATTEMPTS).filter_map(|n| retry_after(n, 0.5)).sum();
        let hours = total.as_secs_f64() / 3600.0;
        assert!((68.0..=72.0).contains(&hours), "{hours} h");
        assert_eq!(
            retry_after(MAX_ATTEMPTS, 0.5),
            None,
            "the last attempt is the last"
        );
        assert_eq!(retry_after(0, 0.5), None, "nothing failed yet");
        assert_eq!(retry_after(1, 0.5), Some(Duration::from_secs(10)));
        assert!(RETRY_WAITS.windows(2).all(|w| w[0] <= w[1]), "never sooner");
    }

    #[test]
    fn a_custom_schedule_is_checked_and_followed() {
        let s = RetrySchedule::new(vec![Duration::from_secs(1), Duration::from_secs(2)])
            .expect("valid");
        assert_eq!(s.max_attempts(), 3);
        assert_eq!(s.retry_after(2, 0.5), Some(Duration::from_secs(2)));
        assert_eq!(s.retry_after(3, 0.5), None);
        assert!(RetrySchedule::new(vec![Duration::from_secs(5), Duration::from_secs(1)]).is_err());
        assert!(RetrySchedule::new(vec![Duration::ZERO]).is_err());
        assert_eq!(RetrySchedule::new(vec![]).expect("none").max_attempts(), 1);
        assert_eq!(RetrySchedule::default().max_attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn jitter_stays_within_a_fifth_either_way() {
        for n in 1..MAX_ATTEMPTS {
            let base = RETRY_WAITS[n as usize - 1];
            let low = retry_after(n, 0.0).expect("scheduled");
            let high = retry_after(n, 0.999_999).expect("scheduled");
            assert_eq!(low, base.mul_f64(0.8));
            assert!(high < base.mul_f64(1.2) && high > base.mul_f64(1.199));
            assert_eq!(retry_after(n, 7.0), Some(base.mul_f64(1.2)), "clamped");
        }
    }
}
