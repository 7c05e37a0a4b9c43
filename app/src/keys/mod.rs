//! Keys in the portal: DTOs and thin server functions over `locksmith_core::keys`.
//!
//! Forms post plain strings (so they work before the WASM loads); the server parses them
//! and the core validates them, naming the field in every error.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::audit::AuditRow;
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub(crate) mod server;

/// A quota and what is spent of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRow {
    /// Credits per period.
    pub limit: i64,
    /// `day`, `month` or `total`.
    pub period: String,
    /// Spent in the current period.
    pub used: i64,
    /// Left in the current period.
    pub remaining: i64,
    /// When the period ends (`None` for `total`).
    pub resets_at: Option<DateTime<Utc>>,
}

impl QuotaRow {
    /// The share spent, 0 to 100.
    pub fn percent(&self) -> u8 {
        if self.limit <= 0 {
            return 100;
        }
        let p = (self.used.max(0) as f64 / self.limit as f64 * 100.0).round();
        p.clamp(0.0, 100.0) as u8
    }
}

/// A rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRow {
    /// Verifications per window.
    pub limit: i32,
    /// Window in seconds.
    pub window_seconds: i32,
}

/// A key as the portal shows it (never its secret or digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: String,
    /// Keyspace id.
    pub keyspace_id: String,
    /// Keyspace name.
    pub keyspace: String,
    /// Owner id.
    pub owner_id: String,
    /// Owner email (the id when unknown).
    pub owner: String,
    pub name: String,
    /// The first characters of the key.
    pub start: String,
    /// `active`, `disabled`, `expired` or `revoked`.
    pub status: String,
    /// Switched on.
    pub enabled: bool,
    pub scopes: Vec<String>,
    /// Allowed addresses; empty means any.
    pub ip_allowlist: Vec<String>,
    /// An address the allowlist allows, for sample calls (`None`: any address).
    pub sample_ip: Option<String>,
    /// Metadata, pretty-printed JSON.
    pub meta: String,
    /// When it stops working (for a rotated key: the grace end, if earlier than its own).
    pub expires_at: Option<DateTime<Utc>>,
    /// Its own expiry, which a rotation's grace does not overwrite.
    pub own_expires_at: Option<DateTime<Utc>>,
    /// For the old key of a rotation: when its grace ends.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// Settings outside the owner's current policy (`scopes`, `quota`, `rate_limit`,
    /// `expires_at`): flagged, the key keeps working.
    pub outside_policy: Vec<String>,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last successful verification.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// The key it replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced it.
    pub rotated_to: Option<String>,
    pub quota: Option<QuotaRow>,
    /// Rate limit.
    pub rate_limit: Option<RateRow>,
    /// Verifications over the last 24 hours (filled in by the list).
    pub verifications_24h: i64,
}

impl KeyRow {
    /// Whether this key was rotated and still works until the end of its grace.
    pub fn in_grace(&self, now: DateTime<Utc>) -> bool {
        self.rotated_to.is_some()
            && self.status == "active"
            && self.grace_ends_at.is_some_and(|at| at > now)
    }
}

/// The keys list's filters, as in the URL; empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyFilters {
    /// Search: part of the name, or the start of the key.
    pub q: String,
    /// Keyspace id.
    pub keyspace_id: String,
    /// Owner id.
    pub owner_id: String,
    pub status: String,
    /// Order, as `?sort=` of `GET /v1/keys` (empty: newest first).
    pub sort: String,
    /// Cursor of the page.
    pub cursor: String,
    /// Show revoked and expired keys too (hidden by default).
    pub all: bool,
}

/// A sortable column of the keys list and what its header does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnOrder {
    /// The column's wire name (`name`, `created`, `last_used`, `expires`).
    pub column: String,
    /// `ascending` or `descending` if the list is in this column's order (`aria-sort`).
    pub current: Option<String>,
    /// The `sort` a click on the header asks for: the other way round if current, else
    /// the column's natural direction.
    pub next: String,
}

