//! Abuse limits on the management API: a rate per authenticated caller, and the sign-in
//! gate's rate per client address on the token endpoints. Over the limit, a request gets
//! 429 with `retry-after`. Each instance keeps its own counters, so with N instances
//! behind a balancer a caller gets at most N times the configured rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use locksmith_core::identity::gate::SignInGate;
use locksmith_core::limits::Limiter;
pub use locksmith_core::limits::Rate;
use uuid::Uuid;

use super::problem::Problem;

/// The per-caller limiter of one instance; its rate can be replaced while running.
#[derive(Debug)]
pub struct ApiLimits {
    callers: arc_swap::ArcSwap<Limiter<Uuid>>,
}

impl ApiLimits {
    /// A limiter for `per_caller` (management endpoints).
    pub fn new(per_caller: Rate) -> Self {
        Self {
            callers: arc_swap::ArcSwap::from_pointee(Limiter::new(per_caller)),
        }
    }

    /// A new rate (`SIGHUP`): every caller starts again with a full burst.
    pub fn set_rate(&self, per_caller: Rate) {
        self.callers.store(Arc::new(Limiter::new(per_caller)));
    }

    /// 429 when the caller is over their rate.
    pub fn check_caller(&self, caller: Uuid) -> Result<(), Problem> {
        self.callers.load().check(&caller).map_err(too_many)
    }

    /// Forgets callers whose limits have fully recovered.
    pub fn forget_idle(&self) {
        self.callers.load().forget_idle();
    }
}

/// The 429 of a request over its rate.
pub fn too_many(wait: Duration) -> Problem {
    metrics::counter!("api_rate_limited_total").increment(1);
    Problem::too_many_requests(
        "rate_limited",
        "Too many requests; slow down and retry after the time in retry-after.",
        wait.as_secs(),
    )
}

/// An extractor for the token endpoints that check no password (refresh): rejects a
/// client address over the sign-in gate's rate. Sign-in itself is limited inside
/// `login`, whichever door it comes through.
pub struct AddressLimited;

/// Any state that holds the sign-in gate (the application's) can use it.
impl<S> FromRequestParts<S> for AddressLimited
where
    S: Send + Sync,
    Arc<SignInGate>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Arc::<SignInGate>::from_ref(state)
                .check_address(addr.ip())
                .map_err(too_many)?;
        }
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_over_the_burst_gets_a_429_with_retry_after() {
        let limits = ApiLimits::new(Rate {
            per_minute: 60,
            burst: 3,
        });
        let me = Uuid::new_v4();
        for _ in 0..3 {
            assert!(limits.check_caller(me).is_ok());
        }
        let refused = limits.check_caller(me).expect_err("over the burst");
        assert_eq!(refused.status.as_u16(), 429);
        assert_eq!(refused.retry_after, Some(1));
        assert!(limits.check_caller(Uuid::new_v4()).is_ok(), "others pass");
    }
}
