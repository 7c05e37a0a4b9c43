//! What Locksmith answers about a key: [`Verdict`], its [`Code`], and the limit states
//! that come with a `VALID` answer.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a key may or may not be used, as Locksmith's `code` says it.
///
/// The checks run in the order of the variants below (`NOT_FOUND` first), and the first
/// that fails is the answer. A code this version of the crate does not know yet
/// deserializes as [`Code::Unknown`], so a newer server never breaks an older client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Code {
    /// The key may be used.
    Valid,
    /// Unknown, malformed, or of another keyspace.
    NotFound,
    /// The key was revoked.
    Revoked,
    /// The key is switched off.
    Disabled,
    /// The key is past its `expires_at`.
    Expired,
    /// The request's `client_ip` is missing or outside the key's IP allowlist.
    ForbiddenIp,
    /// A requested scope is not granted to the key.
    InsufficientScopes,
    /// The key is over its rate limit.
    RateLimited,
    /// The key has not enough quota left for the request's cost.
    QuotaExceeded,
    /// A code added to Locksmith after this version of the crate; never valid.
    #[serde(other)]
    Unknown,
}

impl Code {
    /// The wire name, e.g. `FORBIDDEN_IP` (`UNKNOWN` for [`Code::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::ForbiddenIp => "FORBIDDEN_IP",
            Self::InsufficientScopes => "INSUFFICIENT_SCOPES",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Whether this is [`Code::Valid`].
    pub fn is_valid(self) -> bool {
        self == Self::Valid
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a [`Verdict`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Source {
    /// Locksmith answered this request.
    #[default]
    Server,
    /// The local cache answered, while the invalidation stream was up (see
    /// [`CacheConfig`](crate::CacheConfig)).
    Cache,
    /// Locksmith could not be reached and the policy is
    /// [`UnavailablePolicy::FailOpen`](crate::UnavailablePolicy::FailOpen): this is the
    /// `VALID` answer recorded for the same request, recently enough. Nothing was spent
    /// from the key's quota or rate limit, and `quota` and `rate_limit` are as they were
    /// when the answer was recorded.
    FailOpen,
}

/// The quota of a key after this verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuotaState {
    /// Credits per period (or in total).
    pub limit: i64,
    /// Credits left in this period.
    pub remaining: i64,
    /// When the period ends; `None` for a total quota that never resets.
    pub resets_at: Option<DateTime<Utc>>,
}

/// The rate limit of a key after this verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitState {
    /// Verifications allowed per window.
    pub limit: i32,
    /// Verifications left in the sliding window.
    pub remaining: u32,
    /// When the current window ends.
    pub reset_at: DateTime<Utc>,
}

/// Locksmith's answer about one key, for one request.
///
/// `valid` and `code` are always there; the key's details (`key_id` to `rate_limit`) only
/// when the key is [`Code::Valid`]. A verdict deserializes from the JSON body of
/// `POST /v1/verify`, which is also the way to make one in tests:
///
/// ```
/// let verdict: locksmith_client::Verdict = serde_json::from_str(
///     r#"{"valid": false, "code": "REVOKED"}"#,
/// )?;
/// assert_eq!(verdict.code, locksmith_client::Code::Revoked);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verdict {
    /// Whether the key may be used (the same as `code == Code::Valid`).
    pub valid: bool,
    /// Why, or [`Code::Valid`].
    pub code: Code,
    /// The key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    /// The id of the key's owner, as the keyspace's application knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Uuid>,
    /// The key's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every scope the key grants (not only those the request asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The key's metadata, a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
    /// When the key expires, for a key that does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's quota after this verification, for a key that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaState>,
    /// The key's rate limit after this verification, for a key that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitState>,
    /// For `RATE_LIMITED` or `QUOTA_EXCEEDED`: when the key may be answered `VALID`
    /// again, when the server says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    /// Who answered: the server, the local cache, or the fail-open store. Not part of
    /// the wire format.
    #[serde(skip)]
    pub source: Source,
}

impl Verdict {
    /// Whether the answer may be kept in the local answer cache: `VALID`, for a known
    /// key with neither quota nor rate limit (those must be counted by the server on
    /// every use).
    pub(crate) fn is_cacheable(&self) -> bool {
        self.valid
            && self.code.is_valid()
            && self.key_id.is_some()
            && self.quota.is_none()
            && self.rate_limit.is_none()
    }
}

/// A key that Locksmith found `VALID`: the details of a valid [`Verdict`], none of them
/// optional.
///
/// Behind `VerifyLayer` (feature `axum`), handlers take it as an extractor; anywhere
/// else, `VerifiedKey::try_from(verdict)` gives one for a valid verdict (and the verdict
/// back otherwise).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedKey {
    /// The key's id.
    pub key_id: Uuid,
    /// The id of the key's owner.
    pub owner_id: Uuid,
    /// The key's name.
    pub name: String,
    /// Every scope the key grants.
    pub scopes: Vec<String>,
    /// The key's metadata, a JSON object (empty when it has none).
    pub meta: serde_json::Value,
    /// When the key expires, for a key that does.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's quota after this verification, for a key that has one.
    pub quota: Option<QuotaState>,
    /// The key's rate limit after this verification, for a key that has one.
    pub rate_limit: Option<RateLimitState>,
    /// Who answered: the server, the local cache, or the fail-open store.
    pub source: Source,
}

