//! `SIGHUP`: settings that can change without a restart, changed without one.
//!
//! The settings are loaded again exactly as at start-up (the process's environment cannot
//! have changed, so in practice the TOML file of `--config` / `LOCKSMITH_CONFIG`) and
//! validated in full: an invalid file changes nothing and says why. Then what can change
//! safely is applied, each named in the log: the log filter, the trusted proxies, the
//! CORS origins (while CORS stays on), the management API's rate per caller, and
//! retention. Whatever else differs is named as needing a restart and left as it was.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::HeaderValue;
use locksmith_core::retention::Retention;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::config::{SecretSource, Settings};
use crate::http::client_address::TrustedProxies;
use crate::http::rate_limit::ApiLimits;
use crate::telemetry;

/// The live values the HTTP stack reads on every request.
#[derive(Debug, Clone)]
pub struct Live {
    /// `LOCKSMITH_TRUSTED_PROXIES`.
    pub trusted_proxies: Arc<ArcSwap<TrustedProxies>>,
    /// `LOCKSMITH_CORS_ALLOWED_ORIGINS`.
    pub cors_origins: Arc<ArcSwap<Vec<HeaderValue>>>,
}

impl Live {
    /// The values of `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            trusted_proxies: Arc::new(ArcSwap::from_pointee(settings.http.trusted_proxies.clone())),
            cors_origins: Arc::new(ArcSwap::from_pointee(origins(settings))),
        }
    }
}

fn origins(settings: &Settings) -> Vec<HeaderValue> {
    settings
        .http
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect()
}

/// What a reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Settings applied.
    pub changed: Vec<&'static str>,
    /// Settings that differ but need a restart.
    pub need_restart: Vec<&'static str>,
}

/// Applies new settings to a running instance.
#[derive(Debug)]
pub struct Reloader {
    live: Live,
    limits: Arc<ApiLimits>,
    retention: Retention,
    current: Settings,
    config_file: Option<PathBuf>,
}

impl Reloader {
    /// A reloader for the instance started with `current`.
    pub fn new(
        live: Live,
        limits: Arc<ApiLimits>,
        retention: Retention,
        current: Settings,
        config_file: Option<PathBuf>,
    ) -> Self {
        Self {
            live,
            limits,
            retention,
            current,
            config_file,
        }
    }

    /// Loads the settings again and applies them; logs what happened.
    pub fn reload(&mut self) {
        match Settings::load(self.config_file.as_deref()) {
            Err(err) => tracing::error!(
                error = %err,
                "SIGHUP: the settings are invalid; nothing was changed"
            ),
            Ok(new) => {
                let done = self.apply(new);
                if done.changed.is_empty() {
                    tracing::info!("SIGHUP: settings reloaded; nothing to change");
                } else {
                    tracing::info!(changed = ?done.changed, "SIGHUP: settings reloaded");
                }
                if !done.need_restart.is_empty() {
                    tracing::warn!(
                        settings = ?done.need_restart,
                        "SIGHUP: these settings changed but take effect only after a restart"
                    );
                }
            }
        }
    }

