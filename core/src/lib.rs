//! Locksmith's domain core: database access, schema migrations and the system status.
//!
//! This crate knows nothing of HTTP or Leptos; the REST handlers in `locksmith-server`
//! and the server functions in `locksmith-app` are thin callers of what lives here.

pub mod backoff;
pub mod db;
pub mod error;
pub mod system;

pub use error::Error;
