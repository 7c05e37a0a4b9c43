//! Typed settings: defaults, then an optional TOML file, then the environment.
//!
//! Every setting has one name, `LOCKSMITH_<NAME>` in the environment and `<name>` in the
//! file (plus the conventional `DATABASE_URL`). Validation happens once, at load, so that a
//! bad port or a malformed URL stops start-up with a message naming the setting.
//!
//! This module holds the validated shape ([`Settings`] and its sections); [`raw`] the shape
//! as read and its defaults; [`sources`] where values come from (defaults, file,
//! environment); each section's rules live in a module of its own (`database`, `http`,
//! `secrets`, `limits`, `verify`).

mod database;
mod findings;
mod http;
mod limits;
mod raw;
mod retention;
mod secrets;
mod sources;
mod telemetry;
mod verify;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use locksmith_core::db::PoolSettings;
use locksmith_core::identity::gate::HashingLimit;
use locksmith_core::identity::login::LockoutPolicy;
use locksmith_core::identity::tokens::RefreshLifetime;
use locksmith_core::webhooks::schedule::RetrySchedule;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;
use url::Url;

use crate::http::client_address::TrustedProxies;
use crate::http::rate_limit::Rate;
use raw::Raw;
use sources::{figment, figment_error, parse_scalar, process_env};

pub use secrets::MIN_SECRET_LEN;

/// A setting that could not be loaded; the message always names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn setting(key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{}: {problem}", env_name(key)))
    }
}

/// The environment variable that sets `key`.
fn env_name(key: &str) -> String {
    match key {
        "database_url" | "database_url_file" => key.to_uppercase(),
        _ => format!("LOCKSMITH_{}", key.to_uppercase()),
    }
}

/// How strict start-up is about unsafe settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Friendly defaults: secrets generated into the data dir, plain-HTTP cookies allowed.
    Development,
    /// Refuses generated secrets and plain-HTTP cookies unless explicitly allowed.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Text,
    /// One JSON object per line, for log aggregation.
    Json,
}

/// Where the value of a secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Given in the environment, the config file, or read from a `*_FILE` path.
    Provided(SecretString),
    /// Not given: generated once into the data dir (development profile only).
    Generate,
}

/// The server-side secrets. Their consumers: the JWT signer, the session layer and the
/// key hasher; none of them is ever logged.
#[derive(Debug, Clone)]
pub struct SecretSettings {
    /// `LOCKSMITH_JWT_SECRET`: signs API access tokens.
    pub jwt_secret: SecretSource,
    /// `LOCKSMITH_SESSION_SECRET`: protects portal session cookies.
    pub session_secret: SecretSource,
    /// `LOCKSMITH_KEY_PEPPER`: the HMAC key under which API key digests are stored.
    pub key_pepper: SecretSource,
}

/// Database connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`; `None` runs the embedded PostgreSQL in the data dir.
    pub url: Option<SecretString>,
    /// Pool size and timeouts.
    pub pool: PoolSettings,
    /// How long start-up keeps retrying an unreachable database.
    pub startup_timeout: Duration,
}

impl DatabaseSettings {
    /// Connect options for the configured URL, if one is configured.
    pub fn connect_options(&self) -> Option<PgConnectOptions> {
        // Validated at load time, so parsing cannot fail here.
        self.url
            .as_ref()
            .and_then(|url| PgConnectOptions::from_str(url.expose_secret()).ok())
    }
}

/// HTTP behaviour.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Requests taking longer than this are answered with 503.
    pub request_timeout: Duration,
    /// Origins allowed to call `/v1` from a browser; empty means CORS is off.
    pub cors_allowed_origins: Vec<String>,
    /// Whether cookies carry the `Secure` attribute.
    pub cookie_secure: bool,
    /// `LOCKSMITH_TRUSTED_PROXIES`: comma-separated networks (`10.0.0.0/8`, `::1`) whose
    /// forwarded headers name the client (empty: nobody's), and
    /// `LOCKSMITH_FORWARDED_HEADER`: `x-forwarded-for` (default, with
    /// `X-Forwarded-Proto`/`-Host`) or `forwarded` (RFC 7239), the one they write.
    pub trusted_proxies: TrustedProxies,
}