/// Key counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Usable.
    pub active: i64,
    /// Switched off.
    pub disabled: i64,
    /// Past expiry.
    pub expired: i64,
    pub revoked: i64,
}

impl StatusCounts {
    /// All keys.
    pub fn total(&self) -> i64 {
        self.active + self.disabled + self.expired + self.revoked
    }

    /// The count of one status by wire name.
    pub fn of(&self, status: &str) -> Option<i64> {
        match status {
            "active" => Some(self.active),
            "disabled" => Some(self.disabled),
            "expired" => Some(self.expired),
            "revoked" => Some(self.revoked),
            _ => None,
        }
    }
}

/// A page of keys, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// The keys.
    pub items: Vec<KeyRow>,
    /// The order, in words ("name, A to Z").
    pub order: String,
    /// The sortable columns.
    pub columns: Vec<ColumnOrder>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// Counts by status of every key the caller sees.
    pub counts: StatusCounts,
    /// When the page was read (expiries are shown against it).
    pub now: DateTime<Utc>,
}

/// A choice in a select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Value.
    pub id: String,
    pub label: String,
}

/// The limits an admin set on an owner, with what they use now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerLimits {
    /// Most live keys (`None`: no limit).
    pub max_keys: Option<i32>,
    /// Live keys now.
    pub live_keys: i64,
    /// Scopes they may grant (`None`: any).
    pub allowed_scopes: Option<Vec<String>>,
    /// Whether they may set their keys' quota, rate limit and expiry (within the maxima).
    pub may_change_limits: bool,
    /// The largest quota, in words ("1000 a month"); new keys get it.
    pub max_quota: Option<String>,
    /// The largest rate limit, in words ("100 per 60 s"); new keys get it.
    pub max_rate_limit: Option<String>,
    /// The longest lifetime, in words ("30 days"); new keys expire after it.
    pub max_lifetime: Option<String>,
}

impl OwnerLimits {
    /// Whether the owner may only read their keys' limits (an admin sets them).
    pub fn limits_fixed(&self) -> bool {
        !self.may_change_limits
    }
}

/// What the key forms and filters offer the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFormOptions {
    pub keyspaces: Vec<Choice>,
    /// Owners to choose from (admins and auditors only; empty for owners).
    pub owners: Vec<Choice>,
    /// The owner's own limits (owners only).
    pub limits: Option<OwnerLimits>,
    /// Whether the user may change keys (not auditors).
    pub may_change: bool,
    /// Whether the user may act for other owners (admins).
    pub is_admin: bool,
}

/// A key with its secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSecret {
    /// The full key. Never stored, never shown again.
    pub secret: String,
    /// The key.
    pub key: KeyRow,
    /// Where services reach this installation (for the sample call).
    pub base_url: String,
}

/// A rotation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The new key and its secret.
    pub new: NewSecret,
    /// The old key, working until the end of its grace.
    pub previous: KeyRow,
}

/// Verifications in one bucket, by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    pub valid: i64,
    /// Refused by the rate limit.
    pub rate_limited: i64,
    /// Refused by the quota.
    pub quota_exceeded: i64,
    /// Refused by address or scope.
    pub forbidden: i64,
    /// Revoked, disabled or expired.
    pub other: i64,
}

impl UsagePoint {
    /// All verifications of the bucket.
    pub fn total(&self) -> i64 {
        self.valid + self.rate_limited + self.quota_exceeded + self.forbidden + self.other
    }
}

