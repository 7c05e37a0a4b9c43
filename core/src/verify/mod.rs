//! Key verification (issue 5, in progress): the pure decision the hot path will call on
//! every request. The endpoint, the caches and the limit state come next.

pub mod decision;

pub use decision::{Code, KeyRecord, LimitState, Request, covers, decide};
