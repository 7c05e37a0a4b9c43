//! Key verification: the pure decision, the per-key rate windows, the quota leases, the
//! unknown-key throttle, the caches with their invalidation listener, and the service
//! that authenticates verifiers and verifies keys around them.

pub mod announcement;
pub(crate) mod barrier;
pub mod cache;
pub mod changes;
pub mod decision;
mod keyed;
mod listener;
pub mod quota;
pub mod rate;
pub mod service;
pub mod throttle;

pub use decision::{Code, KeyRecord, LimitState, QuotaOutcome, Request, covers, decide};
pub use service::{
    DEFAULT_LOG_PER_KEY, ReportedUse, Verdict, VerifyConfig, VerifyInput, VerifyService,
};