    /// Applies `new` where it differs from the settings in force.
    pub fn apply(&mut self, new: Settings) -> Reloaded {
        let mut done = Reloaded::default();
        let cur = &self.current;
        if new.log_filter != cur.log_filter {
            match telemetry::set_filter(&new.log_filter) {
                Ok(()) => done.changed.push("LOCKSMITH_LOG"),
                Err(err) => tracing::warn!(error = %err, "cannot change the log filter"),
            }
        }
        if new.http.trusted_proxies != cur.http.trusted_proxies {
            self.live
                .trusted_proxies
                .store(Arc::new(new.http.trusted_proxies.clone()));
            done.changed.push("LOCKSMITH_TRUSTED_PROXIES");
        }
        let (was_on, is_on) = (
            !cur.http.cors_allowed_origins.is_empty(),
            !new.http.cors_allowed_origins.is_empty(),
        );
        if new.http.cors_allowed_origins != cur.http.cors_allowed_origins {
            if was_on && is_on {
                self.live.cors_origins.store(Arc::new(origins(&new)));
                done.changed.push("LOCKSMITH_CORS_ALLOWED_ORIGINS");
            } else {
                // Turning CORS on or off adds or removes a layer of the router.
                done.need_restart.push("LOCKSMITH_CORS_ALLOWED_ORIGINS");
            }
        }
        if new.limits.per_caller != cur.limits.per_caller {
            self.limits.set_rate(new.limits.per_caller);
            done.changed.push("LOCKSMITH_API_RATE_LIMIT_*");
        }
        if new.retention != cur.retention {
            self.retention.set_policy(new.retention);
            done.changed.push("LOCKSMITH_RETENTION_*");
        }
        for ((name, before), (_, after)) in fixed(cur).into_iter().zip(fixed(&new)) {
            if before != after {
                done.need_restart.push(name);
            }
        }
        // What needs a restart keeps its old value, so that the next reload names it again.
        let mut kept = new;
        restore_fixed(&mut kept, &self.current);
        if !(was_on && is_on) {
            kept.http.cors_allowed_origins = self.current.http.cors_allowed_origins.clone();
        }
        self.current = kept;
        done
    }
}

/// The settings only a restart applies, each as a comparable text (secrets as digests).
fn fixed(s: &Settings) -> Vec<(&'static str, String)> {
    let secret = |source: &SecretSource| match source {
        SecretSource::Provided(value) => digest(value.expose_secret()),
        SecretSource::Generate => "generated".to_owned(),
    };
    let optional = |value: Option<&secrecy::SecretString>| {
        value.map_or_else(String::new, |v| digest(v.expose_secret()))
    };
    vec![
        ("LOCKSMITH_PROFILE", format!("{:?}", s.profile)),
        ("LOCKSMITH_HOST / LOCKSMITH_PORT", s.listen.to_string()),
        ("LOCKSMITH_PUBLIC_URL", format!("{:?}", s.public_url)),
        (
            "DATABASE_URL",
            format!(
                "{} {:?} {:?}",
                optional(s.database.url.as_ref()),
                s.database.pool,
                s.database.startup_timeout
            ),
        ),
        ("LOCKSMITH_DATA_DIR", s.data_dir.display().to_string()),
        ("LOCKSMITH_SITE_ROOT", s.site_root.display().to_string()),
        ("LOCKSMITH_LOG_FORMAT", format!("{:?}", s.log_format)),
        (
            "LOCKSMITH_REQUEST_TIMEOUT_SECS",
            format!("{:?}", s.http.request_timeout),
        ),
        ("LOCKSMITH_COOKIE_SECURE", s.http.cookie_secure.to_string()),
        ("LOCKSMITH_JWT_SECRET", secret(&s.secrets.jwt_secret)),
        (
            "LOCKSMITH_SESSION_SECRET",
            secret(&s.secrets.session_secret),
        ),
        ("LOCKSMITH_KEY_PEPPER", secret(&s.secrets.key_pepper)),
        (
            "LOCKSMITH_AUTH_RATE_LIMIT_* / LOCKSMITH_LOCKOUT_* / LOCKSMITH_PASSWORD_CHECKS_*",
            format!(
                "{:?} {:?} {:?}",
                s.limits.per_address, s.limits.lockout, s.limits.hashing
            ),
        ),
        (
            "LOCKSMITH_VERIFY_* / LOCKSMITH_VERIFICATION_LOG_PER_KEY",
            format!(
                "{:?} {:?} {}",
                s.verify.degraded_for, s.verify.unknown_keys, s.verify.log_per_key
            ),
        ),
        ("LOCKSMITH_REDIS_URL", optional(s.verify.redis_url.as_ref())),
        (
            "LOCKSMITH_WEBHOOK_* / LOCKSMITH_KEY_EXPIRY_REMINDERS",
            format!(
                "{} {:?} {} {} {:?} {:?}",
                s.webhooks.allow_private,
                s.webhooks.disable_after,
                s.webhooks.concurrency,
                s.webhooks.require_https,
                s.webhooks.retries,
                s.webhooks.expiry_reminders
            ),
        ),
        (
            "LOCKSMITH_SMTP_URL / LOCKSMITH_SMTP_FROM",
            format!(
                "{} {}",
                optional(s.webhooks.smtp_url.as_ref()),
                s.webhooks.smtp_from
            ),
        ),
        ("LOCKSMITH_REFRESH_*", format!("{:?}", s.refresh)),
        (
            "LOCKSMITH_METRICS_TOKEN",
            optional(s.metrics_token.as_ref()),
        ),
        (
            "LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS / LOCKSMITH_ANOMALY_*",
            format!("{:?}", s.findings),
        ),
    ]
}

