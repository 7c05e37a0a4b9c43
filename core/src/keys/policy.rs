//! Who may see and change which keys. Owners act only on their own keys, within the policy
//! an admin set on their account; another owner's key is "not found", never "forbidden",
//! so its existence does not leak. Auditors read everything and change nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
pub use crate::identity::Actor;
use crate::identity::Role;
use crate::identity::users::User;
use crate::key_limits::{OwnerKeyLimits, QuotaSpec, RateLimit};
use crate::scope::Scope;

/// What an actor may do with keys.
impl Actor {
    /// `Forbidden` for auditors (read-only).
    pub fn check_may_change_keys(self) -> Result<()> {
        match self.role {
            Role::Admin | Role::Owner => Ok(()),
            Role::Auditor => Err(Error::Forbidden(
                "auditors can read keys but not change them".into(),
            )),
        }
    }

    /// The owner whose keys alone this caller may see: `None` for admins and auditors.
    /// Repository queries filter on it, so other owners' rows are never even locked.
    pub fn only_own(self) -> Option<Uuid> {
        (!self.role.reads_everything()).then_some(self.id)
    }

    /// Whether an admin-set owner policy binds this caller (owners; admins are not bound).
    pub fn bound_by_policy(self) -> bool {
        self.role == Role::Owner
    }
}

/// `Forbidden` when `scopes` are outside the owner's allowed set.
pub fn check_scopes(owner: &User, scopes: &[Scope]) -> Result<()> {
    let Some(allowed) = &owner.allowed_scopes else {
        return Ok(());
    };
    let outside: Vec<&str> = scopes
        .iter()
        .map(Scope::as_str)
        .filter(|s| !allowed.iter().any(|a| a == s))
        .collect();
    if outside.is_empty() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "scopes: not allowed by your policy: {} (allowed: {})",
            outside.join(", "),
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        )))
    }
}

/// `Forbidden` when holding `live + adding` keys would exceed the owner's `max_keys`.
pub fn check_key_count(owner: &User, live: i64, adding: i64) -> Result<()> {
    match owner.max_keys {
        Some(max) if live + adding > i64::from(max) => Err(Error::Forbidden(format!(
            "max_keys: your policy allows {max} live keys; you hold {live} and asked for {adding} more"
        ))),
        _ => Ok(()),
    }
}

/// The limits a key asks for: quota, rate limit and expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AskedLimits {
    pub quota: Option<QuotaSpec>,
    /// Rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

fn not_yours(field: &str) -> Error {
    Error::Forbidden(format!(
        "{field}: your policy does not let you set or change a key's quota, rate limit or \
         expiry; an admin sets them"
    ))
}

/// For an owner creating a key at `now`: refuses limits they may not set, gives what was
/// not asked for the ceiling's values (a new key of an owner with a maximum quota gets that
/// quota), and checks the result against the ceiling. Errors are `Forbidden`, naming the
/// field and the limit.
pub fn limits_for_new_key(
    owner: &User,
    asked: AskedLimits,
    now: DateTime<Utc>,
) -> Result<AskedLimits> {
    let ceiling = owner.key_limits();
    if !ceiling.may_change {
        let given = [
            ("quota", asked.quota.is_some()),
            ("rate_limit", asked.rate_limit.is_some()),
            ("expires_at", asked.expires_at.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, g)| *g) {
            return Err(not_yours(field));
        }
    }
    let limits = AskedLimits {
        quota: asked.quota.or(ceiling.max_quota),
        rate_limit: asked.rate_limit.or(ceiling.max_rate_limit),
        expires_at: asked.expires_at.or_else(|| ceiling.latest_expiry(now)),
    };
    ceiling.check_quota(limits.quota)?;
    ceiling.check_rate_limit(limits.rate_limit)?;
    ceiling.check_expiry(limits.expires_at, now)?;
    Ok(limits)
}

/// For an owner changing their key at `now` from `before` to `after`: each limit that
/// changes must be theirs to change and within the ceiling. Limits left as they were are
/// not checked (a key over a newer policy keeps working; it is flagged instead).
pub fn check_limit_changes(
    owner: &User,
    before: AskedLimits,
    after: AskedLimits,
    now: DateTime<Utc>,
) -> Result<()> {
    let ceiling: OwnerKeyLimits = owner.key_limits();
    let changes = [
        ("quota", before.quota != after.quota),
        ("rate_limit", before.rate_limit != after.rate_limit),
        ("expires_at", before.expires_at != after.expires_at),
    ];
    for (field, changed) in changes {
        if !changed {
            continue;
        }
        if !ceiling.may_change {
            return Err(not_yours(field));
        }
        match field {
            "quota" => ceiling.check_quota(after.quota)?,
            "rate_limit" => ceiling.check_rate_limit(after.rate_limit)?,
            _ => ceiling.check_expiry(after.expires_at, now)?,
        }
    }
    Ok(())
}

/// Which of a live key's settings lie outside its owner's current policy (scopes, quota,
/// rate limit, expiry): an admin set them, or the policy changed since. Empty for keys of
/// admins and auditors, who are bound by no policy.
pub fn outside_policy(
    owner: &User,
    scopes: &[String],
    limits: AskedLimits,
    now: DateTime<Utc>,
) -> Vec<String> {
    if owner.role != Role::Owner {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(allowed) = &owner.allowed_scopes
        && scopes.iter().any(|s| !allowed.contains(s))
    {
        out.push("scopes".to_owned());
    }
    out.extend(
        owner
            .key_limits()
            .outside(limits.quota, limits.rate_limit, limits.expires_at, now)
            .into_iter()
            .map(str::to_owned),
    );
    out
}