/// All settings, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LOCKSMITH_PROFILE`: `development` (default) or `production`.
    pub profile: Profile,
    /// `LOCKSMITH_HOST` and `LOCKSMITH_PORT`: where to listen.
    pub listen: SocketAddr,
    /// `LOCKSMITH_PUBLIC_URL`: the URL users reach Locksmith at, when behind a proxy.
    pub public_url: Option<Url>,
    /// Database settings.
    pub database: DatabaseSettings,
    /// `LOCKSMITH_DATA_DIR`: embedded database and generated secrets.
    pub data_dir: PathBuf,
    /// `LOCKSMITH_SITE_ROOT`: the compiled portal assets (`target/site`).
    pub site_root: PathBuf,
    /// `LOCKSMITH_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOCKSMITH_LOG`: a tracing filter such as `info,locksmith=debug`.
    pub log_filter: String,
    /// HTTP behaviour.
    pub http: HttpSettings,
    pub secrets: SecretSettings,
    /// Abuse limits of the management API.
    pub limits: LimitSettings,
    /// Verification.
    pub verify: VerifySettings,
    /// Webhook deliveries.
    pub webhooks: WebhookSettings,
    /// `LOCKSMITH_RETENTION_HOURLY_USAGE_DAYS` (92), `_DAILY_USAGE_DAYS` (730),
    /// `_HISTORY_DAYS` (90: webhook deliveries, emails, consumed events) and
    /// `_DEAD_KEYS_DAYS` (unset: dead keys are kept).
    pub retention: locksmith_core::retention::RetentionPolicy,
    /// Span export.
    pub telemetry: TelemetrySettings,
    /// Leak intake and unusual-use detection.
    pub findings: FindingSettings,
    /// `LOCKSMITH_REFRESH_TOKEN_TTL_SECS` (default 30 days) and
    /// `LOCKSMITH_REFRESH_FAMILY_TTL_SECS` (default 90 days): how long an unused refresh
    /// token lives, and how long a sign-in can be renewed at all.
    pub refresh: RefreshLifetime,
    /// `LOCKSMITH_METRICS_TOKEN` (or `_FILE`): when set, `GET /metrics` requires
    /// `Authorization: Bearer <token>` (it discloses key ids and traffic).
    pub metrics_token: Option<SecretString>,
}

/// Leak intake and unusual-use detection (`LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS`,
/// `LOCKSMITH_ANOMALY_*`).
#[derive(Debug, Clone)]
pub struct FindingSettings {
    /// Where GitHub secret scanning's signing keys are read (`None`: `POST
    /// /v1/leaks/github` is not offered).
    pub github_keys: Option<locksmith_core::leaks::KeySource>,
    /// How often unusual use is looked for (`None`: never).
    pub every: Option<std::time::Duration>,
    /// The thresholds of unusual use.
    pub rules: locksmith_core::findings::AnomalyRules,
}

/// Span export (OpenTelemetry).
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `LOCKSMITH_OTEL_ENDPOINT`: the `http://` base URL of an OTLP receiver (spans go to
    /// `/v1/traces`); unset: no export.
    pub otel_endpoint: Option<Url>,
    /// `LOCKSMITH_OTEL_SERVICE_NAME` (default `locksmith`): the spans' `service.name`.
    pub service_name: String,
}

