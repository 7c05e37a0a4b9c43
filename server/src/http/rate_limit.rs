//! Abuse limits on the management API: a GCRA limiter (governor) per authenticated caller,
//! and one per client address on the unauthenticated token endpoints. Over the limit, a
//! request gets 429 with `retry-after`. Each instance keeps its own counters, so with N
//! instances behind a balancer a caller gets at most N times the configured rate.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::problem::Problem;
use crate::state::AppState;

/// A rate: `per_minute` sustained, with bursts of up to `burst`. `per_minute = 0` turns
/// the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(rate: Rate) -> Option<DefaultKeyedRateLimiter<K>> {
    let per_minute = NonZeroU32::new(rate.per_minute)?;
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

/// The limiters of one instance.
pub struct ApiLimits {
    callers: Option<DefaultKeyedRateLimiter<Uuid>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for ApiLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLimits")
            .field("callers", &self.callers.is_some())
            .field("addresses", &self.addresses.is_some())
            .finish()
    }
}

impl ApiLimits {
    /// Limiters for `per_caller` (management endpoints) and `per_address` (token endpoints).
    pub fn new(per_caller: Rate, per_address: Rate) -> Self {
        Self {
            callers: limiter(per_caller),
            addresses: limiter(per_address),
        }
    }

    /// 429 when the caller is over their rate.
    pub fn check_caller(&self, caller: Uuid) -> Result<(), Problem> {
        check(self.callers.as_ref(), &caller)
    }

    /// 429 when the address is over its rate.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Problem> {
        check(self.addresses.as_ref(), &address)
    }

    /// Forgets callers and addresses whose limits have fully recovered, so the maps stay
    /// as small as the set of recently active clients.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.callers {
            l.retain_recent();
        }
        if let Some(l) = &self.addresses {
            l.retain_recent();
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Problem> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        metrics::counter!("api_rate_limited_total").increment(1);
        Problem::too_many_requests(
            "rate_limited",
            "Too many requests; slow down and retry after the time in retry-after.",
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        )
    })
}

/// An extractor for the token endpoints: rejects a client address over its rate.
pub struct AddressLimited;

impl FromRequestParts<AppState> for AddressLimited {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            state.limits.check_address(addr.ip())?;
        }
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits() {
        let limits = ApiLimits::new(
            Rate {
                per_minute: 60,
                burst: 3,
            },
            Rate {
                per_minute: 0,
                burst: 0,
            },
        );
        let me = Uuid::new_v4();
        for _ in 0..3 {
            assert!(limits.check_caller(me).is_ok());
        }
        let refused = limits.check_caller(me).expect_err("over the burst");
        assert_eq!(refused.status.as_u16(), 429);
        assert_eq!(refused.retry_after, Some(1));
        // Others are not affected; a zero rate means no limit.
        assert!(limits.check_caller(Uuid::new_v4()).is_ok());
        for _ in 0..100 {
            assert!(limits.check_address([127, 0, 0, 1].into()).is_ok());
        }
    }
}
