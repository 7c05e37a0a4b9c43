//! [`UnavailablePolicy`]: what a client answers when Locksmith cannot decide.

use std::time::Duration;

/// What to answer when Locksmith cannot decide: it cannot be reached (after the
/// retries), does not answer in time, is degraded (503), or the circuit breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnavailablePolicy {
    /// Fail with [`Error::Unavailable`](crate::Error::Unavailable): no key is accepted that Locksmith did not
    /// accept just now (the default).
    #[default]
    FailClosed,
    /// Answer with the `VALID` answer recorded for the same request (the same key,
    /// scopes and client address) within `max_age`, marked
    /// [`Source::FailOpen`](crate::Source::FailOpen); fail with the error otherwise.
    ///
    /// Such an answer spends nothing from the key's quota or rate limit: they are counted
    /// by the server, which is not there. A key changed since the answer was recorded
    /// (revoked, say) is not answered from the store when the change was heard on the
    /// invalidation stream, which needs the [cache](crate::ClientBuilder::cache) on; otherwise,
    /// and for changes made while the stream was down, `max_age` is the bound.
    FailOpen {
        /// How old a recorded answer may be.
        max_age: Duration,
    },
}