/// Everything the key page shows, in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDetails {
    /// The key.
    pub key: KeyRow,
    /// Verifications over the last 24 hours, hour by hour.
    pub usage: Vec<UsagePoint>,
    /// This key's audit trail, newest first.
    pub audit: Vec<AuditRow>,
    /// Whether the viewer may change it.
    pub may_change: bool,
    /// Whether the viewer is an owner whose keys' limits an admin sets (the edit form
    /// shows them read-only).
    pub limits_fixed: bool,
    /// Where services reach this installation (for the sample call).
    pub base_url: String,
    /// Whether the viewer is an owner (they are shown how to send their key).
    pub viewer_is_owner: bool,
    /// The key this one replaced, while it is in its rotation grace.
    pub predecessor: Option<KeyRow>,
    /// Leaks and unusual use found on it, newest first (at most 20).
    pub findings: Vec<crate::findings::FindingRow>,
    /// When the page was rendered (grace and reset times are shown against it).
    pub now: DateTime<Utc>,
}

/// The result of a bulk revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    /// Keys revoked now.
    pub revoked: usize,
    /// Keys that were revoked before.
    pub already_revoked: usize,
}

/// A page of keys matching the filters, with counts (everyone; owners see their own);
/// `None` for a visitor who is not signed in (the page sends them to sign in).
#[server(prefix = "/api", endpoint = "list_keys")]
pub async fn list_keys(filters: KeyFilters) -> Result<Option<KeyPage>, AppError> {
    server::list(filters).await.map_err(AppError::respond)
}

/// Keyspaces, owners and limits for the key forms.
#[server(prefix = "/api", endpoint = "key_options")]
pub async fn key_options() -> Result<KeyFormOptions, AppError> {
    server::options().await.map_err(AppError::respond)
}

/// One key with its usage and audit trail; `None` for a visitor who is not signed in
/// (the page sends them to sign in).
#[server(prefix = "/api", endpoint = "key_detail")]
pub async fn key_detail(id: String) -> Result<Option<KeyDetails>, AppError> {
    server::detail(id).await.map_err(AppError::respond)
}

/// A key's settings as the create and edit forms post them. Empty fields mean "none";
/// scopes and addresses are separated by commas, spaces or new lines; `expires_at` is
/// `YYYY-MM-DDTHH:MM` in UTC; `meta` is a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyFields {
    pub name: String,
    pub scopes: String,
    /// Expiry.
    pub expires_at: String,
    /// Allowed addresses and networks.
    pub ip_allowlist: String,
    /// Quota credits per period.
    pub quota_limit: String,
    /// Quota period: `day`, `month` or `total`.
    pub quota_period: String,
    /// Rate limit: verifications per window.
    pub rate_limit: String,
    /// Rate limit window in seconds.
    pub rate_window: String,
    /// Metadata.
    pub meta: String,
}

/// Creates a key (`owner_id` empty: the caller); the answer holds its secret, shown once.
#[server(prefix = "/api", endpoint = "create_key")]
pub async fn create_key(
    keyspace_id: String,
    owner_id: Option<String>,
    fields: KeyFields,
) -> Result<NewSecret, AppError> {
    server::create(keyspace_id, owner_id, fields)
        .await
        .map_err(AppError::respond)
}

/// Replaces a key's settings with the form's.
#[server(prefix = "/api", endpoint = "edit_key")]
pub async fn edit_key(id: String, fields: KeyFields) -> Result<KeyRow, AppError> {
    server::edit(id, fields).await.map_err(AppError::respond)
}

/// Switches a key on or off.
#[server(prefix = "/api", endpoint = "set_key_enabled")]
pub async fn set_key_enabled(id: String, enabled: bool) -> Result<KeyRow, AppError> {
    server::set_enabled(id, enabled)
        .await
        .map_err(AppError::respond)
}

/// Revokes a key for good.
#[server(prefix = "/api", endpoint = "revoke_key")]
pub async fn revoke_key(id: String, reason: String) -> Result<KeyRow, AppError> {
    server::revoke(id, reason).await.map_err(AppError::respond)
}

