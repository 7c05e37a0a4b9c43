//! The circuit breaker: after repeated failures, calls fail at once for a while instead
//! of each waiting for its own timeout, which keeps a service responsive (and its
//! fail-open answers fast) while Locksmith is away.
//!
//! - *Closed*: calls go through; `failure_threshold` failures in a row open it.
//! - *Open*: calls fail at once with
//!   [`UnavailableReason::BreakerOpen`](crate::UnavailableReason::BreakerOpen), for
//!   `open_for`.
//! - *Half-open*: one probe call goes through, the others still fail at once. Its success
//!   closes the breaker, its failure opens it again for `open_for`.
//!
//! A failure is a connection error, a timeout, or a 503 (or a proxy's 502/504); any other
//! HTTP answer is a success, since the server was there to give it. The state machine is
//! [`BreakerState`], pure and driven by the caller's clock; [`Breaker`] shares it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Circuit breaker settings, for [`ClientBuilder::breaker`](crate::ClientBuilder::breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures in a row that open the breaker (default 5; at least 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before it lets one probe through (default 5 s).
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(5),
        }
    }
}

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Calls go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Calls fail at once until `until`.
    Open { until: Instant },
    /// One probe may go through (`probing`: it is under way).
    HalfOpen { probing: bool },
}

/// What a call was let through as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// An ordinary call of a closed breaker.
    Normal,
    /// The one probe of a half-open breaker: its outcome decides.
    Probe,
}

/// The breaker's state machine. Every transition takes the time it happens at.
#[derive(Debug, Clone)]
pub(crate) struct BreakerState {
    config: BreakerConfig,
    phase: Phase,
}

impl BreakerState {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            phase: Phase::Closed { failures: 0 },
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a call may go through at `now`, and as what.
    pub(crate) fn acquire(&mut self, now: Instant) -> Option<Permit> {
        match self.phase {
            Phase::Closed { .. } => Some(Permit::Normal),
            Phase::Open { until } if now >= until => {
                self.phase = Phase::HalfOpen { probing: true };
                Some(Permit::Probe)
            }
            Phase::HalfOpen { probing: false } => {
                self.phase = Phase::HalfOpen { probing: true };
                Some(Permit::Probe)
            }
            Phase::Open { .. } | Phase::HalfOpen { probing: true } => None,
        }
    }

    /// The call let through as `permit` reached the server.
    pub(crate) fn succeeded(&mut self, permit: Permit) {
        match (permit, self.phase) {
            (Permit::Probe, _) | (Permit::Normal, Phase::Closed { .. }) => {
                self.phase = Phase::Closed { failures: 0 };
            }
            // A call from before the breaker opened says nothing the probe will not.
            (Permit::Normal, Phase::Open { .. } | Phase::HalfOpen { .. }) => {}
        }
    }

    /// The call let through as `permit` failed at `now`.
    pub(crate) fn failed(&mut self, permit: Permit, now: Instant) {
        match (permit, self.phase) {
            (Permit::Probe, _) => self.open(now),
            (Permit::Normal, Phase::Closed { failures }) => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    self.open(now);
                } else {
                    self.phase = Phase::Closed { failures };
                }
            }
            (Permit::Normal, Phase::Open { .. } | Phase::HalfOpen { .. }) => {}
        }
    }

    /// The call let through as `permit` ended without an outcome (its caller dropped
    /// it): a probe's place goes to the next call.
    pub(crate) fn abandoned(&mut self, permit: Permit) {
        if permit == Permit::Probe && self.phase == (Phase::HalfOpen { probing: true }) {
            self.phase = Phase::HalfOpen { probing: false };
        }
    }

    fn open(&mut self, now: Instant) {
        self.phase = Phase::Open {
            until: now + self.config.open_for,
        };
    }
}

/// The breaker of one [`Client`](crate::Client), shared by its calls.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<BreakerState>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            state: Mutex::new(BreakerState::new(config)),
        }
    }

    /// A call, when the breaker lets one through now; its outcome must be reported.
    pub(crate) fn acquire(&self) -> Option<Call<'_>> {
        let permit = self.with(|state| state.acquire(Instant::now()))?;
        Some(Call {
            breaker: self,
            permit,
            reported: false,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut BreakerState) -> T) -> T {
        // The state stays consistent whatever panicked while holding the lock.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = state.phase();
        let result = f(&mut state);
        match (before, state.phase()) {
            (Phase::Closed { .. } | Phase::HalfOpen { .. }, Phase::Open { .. }) => {
                tracing::warn!(
                    open_for = ?state.config.open_for,
                    "Locksmith circuit breaker opened: verifications fail at once for now"
                );
            }
            (Phase::HalfOpen { .. }, Phase::Closed { .. }) => {
                tracing::info!("Locksmith circuit breaker closed: Locksmith answers again");
            }
            _ => {}
        }
        result
    }
}

