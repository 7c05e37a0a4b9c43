//! Signing in: credential check with per-account and per-address lockout, both audited.
//!
//! Wrong email and wrong password answer the same and take the same time (an unknown
//! account is verified against a dummy hash). A locked account is still verified, so that
//! timing does not tell a locked account from a wrong password either.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::users::{self, User};
use super::{Email, PasswordHash, password};
use crate::audit::{self, NewEntry, Origin};
use crate::error::{Error, Result};

/// Thresholds of the lockouts.
#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock an account.
    pub account_failures: i32,
    /// How long an account stays locked.
    pub account_lock: Duration,
    /// Failures from one address within `address_window` that lock the address.
    pub address_failures: i32,
    /// The window over which an address's failures are counted.
    pub address_window: Duration,
    /// How long an address stays locked.
    pub address_lock: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            account_failures: 5,
            account_lock: Duration::from_secs(15 * 60),
            address_failures: 20,
            address_window: Duration::from_secs(15 * 60),
            address_lock: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email, wrong password or disabled account: one answer for all three.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failures for this account or from this address.
    #[error("too many failed sign-ins; try again after {until}")]
    Locked {
        /// When sign-ins are accepted again.
        until: DateTime<Utc>,
    },
    /// The database failed.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<sqlx::Error> for LoginError {
    fn from(err: sqlx::Error) -> Self {
        Self::Core(err.into())
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Checks the credentials and returns the user, recording the outcome.
pub async fn login(
    pool: &PgPool,
    policy: &LockoutPolicy,
    email: &str,
    password: SecretString,
    origin: &Origin,
) -> Result<User, LoginError> {
    let now = Utc::now();
    let source = origin.source_ip.map(|ip| ip.to_string());
    if let Some(until) = address_locked_until(pool, source.as_deref(), now).await? {
        return Err(LoginError::Locked { until });
    }
    let account = match Email::parse(email) {
        Ok(email) => sqlx::query!(
            r#"SELECT id, password_hash, disabled, locked_until FROM users WHERE lower(email) = lower($1)"#,
            email.as_str()
        )
        .fetch_optional(pool)
        .await?,
        Err(_) => None,
    };
    let stored = account
        .as_ref()
        .map(|a| PasswordHash::from_stored(a.password_hash.clone()));
    let password_ok = password::verify(password, stored).await;

    let Some(account) = account else {
        record_address_failure(pool, policy, origin, source.as_deref(), now).await?;
        return Err(LoginError::InvalidCredentials);
    };
    if let Some(until) = account.locked_until.filter(|until| *until > now) {
        return Err(LoginError::Locked { until });
    }
    if !password_ok || account.disabled {
        record_account_failure(pool, policy, account.id, origin, now).await?;
        record_address_failure(pool, policy, origin, source.as_deref(), now).await?;
        return Err(LoginError::InvalidCredentials);
    }

    let mut tx = pool.begin().await?;
    sqlx::query!(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $2 WHERE id = $1",
        account.id,
        now
    )
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewEntry {
            actor_id: Some(account.id),
            action: "user.login",
            target_type: "user",
            target_id: Some(account.id.to_string()),
            origin: origin.clone(),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    users::find(pool, account.id)
        .await?
        .ok_or(LoginError::InvalidCredentials)
}

async fn address_locked_until(
    pool: &PgPool,
    source: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, LoginError> {
    let Some(source) = source else {
        return Ok(None);
    };
    Ok(sqlx::query_scalar!(
        "SELECT locked_until FROM login_throttle WHERE source = $1 AND locked_until > $2",
        source,
        now
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Records a lockout (`user.lock` or `address.lock`) in the caller's transaction.
async fn audit_lock(
    conn: &mut sqlx::PgConnection,
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    origin: &Origin,
    until: DateTime<Utc>,
    failures: i32,
) -> Result<(), LoginError> {
    audit::append(
        conn,
        NewEntry {
            actor_id: None,
            action,
            target_type,
            target_id: Some(target_id),
            origin: origin.clone(),
            before: None,
            after: Some(json!({ "locked_until": until, "failed_logins": failures })),
        },
    )
    .await?;
    Ok(())
}

async fn record_account_failure(
    pool: &PgPool,
    policy: &LockoutPolicy,
    user_id: Uuid,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(), LoginError> {
    let mut tx = pool.begin().await?;
    let failures = sqlx::query_scalar!(
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if failures >= policy.account_failures {
        let until = now + to_chrono(policy.account_lock);
        sqlx::query!(
            "UPDATE users SET failed_logins = 0, locked_until = $2 WHERE id = $1",
            user_id,
            until
        )
        .execute(&mut *tx)
        .await?;
        audit_lock(
            &mut tx,
            "user.lock",
            "user",
            user_id.to_string(),
            origin,
            until,
            failures,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn record_address_failure(
    pool: &PgPool,
    policy: &LockoutPolicy,
    origin: &Origin,
    source: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), LoginError> {
    let Some(source) = source else { return Ok(()) };
    let mut tx = pool.begin().await?;
    let window_start = now - to_chrono(policy.address_window);
    // A new window starts when the previous one is over.
    let failures = sqlx::query_scalar!(
        r#"INSERT INTO login_throttle (source, failures, window_start) VALUES ($1, 1, $2)
           ON CONFLICT (source) DO UPDATE SET
               failures = CASE WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END,
               window_start = CASE WHEN login_throttle.window_start < $3 THEN $2 ELSE login_throttle.window_start END
           RETURNING failures"#,
        source,
        now,
        window_start
    )
    .fetch_one(&mut *tx)
    .await?;
    if failures >= policy.address_failures {
        let until = now + to_chrono(policy.address_lock);
        sqlx::query!(
            "UPDATE login_throttle SET locked_until = $2, failures = 0, window_start = $3 WHERE source = $1",
            source,
            until,
            now
        )
        .execute(&mut *tx)
        .await?;
        audit_lock(
            &mut tx,
            "address.lock",
            "address",
            source.to_owned(),
            origin,
            until,
            failures,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
