//! Locksmith's domain core: identity, keys, the audit trail, database access, migrations and
//! the system status.
//!
//! This crate serves no HTTP and knows nothing of Leptos (it only sends: webhooks as an
//! HTTP client, emails through SMTP); the REST handlers in `locksmith-server` and the
//! server functions in `locksmith-app` are thin callers of what lives here.

pub mod audit;
pub mod backoff;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod events;
pub mod findings;
pub mod identity;
pub mod key_limits;
pub mod keys;
pub mod leaks;
pub mod lifecycle;
pub mod limits;
pub mod notify;
pub mod retention;
pub mod scope;
pub mod system;
#[cfg(test)]
mod test_support;
pub mod timestamp;
pub mod usage;
pub mod verify;
pub mod webhooks;

pub use error::Error;