/// One call through the breaker. Dropped without an outcome, it is
/// [abandoned](BreakerState::abandoned).
#[derive(Debug)]
pub(crate) struct Call<'a> {
    breaker: &'a Breaker,
    permit: Permit,
    reported: bool,
}

impl Call<'_> {
    /// The server answered.
    pub(crate) fn succeeded(mut self) {
        self.reported = true;
        self.breaker.with(|state| state.succeeded(self.permit));
    }

    /// The call failed (connection, timeout, 503).
    pub(crate) fn failed(mut self) {
        self.reported = true;
        self.breaker
            .with(|state| state.failed(self.permit, Instant::now()));
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker.with(|state| state.abandoned(self.permit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(5);

    fn breaker(failure_threshold: u32) -> BreakerState {
        BreakerState::new(BreakerConfig {
            failure_threshold,
            open_for: OPEN_FOR,
        })
    }

    /// Fails `n` normal calls at `now`.
    fn fail(state: &mut BreakerState, n: u32, now: Instant) {
        for _ in 0..n {
            let permit = state.acquire(now).expect("let through");
            state.failed(permit, now);
        }
    }

    #[test]
    fn it_opens_after_the_threshold_of_failures_in_a_row() {
        let t0 = Instant::now();
        let mut state = breaker(3);
        fail(&mut state, 2, t0);
        assert_eq!(state.phase(), Phase::Closed { failures: 2 });
        fail(&mut state, 1, t0);
        assert_eq!(
            state.phase(),
            Phase::Open {
                until: t0 + OPEN_FOR
            }
        );
        assert_eq!(
            state.acquire(t0 + OPEN_FOR / 2),
            None,
            "open: fails at once"
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut state = breaker(3);
        fail(&mut state, 2, t0);
        let permit = state.acquire(t0).expect("closed");
        state.succeeded(permit);
        fail(&mut state, 2, t0);
        assert_eq!(state.phase(), Phase::Closed { failures: 2 });
    }

    #[test]
    fn after_the_open_period_one_probe_goes_through_and_its_success_closes() {
        let t0 = Instant::now();
        let mut state = breaker(1);
        fail(&mut state, 1, t0);
        let later = t0 + OPEN_FOR;
        assert_eq!(state.acquire(later), Some(Permit::Probe));
        assert_eq!(state.acquire(later), None, "only one probe at a time");
        state.succeeded(Permit::Probe);
        assert_eq!(state.phase(), Phase::Closed { failures: 0 });
        assert_eq!(state.acquire(later), Some(Permit::Normal));
    }

    #[test]
    fn a_failed_probe_reopens_for_a_whole_period() {
        let t0 = Instant::now();
        let mut state = breaker(1);
        fail(&mut state, 1, t0);
        let probe_at = t0 + OPEN_FOR + Duration::from_secs(1);
        let permit = state.acquire(probe_at).expect("probe");
        state.failed(permit, probe_at);
        assert_eq!(
            state.phase(),
            Phase::Open {
                until: probe_at + OPEN_FOR
            }
        );
        assert_eq!(state.acquire(probe_at + OPEN_FOR / 2), None);
    }

    #[test]
    fn an_abandoned_probe_hands_its_place_to_the_next_call() {
        let t0 = Instant::now();
        let mut state = breaker(1);
        fail(&mut state, 1, t0);
        let later = t0 + OPEN_FOR;
        let permit = state.acquire(later).expect("probe");
        state.abandoned(permit);
        assert_eq!(state.acquire(later), Some(Permit::Probe));
    }

    #[test]
    fn calls_from_before_the_breaker_opened_do_not_decide() {
        let t0 = Instant::now();
        let mut state = breaker(2);
        let early = state.acquire(t0).expect("closed");
        let late = state.acquire(t0).expect("closed");
        fail(&mut state, 2, t0);
        // Both earlier calls finish while it is open: neither closes nor extends it.
        state.succeeded(early);
        state.failed(late, t0 + Duration::from_secs(1));
        assert_eq!(
            state.phase(),
            Phase::Open {
                until: t0 + OPEN_FOR
            }
        );
        // Nor while half-open: only the probe decides.
        let probe = state.acquire(t0 + OPEN_FOR).expect("probe");
        state.succeeded(Permit::Normal);
        assert_eq!(state.phase(), Phase::HalfOpen { probing: true });
        state.failed(Permit::Normal, t0 + OPEN_FOR);
        assert_eq!(state.phase(), Phase::HalfOpen { probing: true });
        state.succeeded(probe);
        assert_eq!(state.phase(), Phase::Closed { failures: 0 });
    }

    #[test]
    fn the_shared_breaker_counts_dropped_probes_as_abandoned() {
        let shared = Breaker::new(BreakerConfig {
            failure_threshold: 1,
            open_for: Duration::ZERO,
        });
        shared.acquire().expect("closed").failed();
        let probe = shared.acquire().expect("the probe, at once");
        assert!(shared.acquire().is_none(), "the probe is under way");
        drop(probe);
        shared.acquire().expect("the next probe").succeeded();
        assert!(shared.acquire().is_some());
    }
}
