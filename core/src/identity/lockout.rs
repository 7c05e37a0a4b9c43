//! Sign-in lockout: failure counters reserved *before* a password is checked.
//!
//! Three counters apply to an attempt, each with its own threshold over one window:
//! - the account *from this address* (low: 5): someone guessing one password;
//! - the account *from anywhere* (higher: 50): guessing spread over many addresses;
//! - the address (highest: 100): one address trying many accounts (password spraying).
//!
//! Keying the low threshold on account and address together means that twenty wrong
//! passwords from one office no longer lock everyone behind its NAT out, and that a
//! stranger cannot lock a user out with five guesses from their own address.
//!
//! Every attempt first *reserves* a failure on each counter, one atomic upsert per row
//! (`… RETURNING failures`), and only an attempt that stays within every threshold has
//! its password checked. So a burst of guesses sent at once is checked at most up to the
//! threshold, however it interleaves: each upsert takes the row lock in turn. A success
//! hands its reservations back; it resets the account-from-this-address counter only
//! while no lock is set, so a concurrent success never clears a lock being set.
//!
//! Counters are keyed on a digest of the normalised email, not the user id: an unknown
//! email is counted and locked exactly like a real one, so a lockout tells nothing about
//! who has an account.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;

/// Thresholds of the lockout; a threshold of 0 turns that counter off.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures for one account from one address that lock the account for that address.
    pub account_address_failures: i32,
    /// Failures for one account from any address that lock the account everywhere.
    pub account_failures: i32,
    /// Failures from one address, whatever the account, that lock the address.
    pub address_failures: i32,
    /// The window over which failures are counted.
    pub window: Duration,
    /// How long a lock lasts.
    pub lock: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            account_address_failures: 5,
            account_failures: 50,
            address_failures: 100,
            window: Duration::from_secs(15 * 60),
            lock: Duration::from_secs(15 * 60),
        }
    }
}

/// What a counter counts; its key names it in `login_counters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counter {
    /// One account (by normalised email) from one address.
    AccountAddress(String, IpAddr),
    /// One account from anywhere.
    Account(String),
    /// One address.
    Address(IpAddr),
}

impl Counter {
    fn key(&self) -> String {
        match self {
            Self::AccountAddress(email, ip) => format!("account_address:{email}|{ip}"),
            Self::Account(email) => format!("account:{email}"),
            Self::Address(ip) => format!("address:{ip}"),
        }
    }

    fn threshold(&self, policy: &LockoutPolicy) -> i32 {
        match self {
            Self::AccountAddress(..) => policy.account_address_failures,
            Self::Account(_) => policy.account_failures,
            Self::Address(_) => policy.address_failures,
        }
    }

    /// The counters of an attempt on `email` from `source`, in key order (the order rows
    /// are locked in, so that concurrent attempts cannot deadlock).
    pub fn for_attempt(email: &str, source: Option<IpAddr>, policy: &LockoutPolicy) -> Vec<Self> {
        // Emails are unique case-insensitively. The key holds a digest of the email, not
        // the email: whatever a client sends (a NUL, which PostgreSQL's text refuses; a
        // megabyte) makes a short key, and the table keeps no addresses.
        let email = email_digest(email);
        let mut counters = vec![Self::Account(email.clone())];
        if let Some(ip) = source {
            counters.push(Self::AccountAddress(email, ip));
            counters.push(Self::Address(ip));
        }
        counters.retain(|c| c.threshold(policy) > 0);
        counters.sort_by_key(Self::key);
        counters
    }
}