/// Webhook deliveries.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `LOCKSMITH_WEBHOOK_ALLOW_PRIVATE` (default false): deliveries may go to loopback,
    /// private and link-local addresses (receivers on the installation's own network).
    pub allow_private: bool,
    /// `LOCKSMITH_WEBHOOK_DISABLE_AFTER_SECS` (default 5 days): an endpoint whose every
    /// attempt failed for this long is switched off.
    pub disable_after: Duration,
    /// `LOCKSMITH_WEBHOOK_CONCURRENCY` (default 16): attempts in flight at once from one
    /// instance (each endpoint receives one at a time, in order).
    pub concurrency: usize,
    /// Only `https://` endpoints: the production profile.
    pub require_https: bool,
    /// `LOCKSMITH_WEBHOOK_RETRY_SCHEDULE`: the waits before each retry, in seconds,
    /// comma-separated (default 10,60,300,1800,7200,21600,43200,86400,86400).
    pub retries: RetrySchedule,
    /// `LOCKSMITH_KEY_EXPIRY_REMINDERS`: when `key.expiring` is sent, in seconds before
    /// a key's expiry, comma-separated (default 604800,86400: 7 days and 1 day).
    pub expiry_reminders: Vec<Duration>,
    /// `LOCKSMITH_SMTP_URL` (or `_FILE`): where notification emails go, e.g.
    /// `smtps://user:password@mail.example.com` or `smtp://127.0.0.1:25`; unset: no
    /// emails.
    pub smtp_url: Option<SecretString>,
    /// `LOCKSMITH_SMTP_FROM` (default `Locksmith <locksmith@localhost>`): their sender.
    pub smtp_from: String,
}

/// Verification behaviour.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// `LOCKSMITH_VERIFY_DEGRADED_SECS`: how long cached keys keep verifying while the
    /// database is unreachable (0: not at all).
    pub degraded_for: Duration,
    /// `LOCKSMITH_VERIFY_UNKNOWN_KEYS_PER_MINUTE` / `_BURST`: unknown keys a verifier may
    /// send before it is throttled (0 per minute: never).
    pub unknown_keys: Rate,
    /// `LOCKSMITH_REDIS_URL` (or `_FILE`): rate limits shared by every instance through
    /// this Redis; without it each instance counts on its own.
    pub redis_url: Option<SecretString>,
    /// `LOCKSMITH_VERIFICATION_LOG_PER_KEY`: how many of each key's latest
    /// verifications its log keeps (0: no log; default 100).
    pub log_per_key: usize,
}

/// Abuse limits of the management API; a rate of 0 per minute turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// `LOCKSMITH_API_RATE_LIMIT_PER_MINUTE` / `_BURST`: per authenticated caller.
    pub per_caller: Rate,
    /// `LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE` / `_BURST`: per client address on the
    /// token endpoints.
    pub per_address: Rate,
    /// `LOCKSMITH_LOCKOUT_*`: sign-in lockout thresholds (see `core::identity::lockout`).
    pub lockout: LockoutPolicy,
    /// `LOCKSMITH_PASSWORD_CHECKS_CONCURRENT` / `_QUEUE`: password checks at once (0:
    /// one per core) and waiting for one (default eight per check at once); sign-ins
    /// beyond both are refused with 503 (see `core::identity::gate`).
    pub hashing: HashingLimit,
}

impl Settings {
    /// Loads from the process environment and, if given, a TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        sources::refuse_unknown_env(names.iter().map(String::as_str))?;
        Self::from_figment(&figment(config_file)?.merge(process_env()))
    }

    /// Loads from explicit `(name, value)` pairs instead of the process environment;
    /// tests use it so they never mutate the shared environment.
    pub fn from_env_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        sources::refuse_unknown_env(pairs.iter().map(|(k, _)| k.as_str()))?;
        let prefixed = pairs.iter().filter_map(|(k, v)| {
            k.strip_prefix("LOCKSMITH_")
                .map(|rest| (rest.to_lowercase(), v.clone()))
        });
        let raw_db = pairs
            .iter()
            .filter(|(k, _)| k == "DATABASE_URL" || k == "DATABASE_URL_FILE")
            .map(|(k, v)| (k.to_lowercase(), v.clone()));
        let mut fig = figment(None)?;
        for (key, value) in prefixed.chain(raw_db) {
            fig = fig.merge((key.as_str(), parse_scalar(&value)));
        }
        Self::from_figment(&fig)
    }

    fn from_figment(fig: &Figment) -> Result<Self, ConfigError> {
        let raw: Raw = fig.extract().map_err(|e| figment_error(&e))?;
        raw.validate()
    }

    /// Whether this instance uses the embedded PostgreSQL.
    pub fn uses_embedded_database(&self) -> bool {
        self.database.url.is_none()
    }
}

#[cfg(test)]
mod tests;
