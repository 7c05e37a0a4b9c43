//! The limits section: API and sign-in rates, the lockout, password checks at once, and
//! refresh-token lifetimes.

use std::time::Duration;

use locksmith_core::identity::gate::HashingLimit;
use locksmith_core::identity::login::LockoutPolicy;
use locksmith_core::identity::tokens::RefreshLifetime;

use super::raw::Raw;
use super::{ConfigError, LimitSettings};
use crate::http::rate_limit::Rate;

impl Raw {
    /// Abuse limits of the management API and of sign-in.
    pub(super) fn limits(&self) -> Result<LimitSettings, ConfigError> {
        Ok(LimitSettings {
            per_caller: Rate {
                per_minute: self.api_rate_limit_per_minute,
                burst: self.api_rate_limit_burst,
            },
            per_address: Rate {
                per_minute: self.auth_rate_limit_per_minute,
                burst: self.auth_rate_limit_burst,
            },
            lockout: self.lockout()?,
            hashing: self.hashing()?,
        })
    }

    /// The lockout thresholds: counts up to a million (0 turns one off), durations from a
    /// second to a day.
    pub(super) fn lockout(&self) -> Result<LockoutPolicy, ConfigError> {
        let count = |key: &str, n: u32| {
            i32::try_from(n)
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| ConfigError::setting(key, "must be between 0 and 1000000"))
        };
        let secs = |key: &str, n: u64| {
            (1..=86_400)
                .contains(&n)
                .then(|| Duration::from_secs(n))
                .ok_or_else(|| ConfigError::setting(key, "must be between 1 and 86400 seconds"))
        };
        Ok(LockoutPolicy {
            account_address_failures: count("lockout_failures", self.lockout_failures)?,
            account_failures: count("lockout_account_failures", self.lockout_account_failures)?,
            address_failures: count("lockout_address_failures", self.lockout_address_failures)?,
            window: secs("lockout_window_secs", self.lockout_window_secs)?,
            lock: secs("lockout_secs", self.lockout_secs)?,
        })
    }

    /// Password checks at once (0: one per core, at most 256) and waiting (at most 10000).
    pub(super) fn hashing(&self) -> Result<HashingLimit, ConfigError> {
        let machine = HashingLimit::for_this_machine();
        let concurrent = match self.password_checks_concurrent {
            0 => machine.concurrent,
            n @ 1..=256 => n,
            _ => {
                return Err(ConfigError::setting(
                    "password_checks_concurrent",
                    "must be between 0 (one per core) and 256",
                ));
            }
        };
        let queue = self.password_checks_queue.unwrap_or(8 * concurrent);
        if queue > 10_000 {
            return Err(ConfigError::setting(
                "password_checks_queue",
                "must be between 0 and 10000",
            ));
        }
        Ok(HashingLimit {
            concurrent,
            queue,
            ..machine
        })
    }

    /// Refresh lifetimes: a token from a minute to a year, a family at least as long as
    /// a token and at most ten years.
    pub(super) fn refresh(&self) -> Result<RefreshLifetime, ConfigError> {
        const YEAR: u64 = 365 * 86_400;
        if !(60..=YEAR).contains(&self.refresh_token_ttl_secs) {
            return Err(ConfigError::setting(
                "refresh_token_ttl_secs",
                "must be between 60 and 31536000 seconds",
            ));
        }
        if !(self.refresh_token_ttl_secs..=10 * YEAR).contains(&self.refresh_family_ttl_secs) {
            return Err(ConfigError::setting(
                "refresh_family_ttl_secs",
                "must be at least LOCKSMITH_REFRESH_TOKEN_TTL_SECS and at most 315360000 seconds",
            ));
        }
        Ok(RefreshLifetime {
            token: Duration::from_secs(self.refresh_token_ttl_secs),
            family: Duration::from_secs(self.refresh_family_ttl_secs),
        })
    }
}
