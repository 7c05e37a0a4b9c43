//! The audit trail: one append-only table, written in the same transaction as the change
//! it records, each row chained to the previous one by a SHA-256 hash so that editing or
//! deleting history behind the application's back is detectable (`locksmith audit verify`).

pub mod chain;
pub mod diff;
pub mod store;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use store::{AuditFilter, VerifyReport, append, append_all, list, verify};

/// Where a change came from: the caller's address and the request id of the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client address as the server saw it.
    pub source_ip: Option<IpAddr>,
    /// The `x-request-id` of the request that made the change.
    pub request_id: Option<String>,
}

/// A change about to be recorded. `before`/`after` must never hold secrets or their hashes.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Who did it; `None` for the system or an anonymous caller (e.g. a failed login).
    pub actor_id: Option<Uuid>,
    /// `<target>.<verb>`, e.g. `user.create`.
    pub action: &'static str,
    /// `user`, `key`, `keyspace`, …
    pub target_type: &'static str,
    /// The target's id.
    pub target_id: Option<String>,
    /// Where the request came from.
    pub origin: Origin,
    /// The state before the change.
    pub before: Option<Value>,
    /// The state after the change.
    pub after: Option<Value>,
}

/// A recorded entry, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    /// Position in the chain.
    pub id: i64,
    /// When it was recorded (microsecond precision).
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// What was done.
    pub action: String,
    /// The kind of target.
    pub target_type: String,
    /// The target's id.
    pub target_id: Option<String>,
    /// The caller's address.
    pub source_ip: Option<String>,
    /// The request id of the response.
    pub request_id: Option<String>,
    /// The state before.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    /// The state after.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
    /// This row's chain hash, hex-encoded.
    pub hash: String,
}
