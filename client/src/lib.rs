#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod breaker;
mod builder;
mod cache;
mod client;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod invalidations;
#[cfg(feature = "axum")]
mod layer;
mod policy;
mod request;
mod retry;
mod sse;
mod transport;
mod verdict;

pub use breaker::BreakerConfig;
pub use builder::{ClientBuilder, REPORT_EVERY};
pub use cache::{CacheConfig, Stats};
pub use client::Client;
pub use error::{Error, Problem, UnavailableReason};
#[cfg(feature = "axum")]
pub use extract::MissingVerifiedKey;
#[cfg(feature = "axum")]
pub use layer::{ClientIp, Verify, VerifyLayer};
pub use policy::UnavailablePolicy;
pub use request::VerifyRequest;
pub use verdict::{Code, QuotaState, RateLimitState, Source, Verdict, VerifiedKey};
