//! What callers type: new keys, changes and bulk changes, validated field by field
//! (errors name the field as the caller named it).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::MAX_BATCH;
use crate::error::{Error, Result};
use crate::keys::model::{IpAllowlist, KeyName, Meta, QuotaSpec, RateLimit};
use crate::scope::Scope;

/// A key to create, as the caller typed it.
#[derive(Debug, Clone, Default)]
pub struct NewKeyInput {
    /// A name for people.
    pub name: String,
    /// The owner; the caller when absent (only admins may name someone else).
    pub owner_id: Option<Uuid>,
    pub scopes: Option<Vec<String>>,
    /// Expiry; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// Allowed addresses and networks.
    pub ip_allowlist: Option<Vec<String>>,
    pub quota: Option<QuotaSpec>,
    /// Rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Metadata object.
    pub meta: Option<Value>,
}

/// A [`NewKeyInput`] with every field validated.
#[derive(Debug, Clone)]
pub(super) struct ValidNewKey {
    pub name: KeyName,
    pub owner_id: Option<Uuid>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ip_allowlist: IpAllowlist,
    pub quota: Option<QuotaSpec>,
    pub rate_limit: Option<RateLimit>,
    pub meta: Meta,
}

impl NewKeyInput {
    pub(super) fn validate(self, now: DateTime<Utc>) -> Result<ValidNewKey> {
        let expires_at = self
            .expires_at
            .map(|at| check_expiry(at, now))
            .transpose()?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        Ok(ValidNewKey {
            name: KeyName::parse("name", &self.name)?,
            owner_id: self.owner_id,
            scopes: Scope::parse_list("scopes", self.scopes.as_deref().unwrap_or_default())?,
            expires_at,
            ip_allowlist: IpAllowlist::parse(self.ip_allowlist.as_deref().unwrap_or_default())?,
            quota: self.quota.map(QuotaSpec::validate).transpose()?,
            rate_limit: self.rate_limit.map(RateLimit::validate).transpose()?,
            meta: self
                .meta
                .map(Meta::parse)
                .transpose()?
                .unwrap_or_else(Meta::empty),
        })
    }
}

pub(super) fn check_expiry(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = crate::timestamp::check("expires_at", at)?;
    if at > now + Duration::days(365 * 100) {
        Err(Error::invalid("expires_at", "must be within 100 years"))
    } else {
        Ok(at)
    }
}

/// Changes to a key as typed: `None` leaves a field alone; for `expires_at`, `quota` and
/// `rate_limit`, `Some(None)` removes it.
#[derive(Debug, Clone, Default)]
pub struct KeyPatchInput {
    /// New name.
    pub name: Option<String>,
    /// New scopes (replacing the old ones).
    pub scopes: Option<Vec<String>>,
    /// New expiry (a past time expires the key now), or none.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Switch on or off.
    pub enabled: Option<bool>,
    /// New allowlist (replacing the old one; empty allows any address).
    pub ip_allowlist: Option<Vec<String>>,
    /// New quota, or none. Usage is kept while the period stays the same.
    pub quota: Option<Option<QuotaSpec>>,
    /// New rate limit, or none.
    pub rate_limit: Option<Option<RateLimit>>,
    /// New metadata (replacing the old object).
    pub meta: Option<Value>,
}

/// One change applied to a batch of keys ([`KeyService::change_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkChange {
    /// Switch on.
    Enable,
    /// Switch off.
    Disable,
    /// Move each key's own expiry `days` later (from now if it has passed); keys that
    /// never expire stay so.
    ExtendExpiry {
        /// 1 to 3650.
        days: i64,
    },
}

impl BulkChange {
    /// The name the audit trail records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::ExtendExpiry { .. } => "extend_expiry",
        }
    }
}

/// A [`KeyPatchInput`] with every given field validated.
pub(super) struct ValidPatch {
    pub name: Option<KeyName>,
    pub scopes: Option<Vec<Scope>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub enabled: Option<bool>,
    pub ip_allowlist: Option<IpAllowlist>,
    pub quota: Option<Option<QuotaSpec>>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub meta: Option<Meta>,
}

impl KeyPatchInput {
    pub(super) fn validate(self, now: DateTime<Utc>) -> Result<ValidPatch> {
        Ok(ValidPatch {
            name: self
                .name
                .as_deref()
                .map(|n| KeyName::parse("name", n))
                .transpose()?,
            scopes: self
                .scopes
                .as_deref()
                .map(|s| Scope::parse_list("scopes", s))
                .transpose()?,
            expires_at: self
                .expires_at
                .map(|e| e.map(|at| check_expiry(at, now)).transpose())
                .transpose()?,
            enabled: self.enabled,
            ip_allowlist: self
                .ip_allowlist
                .as_deref()
                .map(IpAllowlist::parse)
                .transpose()?,
            quota: self
                .quota
                .map(|q| q.map(QuotaSpec::validate).transpose())
                .transpose()?,
            rate_limit: self
                .rate_limit
                .map(|r| r.map(RateLimit::validate).transpose())
                .transpose()?,
            meta: self.meta.map(Meta::parse).transpose()?,
        })
    }
}

pub(super) fn parse_reason(reason: Option<String>) -> Result<Option<String>> {
    match reason {
        Some(r) if r.chars().count() > 500 => {
            Err(Error::invalid("reason", "must be at most 500 characters"))
        }
        Some(r) if r.chars().any(|c| c.is_control() && c != '\n') => Err(Error::invalid(
            "reason",
            "must not contain control characters",
        )),
        Some(r) if r.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

pub(super) fn check_batch_size(field: &str, len: usize) -> Result<()> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must hold 1 to {MAX_BATCH} entries"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_checked() {
        assert_eq!(parse_reason(None).expect("none"), None);
        assert_eq!(parse_reason(Some("  ".into())).expect("blank"), None);
        assert_eq!(
            parse_reason(Some("leaked in a gist".into())).expect("ok"),
            Some("leaked in a gist".into())
        );
        assert!(parse_reason(Some("x".repeat(501))).is_err());
        assert!(parse_reason(Some("a\u{7}".into())).is_err());
    }
}
