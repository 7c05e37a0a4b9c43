//! `UnknownKeyThrottle`: a leaked verifier token must not become a key-guessing oracle.
//!
//! Every `NOT_FOUND` answer (unknown, malformed or foreign key) spends from its
//! verifier's budget, a GCRA limiter (governor). Once the budget is spent the verifier
//! is throttled until it refills: any key that is not already in this instance's cache
//! of known keys gets 429 with `retry-after`, without a lookup. Known keys keep
//! verifying, so a service whose own users send junk keys is not cut off from its real
//! traffic, while guessing (which never hits a known key) stops at the budget's rate.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::limits::{Limiter, Rate};

/// The budget when none is configured: 600 unknown keys a minute, bursts of 100.
pub const DEFAULT_BUDGET: Rate = Rate {
    per_minute: 600,
    burst: 100,
};

/// The budgets of every verifier, on this instance.
pub struct UnknownKeyThrottle {
    limiter: Limiter<Uuid>,
    /// Verifiers over budget, and until when.
    throttled: moka::sync::Cache<Uuid, Instant>,
}

impl std::fmt::Debug for UnknownKeyThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownKeyThrottle")
            .field("limiter", &self.limiter)
            .field("throttled", &self.throttled.entry_count())
            .finish()
    }
}

impl UnknownKeyThrottle {
    /// A throttle with `budget` per verifier (`Rate::OFF`: none).
    pub fn new(budget: Rate) -> Self {
        Self {
            limiter: Limiter::new(budget),
            throttled: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    /// How long `verifier` must wait before unknown keys are looked up again; `None`
    /// when it is within its budget.
    pub fn throttled(&self, verifier: Uuid) -> Option<Duration> {
        let until = self.throttled.get(&verifier)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.throttled.invalidate(&verifier);
            None
        } else {
            Some(left)
        }
    }

    /// Spends one unknown key of `verifier`'s budget; over budget, throttles it and
    /// says for how long.
    pub fn spend(&self, verifier: Uuid) -> Option<Duration> {
        // At least a second, in whole seconds, as `retry-after` counts.
        let wait = self.limiter.check(&verifier).err()?;
        self.throttled.insert(verifier, Instant::now() + wait);
        metrics::counter!("verify_throttled_verifiers_total").increment(1);
        Some(wait)
    }

    /// Drops the budgets of verifiers that have been quiet long enough to be back at a
    /// full burst.
    pub fn forget_idle(&self) {
        self.limiter.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_over_budget_is_throttled_alone() {
        let throttle = UnknownKeyThrottle::new(Rate {
            per_minute: 1,
            burst: 3,
        });
        let (noisy, quiet) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            assert_eq!(throttle.spend(noisy), None, "within the burst");
        }
        assert_eq!(throttle.throttled(noisy), None);
        let wait = throttle.spend(noisy).expect("over budget");
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60));
        assert!(throttle.throttled(noisy).is_some());
        assert_eq!(throttle.throttled(quiet), None, "budgets are per verifier");
        assert_eq!(throttle.spend(quiet), None);
    }

    #[test]
    fn a_zero_rate_turns_it_off() {
        let throttle = UnknownKeyThrottle::new(Rate {
            per_minute: 0,
            burst: 0,
        });
        let v = Uuid::new_v4();
        assert!((0..1000).all(|_| throttle.spend(v).is_none()));
    }
}