/// SHA-256 of the email's canonical form (what counts as the same address), in hex.
fn email_digest(email: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(super::email::canonical(email).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A failure reserved on one counter: how many it makes in the current window.
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The counter.
    pub counter: Counter,
    /// Failures in the window, this attempt included.
    pub failures: i32,
}

/// The outcome of reserving an attempt.
#[derive(Debug)]
pub enum Reservation {
    /// Within every threshold: check the password.
    Go(Vec<Reserved>),
    /// A counter is locked (or this attempt is past its threshold and locked it).
    Locked {
        /// When the longest lock ends.
        until: DateTime<Utc>,
        /// Counters this attempt locked (to audit), with their failure counts.
        newly_locked: Vec<Reserved>,
    },
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Counts one failure on each counter before the password is checked.
pub(crate) async fn reserve(
    pool: &PgPool,
    policy: &LockoutPolicy,
    counters: Vec<Counter>,
    now: DateTime<Utc>,
) -> Result<Reservation> {
    let window_start = now - to_chrono(policy.window);
    let mut tx = pool.begin().await?;
    let mut reserved = Vec::with_capacity(counters.len());
    let mut until: Option<DateTime<Utc>> = None;
    let mut newly_locked = Vec::new();
    for counter in counters {
        // A counter starts afresh when its window is over or its lock has ended.
        let row = sqlx::query!(
            r#"INSERT INTO login_counters (key, failures, window_start) VALUES ($1, 1, $2)
               ON CONFLICT (key) DO UPDATE SET
                   failures = CASE WHEN login_counters.window_start < $3 OR login_counters.locked_until <= $2
                                   THEN 1 ELSE login_counters.failures + 1 END,
                   window_start = CASE WHEN login_counters.window_start < $3 OR login_counters.locked_until <= $2
                                       THEN $2 ELSE login_counters.window_start END,
                   locked_until = CASE WHEN login_counters.locked_until <= $2
                                       THEN NULL ELSE login_counters.locked_until END
               RETURNING failures, locked_until"#,
            counter.key(),
            now,
            window_start
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(locked) = row.locked_until.filter(|u| *u > now) {
            until = until.max(Some(locked));
        } else if row.failures > counter.threshold(policy) {
            // Past the threshold while the attempts before it are still being checked:
            // refused unchecked, and the lock is set now rather than by their outcome.
            let locked = now + to_chrono(policy.lock);
            if lock(&mut tx, &counter, locked).await? {
                newly_locked.push(Reserved {
                    counter: counter.clone(),
                    failures: row.failures,
                });
            }
            until = until.max(Some(locked));
        }
        reserved.push(Reserved {
            counter,
            failures: row.failures,
        });
    }
    tx.commit().await?;
    Ok(match until {
        Some(until) => Reservation::Locked {
            until,
            newly_locked,
        },
        None => Reservation::Go(reserved),
    })
}

/// The attempt failed: its reservations stand, and a counter at its threshold locks.
/// Returns the counters locked now (to audit) and when the lock ends.
pub(crate) async fn failed(
    conn: &mut sqlx::PgConnection,
    policy: &LockoutPolicy,
    reserved: &[Reserved],
    now: DateTime<Utc>,
) -> Result<(Vec<Reserved>, DateTime<Utc>)> {
    let until = now + to_chrono(policy.lock);
    let mut locked = Vec::new();
    for r in reserved {
        if r.failures >= r.counter.threshold(policy) && lock(&mut *conn, &r.counter, until).await? {
            locked.push(r.clone());
        }
    }
    Ok((locked, until))
}

/// The attempt succeeded: its reservations are handed back, and the account's counter
/// for this address starts again from zero unless a lock was set meanwhile.
pub(crate) async fn succeeded(conn: &mut sqlx::PgConnection, reserved: &[Reserved]) -> Result<()> {
    hand_back(conn, reserved, true).await
}

/// The attempt was refused before its password was checked (the gate was busy): its
/// reservations are handed back, and nothing is reset.
pub(crate) async fn unchecked(conn: &mut sqlx::PgConnection, reserved: &[Reserved]) -> Result<()> {
    hand_back(conn, reserved, false).await
}

async fn hand_back(
    conn: &mut sqlx::PgConnection,
    reserved: &[Reserved],
    reset: bool,
) -> Result<()> {
    for r in reserved {
        let reset = reset && matches!(r.counter, Counter::AccountAddress(..));
        sqlx::query!(
            r#"UPDATE login_counters
               SET failures = CASE WHEN $2 THEN 0 ELSE GREATEST(failures - 1, 0) END
               WHERE key = $1 AND locked_until IS NULL"#,
            r.counter.key(),
            reset
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sets a lock unless one is already set (an ended lock was cleared by the reservation);
/// true when this call set it.
async fn lock(
    conn: &mut sqlx::PgConnection,
    counter: &Counter,
    until: DateTime<Utc>,
) -> Result<bool> {
    let set = sqlx::query_scalar!(
        r#"UPDATE login_counters SET locked_until = $2
           WHERE key = $1 AND locked_until IS NULL
           RETURNING 1 AS "set!""#,
        counter.key(),
        until
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(set.is_some())
}

/// Deletes counters whose window and lock are both over; returns how many.
pub(crate) async fn purge_stale(
    pool: &PgPool,
    policy: &LockoutPolicy,
    now: DateTime<Utc>,
) -> Result<u64> {
    let window_start = now - to_chrono(policy.window);
    Ok(sqlx::query!(
        "DELETE FROM login_counters WHERE window_start < $1 AND (locked_until IS NULL OR locked_until <= $2)",
        window_start,
        now
    )
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_has_its_counters_in_key_order() {
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        let counters =
            Counter::for_attempt(" Alice@Example.COM ", Some(ip), &LockoutPolicy::default());
        let keys: Vec<String> = counters.iter().map(Counter::key).collect();
        let alice = email_digest("alice@example.com");
        assert_eq!(
            keys,
            [
                format!("account:{alice}"),
                format!("account_address:{alice}|203.0.113.7"),
                "address:203.0.113.7".to_owned()
            ]
        );
    }

    #[test]
    fn any_email_makes_a_short_printable_key() {
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        for email in [
            "\0@example.com",
            &"x".repeat(100_000),
            "",
            "ünïcödé@example.com",
        ] {
            for counter in Counter::for_attempt(email, Some(ip), &LockoutPolicy::default()) {
                let key = counter.key();
                assert!(key.len() <= 120, "{key}");
                assert!(!key.chars().any(char::is_control), "{key:?}");
            }
        }
    }

    #[test]
    fn a_threshold_of_zero_turns_a_counter_off() {
        let policy = LockoutPolicy {
            address_failures: 0,
            ..LockoutPolicy::default()
        };
        let ip: IpAddr = "2001:db8::1".parse().expect("ip");
        let counters = Counter::for_attempt("a@b.c", Some(ip), &policy);
        assert!(!counters.iter().any(|c| matches!(c, Counter::Address(_))));
        assert_eq!(Counter::for_attempt("a@b.c", None, &policy).len(), 1);
    }
}
