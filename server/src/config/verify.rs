//! The verification section: degraded mode, the unknown-key budget, the log, Redis.

use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use super::raw::Raw;
use super::secrets::pick_secret;
use super::{ConfigError, VerifySettings};
use crate::http::rate_limit::Rate;

impl Raw {
    pub(super) fn verify(&mut self) -> Result<VerifySettings, ConfigError> {
        if self.verification_log_per_key > 10_000 {
            return Err(ConfigError::setting(
                "verification_log_per_key",
                "must be between 0 (no log) and 10000",
            ));
        }
        if self.verify_degraded_secs > 86_400 {
            return Err(ConfigError::setting(
                "verify_degraded_secs",
                "must be between 0 and 86400 (a day)",
            ));
        }
        let redis_url = pick_secret(
            "redis_url",
            self.redis_url.take(),
            self.redis_url_file.as_deref(),
        )?;
        if let Some(url) = &redis_url {
            let scheme = Url::parse(url.expose_secret()).map(|u| u.scheme().to_owned());
            if !matches!(scheme.as_deref(), Ok("redis" | "rediss")) {
                return Err(ConfigError::setting(
                    "redis_url",
                    "must be a redis:// or rediss:// URL",
                ));
            }
        }
        Ok(VerifySettings {
            degraded_for: Duration::from_secs(self.verify_degraded_secs),
            unknown_keys: Rate {
                per_minute: self.verify_unknown_keys_per_minute,
                burst: self.verify_unknown_keys_burst,
            },
            log_per_key: self.verification_log_per_key,
            redis_url,
        })
    }
}
