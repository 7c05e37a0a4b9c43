//! Key verification: the pure decision, the per-key rate windows, and the service that
//! authenticates verifiers and verifies keys around them.

pub mod decision;
pub mod rate;
pub mod service;

pub use decision::{Code, KeyRecord, LimitState, Request, covers, decide};
pub use service::{Verdict, VerifyInput, VerifyService};
