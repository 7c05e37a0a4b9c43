//! Abuse limits as rates: a sustained rate per minute with bursts, enforced by a GCRA
//! limiter (governor) per key (a caller, a client address, a verifier's unknown keys).
//! [`Rate`] is the one type for "N per minute with a burst" wherever Locksmith uses it. Each instance keeps its own
//! counters, so with N instances behind a balancer a key gets at most N times the rate.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A rate: `per_minute` sustained, with bursts of up to `burst`. `per_minute = 0` turns
/// the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Self = Self {
        per_minute: 0,
        burst: 0,
    };
}

/// A limiter per key at `rate`; `None` when the rate is off.
pub struct Limiter<K: std::hash::Hash + Eq + Clone>(Option<DefaultKeyedRateLimiter<K>>);

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.0.is_some())
            .finish()
    }
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self(NonZeroU32::new(rate.per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        }))
    }

    /// Counts one request of `key`; over the rate, how long to wait (at least a second,
    /// rounded up to whole seconds, as `retry-after` says it).
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Duration::from_secs((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
        })
    }

    /// Forgets keys whose budget has fully recovered, so the map stays as small as the set
    /// of recently active clients.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_key_waits() {
        let limiter = Limiter::new(Rate {
            per_minute: 60,
            burst: 3,
        });
        for _ in 0..3 {
            assert!(limiter.check(&"me").is_ok());
        }
        assert_eq!(limiter.check(&"me"), Err(Duration::from_secs(1)));
        assert!(limiter.check(&"someone else").is_ok(), "keys are apart");
        let off = Limiter::new(Rate::OFF);
        for _ in 0..100 {
            assert!(off.check(&"me").is_ok());
        }
    }
}
