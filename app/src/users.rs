//! Users administration for the portal: DTOs and thin server functions over
//! `locksmith_core::identity::admin`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A row of the users table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    /// Sign-in email.
    pub email: String,
    pub role: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Owner policy: most keys.
    pub max_keys: Option<i32>,
    /// Owner policy: allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// Owner policy: whether they may change their keys' quota, rate limit and expiry.
    pub may_change_limits: bool,
    /// Owner policy: largest quota, credits per period.
    pub max_quota_limit: Option<i64>,
    /// Owner policy: the largest quota's period (`day`, `month`, `total`).
    pub max_quota_period: Option<String>,
    /// Owner policy: largest rate limit, verifications per window.
    pub max_rate_limit: Option<i32>,
    /// Owner policy: the largest rate limit's window in seconds.
    pub max_rate_window: Option<i32>,
    /// Owner policy: longest key lifetime in seconds.
    pub max_key_lifetime_seconds: Option<i64>,
    /// Last sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Every user, oldest first (admin, auditor).
#[server(prefix = "/api", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    server::list().await.map_err(AppError::respond)
}

/// Creates a user (admin). Empty optional fields mean "none"; scopes are comma-separated.
#[server(prefix = "/api", endpoint = "create_user")]
pub async fn create_user(
    email: String,
    password: String,
    role: String,
    display_name: String,
    max_keys: String,
    allowed_scopes: String,
) -> Result<UserRow, AppError> {
    server::create(
        email,
        password,
        role,
        display_name,
        max_keys,
        allowed_scopes,
    )
    .await
    .map_err(AppError::respond)
}

/// Changes a user's role or access (admin). Absent fields stay as they are.
#[server(prefix = "/api", endpoint = "update_user")]
pub async fn update_user(
    id: String,
    role: Option<String>,
    disabled: Option<bool>,
) -> Result<UserRow, AppError> {
    server::update(id, role, disabled, None)
        .await
        .map_err(AppError::respond)
}

/// The key limits of an owner policy as the form posts them. An absent field stays as it
/// is; an empty one means "no ceiling". `may_change_limits` is `yes` or `no`; the
/// lifetime is in days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitFields {
    /// `yes`: the owner may change their keys' limits within the maxima.
    pub may_change_limits: Option<String>,
    /// Largest quota: credits per period.
    pub max_quota_limit: Option<String>,
    /// Its period.
    pub max_quota_period: Option<String>,
    /// Largest rate limit: verifications per window.
    pub max_rate_limit: Option<String>,
    /// Its window in seconds.
    pub max_rate_window: Option<String>,
    /// Longest key lifetime: a number with a unit (`30d`, `12h`, `45m`, `90s`; a bare
    /// number is days).
    pub max_key_lifetime: Option<String>,
}