/// Puts back into `new` every setting that only a restart applies.
fn restore_fixed(new: &mut Settings, current: &Settings) {
    let log_filter = std::mem::take(&mut new.log_filter);
    let trusted = new.http.trusted_proxies.clone();
    let cors = std::mem::take(&mut new.http.cors_allowed_origins);
    let per_caller = new.limits.per_caller;
    let retention = new.retention;
    *new = current.clone();
    new.log_filter = log_filter;
    new.http.trusted_proxies = trusted;
    new.http.cors_allowed_origins = cors;
    new.limits.per_caller = per_caller;
    new.retention = retention;
}

fn digest(text: &str) -> String {
    locksmith_core::audit::chain::hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env_pairs(pairs.iter().copied()).expect("valid")
    }

    fn reloader(start: Settings) -> Reloader {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        Reloader::new(
            Live::new(&start),
            Arc::new(ApiLimits::new(start.limits.per_caller)),
            Retention::new(pool, start.retention),
            start,
            None,
        )
    }

    /// An edited file: four settings that apply at once, two that need a restart.
    const EDITED: [(&str, &str); 6] = [
        ("LOCKSMITH_CORS_ALLOWED_ORIGINS", "https://b.example"),
        ("LOCKSMITH_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("LOCKSMITH_RETENTION_HISTORY_DAYS", "30"),
        ("LOCKSMITH_API_RATE_LIMIT_PER_MINUTE", "60"),
        ("LOCKSMITH_PORT", "4000"),
        (
            "LOCKSMITH_KEY_PEPPER",
            "another-pepper-0123456789abcdefghijkl",
        ),
    ];

    #[tokio::test]
    async fn what_can_change_changes_and_the_rest_is_named_and_kept() {
        let start = settings(&[("LOCKSMITH_CORS_ALLOWED_ORIGINS", "https://a.example")]);
        let mut r = reloader(start);
        let done = r.apply(settings(&EDITED));
        assert_eq!(
            done.changed,
            [
                "LOCKSMITH_TRUSTED_PROXIES",
                "LOCKSMITH_CORS_ALLOWED_ORIGINS",
                "LOCKSMITH_API_RATE_LIMIT_*",
                "LOCKSMITH_RETENTION_*",
            ]
        );
        assert_eq!(
            done.need_restart,
            ["LOCKSMITH_HOST / LOCKSMITH_PORT", "LOCKSMITH_KEY_PEPPER"]
        );
        assert_eq!(
            r.live.trusted_proxies.load().networks().len(),
            1,
            "applied to the live value"
        );
        assert_eq!(
            r.live.cors_origins.load().as_slice(),
            [HeaderValue::from_static("https://b.example")]
        );
        assert_eq!(r.retention.policy().history.as_secs(), 30 * 86_400);
        assert_eq!(
            r.current.listen.port(),
            3000,
            "the port stays until a restart"
        );

        // The same file again: nothing to apply, the restart still pending.
        let again = r.apply(settings(&EDITED));
        assert!(again.changed.is_empty(), "{again:?}");
        assert_eq!(again.need_restart.len(), 2);
    }

    #[tokio::test]
    async fn turning_cors_on_needs_a_restart() {
        let mut r = reloader(settings(&[]));
        let done = r.apply(settings(&[(
            "LOCKSMITH_CORS_ALLOWED_ORIGINS",
            "https://a.example",
        )]));
        assert_eq!(done.need_restart, ["LOCKSMITH_CORS_ALLOWED_ORIGINS"]);
        assert!(r.live.cors_origins.load().is_empty());
    }
}