impl VerifiedKey {
    /// Whether the key grants `scope`, by Locksmith's rule: the same scope, or a granted
    /// scope ending in `*` whose beginning `scope` starts with (`orders:*` covers
    /// `orders:read`, not `order`).
    ///
    /// Locksmith already checked the scopes the verification asked for; this is for
    /// handlers that decide finer-grained things themselves.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|granted| match granted.strip_suffix('*') {
                Some(stem) => scope.starts_with(stem),
                None => granted == scope,
            })
    }
}

impl TryFrom<Verdict> for VerifiedKey {
    type Error = Verdict;

    /// The key of a `VALID` verdict; the verdict itself back when it is not valid or
    /// lacks the key's id or owner.
    fn try_from(verdict: Verdict) -> Result<Self, Verdict> {
        match (
            verdict.valid && verdict.code.is_valid(),
            verdict.key_id,
            verdict.owner_id,
        ) {
            (true, Some(key_id), Some(owner_id)) => Ok(Self {
                key_id,
                owner_id,
                name: verdict.name.unwrap_or_default(),
                scopes: verdict.scopes,
                meta: verdict
                    .meta
                    .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
                expires_at: verdict.expires_at,
                quota: verdict.quota,
                rate_limit: verdict.rate_limit,
                source: verdict.source,
            }),
            _ => Err(verdict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_answer_deserializes_with_every_detail() {
        let verdict: Verdict = serde_json::from_str(
            r#"{
                "valid": true, "code": "VALID",
                "key_id": "6f1c1a52-37d4-4a4e-9f0c-6f6c9a0e8d11",
                "owner_id": "0b5d7c7e-0f6a-4cf6-9a53-0f0dbd1b7a10",
                "name": "ci", "scopes": ["orders:read"], "meta": {"plan": "pro"},
                "expires_at": "2030-01-01T00:00:00Z",
                "quota": {"limit": 100, "remaining": 99, "resets_at": null},
                "rate_limit": {"limit": 10, "remaining": 9, "reset_at": "2030-01-01T00:00:01Z"}
            }"#,
        )
        .expect("a valid answer");
        assert!(verdict.valid);
        assert_eq!(verdict.code, Code::Valid);
        assert_eq!(verdict.name.as_deref(), Some("ci"));
        assert_eq!(verdict.scopes, ["orders:read"]);
        assert_eq!(verdict.quota.map(|q| q.remaining), Some(99));
        assert_eq!(verdict.rate_limit.map(|r| r.remaining), Some(9));
        assert_eq!(verdict.source, Source::Server);
        assert!(
            !verdict.is_cacheable(),
            "limited keys are counted centrally"
        );
    }

    #[test]
    fn a_refusal_has_no_details_and_future_codes_deserialize() {
        let refused: Verdict =
            serde_json::from_str(r#"{"valid": false, "code": "EXPIRED"}"#).expect("refusal");
        assert_eq!(refused.code, Code::Expired);
        assert!(refused.key_id.is_none() && refused.scopes.is_empty());
        let future: Verdict =
            serde_json::from_str(r#"{"valid": false, "code": "SUSPENDED", "extra": 1}"#)
                .expect("an unknown code");
        assert_eq!(future.code, Code::Unknown);
        assert!(!future.code.is_valid());
    }

    #[test]
    fn codes_name_themselves_as_on_the_wire() {
        for code in [
            Code::Valid,
            Code::NotFound,
            Code::Revoked,
            Code::Disabled,
            Code::Expired,
            Code::ForbiddenIp,
            Code::InsufficientScopes,
            Code::RateLimited,
            Code::QuotaExceeded,
        ] {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn only_a_valid_verdict_gives_a_verified_key() {
        let valid: Verdict = serde_json::from_str(
            r#"{"valid": true, "code": "VALID",
                "key_id": "6f1c1a52-37d4-4a4e-9f0c-6f6c9a0e8d11",
                "owner_id": "0b5d7c7e-0f6a-4cf6-9a53-0f0dbd1b7a10",
                "name": "ci", "scopes": ["orders:*", "billing:read"]}"#,
        )
        .expect("valid");
        let key = VerifiedKey::try_from(valid).expect("a verified key");
        assert_eq!(key.name, "ci");
        assert_eq!(key.meta, serde_json::json!({}));
        assert!(key.has_scope("orders:write"));
        assert!(key.has_scope("billing:read"));
        assert!(!key.has_scope("billing:write"));
        assert!(!key.has_scope("ordersx:read"));
        assert!(!key.has_scope("orders"));
        let refused: Verdict =
            serde_json::from_str(r#"{"valid": false, "code": "REVOKED"}"#).expect("refused");
        let back = VerifiedKey::try_from(refused).expect_err("not valid");
        assert_eq!(back.code, Code::Revoked);
    }
}