/// Switches many keys on or off (`action` `enable` or `disable`), or moves their expiry
/// `days` later (`extend`), in one transaction: all of them or none. Answers how many
/// keys the change was applied to.
#[server(prefix = "/api", endpoint = "change_keys", input = Json)]
pub async fn change_keys(
    ids: Vec<String>,
    action: String,
    days: Option<i64>,
) -> Result<usize, AppError> {
    server::change_many(ids, action, days)
        .await
        .map_err(AppError::respond)
}

/// Revokes many keys in one transaction: all of them or none.
#[server(prefix = "/api", endpoint = "revoke_keys", input = Json)]
pub async fn revoke_keys(ids: Vec<String>, reason: String) -> Result<BulkResult, AppError> {
    server::revoke_many(ids, reason)
        .await
        .map_err(AppError::respond)
}

/// Rotates a key: a new secret, shown once; the old key works for `grace_seconds` more.
#[server(prefix = "/api", endpoint = "rotate_key")]
pub async fn rotate_key(id: String, grace_seconds: String) -> Result<Rotation, AppError> {
    server::rotate(id, grace_seconds)
        .await
        .map_err(AppError::respond)
}

/// Ends a rotated key's grace now (`extend_seconds` empty) or moves its end
/// `extend_seconds` later.
#[server(prefix = "/api", endpoint = "change_grace")]
pub async fn change_grace(id: String, extend_seconds: String) -> Result<KeyRow, AppError> {
    server::change_grace(id, extend_seconds)
        .await
        .map_err(AppError::respond)
}

/// The id of the key whose whole secret is `key`, if the caller may see it. A pasted key
/// is looked up here, in a POST body, and never put in the list's URL.
#[server(prefix = "/api", endpoint = "lookup_key")]
pub async fn lookup_key(key: String) -> Result<Option<String>, AppError> {
    server::lookup(key).await.map_err(AppError::respond)
}

/// A key found by "Is this my key?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMatch {
    pub key: KeyRow,
    /// Whether the viewer may revoke it (admins, its owner).
    pub may_revoke: bool,
}

/// "Is this my key?": the key whose whole secret is `key`, if the caller may see it;
/// `None` for anything else (another owner's key, an unknown key, a string that is no
/// key), the same answer whatever it was. Rate-limited per user and audited.
#[server(prefix = "/api", endpoint = "check_key")]
pub async fn check_key(key: String) -> Result<Option<KeyMatch>, AppError> {
    server::check(key).await.map_err(AppError::respond)
}

/// Whether a search looks like a whole key (a prefix, `_`, and more of the body than a
/// key's start shows): such text is a secret and must not go into a URL.
pub fn looks_like_a_secret(q: &str) -> bool {
    let q = q.trim();
    q.split_once('_').is_some_and(|(prefix, body)| {
        (2..=12).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && body.len() >= 12
            && body.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// One verification of a key's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRow {
    /// Position in the log.
    pub id: i64,
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// The answer (`VALID`, `FORBIDDEN_IP`, …).
    pub code: String,
    /// The end user's address, if the service sent one.
    pub client_ip: Option<String>,
    /// The verifier's name (its id when unknown).
    pub verifier: String,
}

/// A page of a key's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationPage {
    /// Newest first.
    pub items: Vec<VerificationRow>,
    /// Every kept entry by answer, most frequent first.
    pub counts: Vec<(String, i64)>,
    /// Entries kept per key.
    pub kept_per_key: usize,
    /// The cursor of the next (older) page.
    pub next_before: Option<i64>,
    /// When the page was read.
    pub now: DateTime<Utc>,
}

/// A page of a key's log of verifications (its owner, admins and auditors): `code` is
/// empty (all), `refused` or one answer; `before` the previous page's cursor.
#[server(prefix = "/api", endpoint = "key_verifications")]
pub async fn key_verifications(
    id: String,
    code: String,
    before: Option<i64>,
) -> Result<VerificationPage, AppError> {
    server::verifications(id, code, before)
        .await
        .map_err(AppError::respond)
}