/// Sets an owner's policy (admin): an empty key limit means no limit, empty scopes any,
/// an empty maximum no ceiling.
#[server(prefix = "/api", endpoint = "set_owner_policy")]
pub async fn set_owner_policy(
    id: String,
    max_keys: String,
    allowed_scopes: String,
    #[server(default)] limits: LimitFields,
) -> Result<UserRow, AppError> {
    server::update(id, None, None, Some((max_keys, allowed_scopes, limits)))
        .await
        .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
mod server {
    use locksmith_core::identity::users::User;
    use locksmith_core::identity::{Actor, NewUserInput, Role, UserPatchInput, UserService};
    use secrecy::SecretString;
    use uuid::Uuid;

    use locksmith_core::key_limits::{QuotaPeriod, QuotaSpec, RateLimit};

    use super::{LimitFields, UserRow};
    use crate::auth::server::{origin, require, service};
    use crate::error::AppError;
    use crate::form::{number, optional};

    fn row(u: User) -> UserRow {
        UserRow {
            id: u.id.to_string(),
            email: u.email,
            role: u.role.as_str().to_owned(),
            display_name: u.display_name,
            disabled: u.disabled,
            max_keys: u.max_keys,
            allowed_scopes: u.allowed_scopes,
            may_change_limits: u.may_change_limits,
            max_quota_limit: u.max_quota.map(|q| q.limit),
            max_quota_period: u.max_quota.map(|q| period_name(q.period).to_owned()),
            max_rate_limit: u.max_rate_limit.map(|r| r.limit),
            max_rate_window: u.max_rate_limit.map(|r| r.window_seconds),
            max_key_lifetime_seconds: u.max_key_lifetime_seconds,
            last_login_at: u.last_login_at,
        }
    }

    fn role(raw: &str) -> Result<Role, AppError> {
        Role::parse(raw)
            .ok_or_else(|| AppError::Invalid("role: must be admin, auditor or owner".into()))
    }

    fn max_keys(raw: &str) -> Result<Option<i64>, AppError> {
        optional(raw)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    AppError::Invalid(
                        "max_keys: must be a whole number, or empty for no limit".into(),
                    )
                })
            })
            .transpose()
    }

    fn period_name(p: QuotaPeriod) -> &'static str {
        match p {
            QuotaPeriod::Day => "day",
            QuotaPeriod::Month => "month",
            QuotaPeriod::Total => "total",
        }
    }

    /// The limits' patch: `None` for an absent field (unchanged), `Some(None)` for an
    /// empty one (no ceiling).
    struct LimitPatch {
        may_change: Option<bool>,
        quota: Option<Option<QuotaSpec>>,
        rate: Option<Option<RateLimit>>,
        lifetime: Option<Option<i64>>,
    }

    fn limit_patch(f: &LimitFields) -> Result<LimitPatch, AppError> {
        let may_change = f
            .may_change_limits
            .as_deref()
            .map(|v| match v.trim() {
                "yes" | "true" | "on" => Ok(true),
                "no" | "false" | "" => Ok(false),
                _ => Err(AppError::Invalid(
                    "may_change_limits: must be yes or no".into(),
                )),
            })
            .transpose()?;
        let quota = f
            .max_quota_limit
            .as_deref()
            .map(|raw| -> Result<Option<QuotaSpec>, AppError> {
                let Some(limit) = number::<i64>("max_quota.limit", raw)? else {
                    return Ok(None);
                };
                let period = match f.max_quota_period.as_deref().map(str::trim) {
                    Some("day") => QuotaPeriod::Day,
                    Some("total") => QuotaPeriod::Total,
                    None | Some("" | "month") => QuotaPeriod::Month,
                    Some(_) => {
                        return Err(AppError::Invalid(
                            "max_quota.period: must be day, month or total".into(),
                        ));
                    }
                };
                Ok(Some(QuotaSpec { limit, period }))
            })
            .transpose()?;
        let rate = f
            .max_rate_limit
            .as_deref()
            .map(|raw| -> Result<Option<RateLimit>, AppError> {
                let Some(limit) = number::<i32>("max_rate_limit.limit", raw)? else {
                    return Ok(None);
                };
                let window_seconds = f
                    .max_rate_window
                    .as_deref()
                    .map(|w| number::<i32>("max_rate_limit.window_seconds", w))
                    .transpose()?
                    .flatten()
                    .unwrap_or(60);
                Ok(Some(RateLimit {
                    limit,
                    window_seconds,
                }))
            })
            .transpose()?;
        let lifetime = f
            .max_key_lifetime
            .as_deref()
            .map(|raw| -> Result<Option<i64>, AppError> {
                optional(raw)
                    .map(|text| lifetime_seconds(&text))
                    .transpose()
            })
            .transpose()?;
        Ok(LimitPatch {
            may_change,
            quota,
            rate,
            lifetime,
        })
    }

    /// `30d`, `12h`, `45m`, `90s` or a bare number of days, in seconds (exact: what the
    /// form shows is what it saves).
    fn lifetime_seconds(text: &str) -> Result<i64, AppError> {
        let (number, unit) = match text.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
            _ => (text, 'd'),
        };
        let per = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => 0,
        };
        number
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && per > 0)
            .and_then(|n| n.checked_mul(per))
            .ok_or_else(|| {
                AppError::Invalid(
                    "max_key_lifetime_seconds: write a whole number with d, h, m or s \
                     (30d, 12h), or leave it empty for none"
                        .into(),
                )
            })
    }

    fn scopes(raw: &str) -> Option<Vec<String>> {
        optional(raw).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    pub(super) async fn list() -> Result<Vec<UserRow>, AppError> {
        let caller = require(&[]).await?;
        Ok(service::<UserService>()?
            .list(Actor::from(&caller), None, 1000)
            .await?
            .into_iter()
            .map(row)
            .collect())
    }

    pub(super) async fn create(
        email: String,
        password: String,
        role_name: String,
        display_name: String,
        max_keys_raw: String,
        scopes_raw: String,
    ) -> Result<UserRow, AppError> {
        let admin_user = require(&[Role::Admin]).await?;
        let new = NewUserInput {
            display_name: optional(&display_name),
            max_keys: max_keys(&max_keys_raw)?,
            allowed_scopes: scopes(&scopes_raw),
            ..NewUserInput::new(email, SecretString::from(password), role(&role_name)?)
        };
        let user = service::<UserService>()?
            .create(Actor::from(&admin_user), new, &origin().await)
            .await?;
        Ok(row(user))
    }

    pub(super) async fn update(
        id: String,
        role_name: Option<String>,
        disabled: Option<bool>,
        policy: Option<(String, String, LimitFields)>,
    ) -> Result<UserRow, AppError> {
        let admin_user = require(&[Role::Admin]).await?;
        let id = Uuid::parse_str(&id).map_err(|_| AppError::Invalid("id: not a user id".into()))?;
        let limits = policy
            .as_ref()
            .map(|(_, _, l)| limit_patch(l))
            .transpose()?;
        let patch = UserPatchInput {
            role: role_name.as_deref().map(role).transpose()?,
            disabled,
            display_name: None,
            max_keys: policy.as_ref().map(|(m, _, _)| max_keys(m)).transpose()?,
            allowed_scopes: policy.as_ref().map(|(_, s, _)| scopes(s)),
            may_change_limits: limits.as_ref().and_then(|l| l.may_change),
            max_quota: limits.as_ref().and_then(|l| l.quota),
            max_rate_limit: limits.as_ref().and_then(|l| l.rate),
            max_key_lifetime_seconds: limits.as_ref().and_then(|l| l.lifetime),
        };
        let user = service::<UserService>()?
            .update(Actor::from(&admin_user), id, patch, &origin().await)
            .await?;
        Ok(row(user))
    }

    #[cfg(test)]
    mod tests {
        use super::lifetime_seconds;

        #[test]
        fn lifetimes_read_back_exactly() {
            assert_eq!(lifetime_seconds("30d").ok(), Some(2_592_000));
            assert_eq!(lifetime_seconds("30").ok(), Some(2_592_000));
            assert_eq!(lifetime_seconds("12h").ok(), Some(43_200));
            assert_eq!(lifetime_seconds("45m").ok(), Some(2_700));
            assert_eq!(lifetime_seconds("90s").ok(), Some(90));
            for bad in ["0d", "-1d", "1.5d", "3w", "d", "99999999999999999999d"] {
                assert!(lifetime_seconds(bad).is_err(), "{bad}");
            }
        }
    }
}
