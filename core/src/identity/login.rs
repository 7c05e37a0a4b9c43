//! Signing in: the credential check, behind the lockout of [`super::lockout`], audited.
//!
//! Wrong email and wrong password answer the same and take the same time (an unknown
//! account is verified against a dummy hash). Every attempt passes the [`SignInGate`]
//! (a rate per address, a bounded number of password checks at once) and is counted
//! before its password is checked; a locked or refused attempt costs no argon2 hash.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;

pub use super::gate::SignInGate;
pub use super::lockout::LockoutPolicy;
use super::lockout::{self, Counter, Reservation, Reserved};
use super::users::{self, User};
use super::{Email, PasswordHash, password};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};

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
    /// Too many sign-in requests from this address; retry after the duration.
    #[error("too many sign-in requests; retry after {} s", .0.as_secs())]
    RateLimited(Duration),
    /// Every password check is taken and the queue is full; retry after the duration.
    #[error("sign-in is busy; retry after {} s", .0.as_secs())]
    Busy(Duration),
    /// The database failed.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<sqlx::Error> for LoginError {
    fn from(err: sqlx::Error) -> Self {
        Self::Core(err.into())
    }
}

/// Checks the credentials and returns the user, recording the outcome.
pub(crate) async fn login(
    pool: &PgPool,
    gate: &SignInGate,
    email: &str,
    password: SecretString,
    origin: &Origin,
) -> Result<User, LoginError> {
    if let Some(address) = origin.source_ip {
        gate.check_address(address)
            .map_err(LoginError::RateLimited)?;
    }
    let now = Utc::now();
    let policy = gate.lockout();
    let counters = Counter::for_attempt(email, origin.source_ip, policy);
    let reserved = match lockout::reserve(pool, policy, counters, now).await? {
        Reservation::Go(reserved) => reserved,
        Reservation::Locked {
            until,
            newly_locked,
        } => {
            if !newly_locked.is_empty() {
                let mut tx = pool.begin().await?;
                audit_locks(&mut tx, email, &newly_locked, origin, until).await?;
                tx.commit().await?;
            }
            return Err(LoginError::Locked { until });
        }
    };
    let turn = match gate.hashing_turn().await {
        Ok(turn) => turn,
        Err(wait) => {
            // Refused unchecked: the attempt hands its reservations back.
            let mut conn = pool.acquire().await?;
            lockout::unchecked(&mut conn, &reserved).await?;
            return Err(LoginError::Busy(wait));
        }
    };
    let account = match Email::parse(email) {
        Ok(email) => users::credentials(pool, &email).await?,
        Err(_) => None,
    };
    let stored = account
        .as_ref()
        .map(|a| PasswordHash::from_stored(a.password_hash.clone()));
    let password_ok = password::verify(password, stored).await;
    drop(turn);

    let mut tx = pool.begin().await?;
    let user_id = match account {
        Some(account) if password_ok && !account.disabled => account.id,
        _ => {
            let (locked, until) = lockout::failed(&mut tx, policy, &reserved, now).await?;
            audit_locks(&mut tx, email, &locked, origin, until).await?;
            tx.commit().await?;
            return Err(LoginError::InvalidCredentials);
        }
    };
    lockout::succeeded(&mut tx, &reserved).await?;
    users::record_login(&mut tx, user_id, now).await?;
    audit::append(
        &mut tx,
        NewEntry::new(
            Some(user_id),
            Action::UserLogin,
            Some(user_id.to_string()),
            origin,
        ),
    )
    .await?;
    tx.commit().await?;
    users::find(pool, user_id)
        .await?
        .ok_or(LoginError::InvalidCredentials)
}

/// Records the locks an attempt set: `user.lock` for an account's counters (naming the
/// user when the email has one; an unknown email's lock protects nobody and is not
/// written), `address.lock` for an address's.
async fn audit_locks(
    conn: &mut sqlx::PgConnection,
    email: &str,
    locked: &[Reserved],
    origin: &Origin,
    until: DateTime<Utc>,
) -> Result<(), LoginError> {
    let mut entries = Vec::new();
    for r in locked {
        let (action, target_id, scope) = match &r.counter {
            Counter::Address(ip) => (Action::AddressLock, ip.to_string(), "address"),
            Counter::Account(_) | Counter::AccountAddress(..) => {
                let Some(id) = (match Email::parse(email) {
                    Ok(email) => users::id_by_email(&mut *conn, &email).await?,
                    Err(_) => None,
                }) else {
                    continue;
                };
                let scope = if matches!(r.counter, Counter::Account(_)) {
                    "account"
                } else {
                    "account_from_address"
                };
                (Action::UserLock, id.to_string(), scope)
            }
        };
        entries.push(
            NewEntry::new(None, action, Some(target_id), origin).after(
                json!({ "locked_until": until, "failed_logins": r.failures, "scope": scope }),
            ),
        );
    }
    audit::append_all(conn, entries).await?;
    Ok(())
}
