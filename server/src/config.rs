//! Typed settings: defaults, then an optional TOML file, then the environment.
//!
//! Every setting has one name, `LOCKSMITH_<NAME>` in the environment and `<name>` in the
//! file (plus the conventional `DATABASE_URL`). Validation happens once, here, so that a bad
//! port or a malformed URL stops start-up with a message naming the setting.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use locksmith_core::db::PoolSettings;
use locksmith_core::identity::gate::HashingLimit;
use locksmith_core::identity::login::LockoutPolicy;
use locksmith_core::identity::tokens::RefreshLifetime;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;
use url::Url;

use crate::http::rate_limit::Rate;

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
    /// `LOCKSMITH_REFRESH_TOKEN_TTL_SECS` (default 30 days) and
    /// `LOCKSMITH_REFRESH_FAMILY_TTL_SECS` (default 90 days): how long an unused refresh
    /// token lives, and how long a sign-in can be renewed at all.
    pub refresh: RefreshLifetime,
    /// `LOCKSMITH_METRICS_TOKEN` (or `_FILE`): when set, `GET /metrics` requires
    /// `Authorization: Bearer <token>` (it discloses key ids and traffic).
    pub metrics_token: Option<SecretString>,
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

/// The raw shape read from the file and the environment, before validation.
#[derive(Debug, Serialize, Deserialize)]
struct Raw {
    profile: Profile,
    host: String,
    port: u16,
    public_url: Option<String>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    db_max_connections: u32,
    db_min_connections: u32,
    db_acquire_timeout_secs: u64,
    db_idle_timeout_secs: u64,
    db_startup_timeout_secs: u64,
    data_dir: PathBuf,
    site_root: Option<PathBuf>,
    log_format: LogFormat,
    log: String,
    request_timeout_secs: u64,
    cors_allowed_origins: Option<String>,
    cookie_secure: Option<bool>,
    allow_insecure_cookies: bool,
    jwt_secret: Option<String>,
    jwt_secret_file: Option<PathBuf>,
    session_secret: Option<String>,
    session_secret_file: Option<PathBuf>,
    key_pepper: Option<String>,
    key_pepper_file: Option<PathBuf>,
    api_rate_limit_per_minute: u32,
    api_rate_limit_burst: u32,
    auth_rate_limit_per_minute: u32,
    auth_rate_limit_burst: u32,
    lockout_failures: u32,
    lockout_account_failures: u32,
    lockout_address_failures: u32,
    lockout_window_secs: u64,
    lockout_secs: u64,
    password_checks_concurrent: usize,
    password_checks_queue: Option<usize>,
    refresh_token_ttl_secs: u64,
    refresh_family_ttl_secs: u64,
    metrics_token: Option<String>,
    metrics_token_file: Option<PathBuf>,
    verify_degraded_secs: u64,
    verify_unknown_keys_per_minute: u32,
    verify_unknown_keys_burst: u32,
    verification_log_per_key: usize,
    redis_url: Option<String>,
    redis_url_file: Option<PathBuf>,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            host: "127.0.0.1".into(),
            port: 3000,
            public_url: None,
            database_url: None,
            database_url_file: None,
            db_max_connections: 10,
            db_min_connections: 0,
            db_acquire_timeout_secs: 5,
            db_idle_timeout_secs: 600,
            db_startup_timeout_secs: 30,
            data_dir: PathBuf::from(".locksmith"),
            site_root: None,
            log_format: LogFormat::Text,
            log: "info,sqlx=warn,tower_http=info".into(),
            request_timeout_secs: 30,
            cors_allowed_origins: None,
            cookie_secure: None,
            allow_insecure_cookies: false,
            jwt_secret: None,
            jwt_secret_file: None,
            session_secret: None,
            session_secret_file: None,
            key_pepper: None,
            key_pepper_file: None,
            api_rate_limit_per_minute: 600,
            api_rate_limit_burst: 120,
            auth_rate_limit_per_minute: 60,
            auth_rate_limit_burst: 30,
            lockout_failures: 5,
            lockout_account_failures: 50,
            lockout_address_failures: 100,
            lockout_window_secs: 900,
            lockout_secs: 900,
            password_checks_concurrent: 0,
            password_checks_queue: None,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_family_ttl_secs: 90 * 86_400,
            metrics_token: None,
            metrics_token_file: None,
            verify_degraded_secs: 30,
            verify_unknown_keys_per_minute: 600,
            verification_log_per_key: locksmith_core::verify::DEFAULT_LOG_PER_KEY,
            verify_unknown_keys_burst: 100,
            redis_url: None,
            redis_url_file: None,
        }
    }
}

/// Shortest accepted secret, in bytes: 256 bits.
pub const MIN_SECRET_LEN: usize = 32;

impl Settings {
    /// Loads from the process environment and, if given, a TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
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

fn figment(config_file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Raw::default()));
    if let Some(path) = config_file {
        if !path.is_file() {
            return Err(ConfigError(format!(
                "LOCKSMITH_CONFIG: no such file: {}",
                path.display()
            )));
        }
        fig = fig.merge(Toml::file_exact(path));
    }
    Ok(fig)
}

fn process_env() -> Figment {
    Figment::new()
        .merge(Env::prefixed("LOCKSMITH_").ignore(&["config"]))
        .merge(Env::raw().only(&["database_url", "database_url_file"]))
}

/// Environment values are strings; give figment the same typed value it would parse.
fn parse_scalar(value: &str) -> figment::value::Value {
    use figment::value::Value;
    value
        .parse::<Value>()
        .unwrap_or_else(|_| Value::from(value.to_owned()))
}

fn figment_error(err: &figment::Error) -> ConfigError {
    let key = err.path.last().cloned().unwrap_or_default();
    let problem = match &err.kind {
        figment::error::Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {actual}")
        }
        figment::error::Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {actual}")
        }
        figment::error::Kind::UnknownVariant(found, allowed) => {
            format!("`{found}` is not one of {}", allowed.join(", "))
        }
        other => other.to_string(),
    };
    if key.is_empty() {
        ConfigError(problem)
    } else {
        ConfigError::setting(&key, problem)
    }
}

impl Raw {
    fn validate(self) -> Result<Settings, ConfigError> {
        let lockout = self.lockout()?;
        let hashing = self.hashing()?;
        let refresh = self.refresh()?;
        let host: IpAddr = self.host.parse().map_err(|_| {
            ConfigError::setting("host", "must be an IP address such as 127.0.0.1 or 0.0.0.0")
        })?;

        let public_url = self
            .public_url
            .as_deref()
            .map(|raw| {
                let url = Url::parse(raw)
                    .map_err(|e| ConfigError::setting("public_url", format!("not a URL ({e})")))?;
                match url.scheme() {
                    "http" | "https" if url.host().is_some() => Ok(url),
                    _ => Err(ConfigError::setting(
                        "public_url",
                        "must be an http:// or https:// URL with a host",
                    )),
                }
            })
            .transpose()?;

        let database_url = pick_secret(
            "database_url",
            self.database_url,
            self.database_url_file.as_deref(),
        )?;
        if let Some(url) = &database_url {
            validate_database_url(url.expose_secret())?;
        }

        if self.db_max_connections == 0 {
            return Err(ConfigError::setting(
                "db_max_connections",
                "must be at least 1",
            ));
        }
        if self.db_min_connections > self.db_max_connections {
            return Err(ConfigError::setting(
                "db_min_connections",
                "must not exceed LOCKSMITH_DB_MAX_CONNECTIONS",
            ));
        }
        if self.db_acquire_timeout_secs == 0 {
            return Err(ConfigError::setting(
                "db_acquire_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::setting(
                "request_timeout_secs",
                "must be at least 1",
            ));
        }

        let cors_allowed_origins = self
            .cors_allowed_origins
            .as_deref()
            .map(parse_origins)
            .transpose()?
            .unwrap_or_default();

        let production = self.profile == Profile::Production;
        let cookie_secure = self.cookie_secure.unwrap_or(production);
        if production && !cookie_secure && !self.allow_insecure_cookies {
            return Err(ConfigError::setting(
                "cookie_secure",
                "plain-HTTP cookies are refused in production; serve over HTTPS, \
                 or set LOCKSMITH_ALLOW_INSECURE_COOKIES=true to accept the risk",
            ));
        }

        let secrets = SecretSettings {
            jwt_secret: secret_source(
                production,
                "jwt_secret",
                self.jwt_secret,
                self.jwt_secret_file.as_deref(),
            )?,
            session_secret: secret_source(
                production,
                "session_secret",
                self.session_secret,
                self.session_secret_file.as_deref(),
            )?,
            key_pepper: secret_source(
                production,
                "key_pepper",
                self.key_pepper,
                self.key_pepper_file.as_deref(),
            )?,
        };

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
        let redis_url = pick_secret("redis_url", self.redis_url, self.redis_url_file.as_deref())?;
        if let Some(url) = &redis_url {
            let scheme = Url::parse(url.expose_secret()).map(|u| u.scheme().to_owned());
            if !matches!(scheme.as_deref(), Ok("redis" | "rediss")) {
                return Err(ConfigError::setting(
                    "redis_url",
                    "must be a redis:// or rediss:// URL",
                ));
            }
        }

        let metrics_token = pick_secret(
            "metrics_token",
            self.metrics_token,
            self.metrics_token_file.as_deref(),
        )?;
        if let Some(token) = &metrics_token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError::setting(
                "metrics_token",
                "must be at least 16 characters",
            ));
        }

        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| ConfigError::setting("log", format!("not a valid filter ({e})")))?;

        let site_root = self
            .site_root
            .or_else(|| std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/site"));

        Ok(Settings {
            profile: self.profile,
            listen: SocketAddr::new(host, self.port),
            public_url,
            database: DatabaseSettings {
                url: database_url,
                pool: PoolSettings {
                    max_connections: self.db_max_connections,
                    min_connections: self.db_min_connections,
                    acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
                    idle_timeout: Duration::from_secs(self.db_idle_timeout_secs),
                },
                startup_timeout: Duration::from_secs(self.db_startup_timeout_secs),
            },
            data_dir: self.data_dir,
            site_root,
            log_format: self.log_format,
            log_filter: self.log,
            http: HttpSettings {
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                cors_allowed_origins,
                cookie_secure,
            },
            secrets,
            limits: LimitSettings {
                per_caller: Rate {
                    per_minute: self.api_rate_limit_per_minute,
                    burst: self.api_rate_limit_burst,
                },
                per_address: Rate {
                    per_minute: self.auth_rate_limit_per_minute,
                    burst: self.auth_rate_limit_burst,
                },
                lockout,
                hashing,
            },
            refresh,
            metrics_token,
            verify: VerifySettings {
                degraded_for: Duration::from_secs(self.verify_degraded_secs),
                unknown_keys: Rate {
                    per_minute: self.verify_unknown_keys_per_minute,
                    burst: self.verify_unknown_keys_burst,
                },
                log_per_key: self.verification_log_per_key,
                redis_url,
            },
        })
    }
}

impl Raw {
    /// The lockout thresholds: counts up to a million (0 turns one off), durations from a
    /// second to a day.
    fn lockout(&self) -> Result<LockoutPolicy, ConfigError> {
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
    fn hashing(&self) -> Result<HashingLimit, ConfigError> {
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
    fn refresh(&self) -> Result<RefreshLifetime, ConfigError> {
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

/// A value given directly or through `<NAME>_FILE`, never both.
fn pick_secret(
    key: &str,
    direct: Option<String>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (direct, file) {
        (Some(_), Some(_)) => Err(ConfigError::setting(
            key,
            format!(
                "set either {} or {}_FILE, not both",
                env_name(key),
                env_name(key)
            ),
        )),
        (Some(value), None) => Ok(Some(SecretString::from(value))),
        (None, Some(path)) => {
            let value = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!(
                    "{}_FILE: cannot read {}: {e}",
                    env_name(key),
                    path.display()
                ))
            })?;
            // Files written by editors or `echo` end with a newline that is not part of the secret.
            Ok(Some(SecretString::from(
                value.trim_end_matches(['\r', '\n']).to_owned(),
            )))
        }
        (None, None) => Ok(None),
    }
}

fn secret_source(
    production: bool,
    key: &str,
    direct: Option<String>,
    file: Option<&Path>,
) -> Result<SecretSource, ConfigError> {
    match pick_secret(key, direct, file)? {
        Some(secret) if secret.expose_secret().len() < MIN_SECRET_LEN => Err(ConfigError::setting(
            key,
            format!("must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -base64 32`)"),
        )),
        Some(secret) => Ok(SecretSource::Provided(secret)),
        None if production => Err(ConfigError::setting(
            key,
            format!(
                "is required in production (set {} or {}_FILE); generated secrets are for development only",
                env_name(key),
                env_name(key)
            ),
        )),
        None => Ok(SecretSource::Generate),
    }
}

fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    // The URL may hold a password: error messages name the problem, never the value.
    let parsed = Url::parse(url)
        .map_err(|e| ConfigError::setting("database_url", format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(ConfigError::setting(
            "database_url",
            "must start with postgres:// or postgresql://",
        ));
    }
    PgConnectOptions::from_str(url).map_err(|_| {
        ConfigError::setting("database_url", "not a valid PostgreSQL connection URL")
    })?;
    Ok(())
}

fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let url = Url::parse(origin).map_err(|_| {
                ConfigError::setting(
                    "cors_allowed_origins",
                    format!("`{origin}` is not an origin"),
                )
            })?;
            let is_origin = matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && !origin.ends_with('/');
            if !is_origin {
                return Err(ConfigError::setting(
                    "cors_allowed_origins",
                    format!("`{origin}` is not an origin like https://app.example.com"),
                ));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_env_pairs(pairs.iter().copied())
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match load(pairs) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_development_on_localhost_3000_with_embedded_database() {
        let s = load(&[]).expect("defaults load");
        assert_eq!(s.profile, Profile::Development);
        assert_eq!(s.listen, "127.0.0.1:3000".parse().expect("addr"));
        assert!(s.uses_embedded_database());
        assert!(matches!(s.secrets.jwt_secret, SecretSource::Generate));
        assert!(!s.http.cookie_secure);
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn a_bad_port_names_the_setting() {
        let msg = err(&[("LOCKSMITH_PORT", "70000")]);
        assert!(msg.contains("LOCKSMITH_PORT"), "{msg}");
        let msg = err(&[("LOCKSMITH_PORT", "http")]);
        assert!(msg.contains("LOCKSMITH_PORT"), "{msg}");
    }

    #[test]
    fn a_bad_host_names_the_setting() {
        assert!(err(&[("LOCKSMITH_HOST", "not an ip")]).contains("LOCKSMITH_HOST"));
    }

    #[test]
    fn a_malformed_database_url_is_named_but_not_echoed() {
        let msg = err(&[("DATABASE_URL", "mysql://user:hunter2@db/x")]);
        assert!(msg.contains("DATABASE_URL"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = err(&[("DATABASE_URL", "not a url hunter2")]);
        assert!(
            msg.contains("DATABASE_URL") && !msg.contains("hunter2"),
            "{msg}"
        );
    }

    #[test]
    fn a_valid_database_url_turns_off_the_embedded_database() {
        let s = load(&[("DATABASE_URL", "postgres://u:p@localhost:5432/db")]).expect("loads");
        assert!(!s.uses_embedded_database());
        assert!(s.database.connect_options().is_some());
    }

    #[test]
    fn a_malformed_public_url_names_the_setting() {
        assert!(err(&[("LOCKSMITH_PUBLIC_URL", "ftp://x")]).contains("LOCKSMITH_PUBLIC_URL"));
        assert!(err(&[("LOCKSMITH_PUBLIC_URL", "::")]).contains("LOCKSMITH_PUBLIC_URL"));
    }

    #[test]
    fn an_unknown_profile_lists_the_allowed_ones() {
        let msg = err(&[("LOCKSMITH_PROFILE", "staging")]);
        assert!(
            msg.contains("LOCKSMITH_PROFILE") && msg.contains("production"),
            "{msg}"
        );
    }

    #[test]
    fn production_requires_every_secret() {
        let msg = err(&[
            ("LOCKSMITH_PROFILE", "production"),
            ("LOCKSMITH_COOKIE_SECURE", "true"),
        ]);
        assert!(msg.contains("LOCKSMITH_JWT_SECRET"), "{msg}");
        let msg = err(&[
            ("LOCKSMITH_PROFILE", "production"),
            ("LOCKSMITH_JWT_SECRET", SECRET),
            ("LOCKSMITH_SESSION_SECRET", SECRET),
        ]);
        assert!(msg.contains("LOCKSMITH_KEY_PEPPER"), "{msg}");
    }

    #[test]
    fn production_refuses_plain_http_cookies_unless_allowed() {
        let base = [
            ("LOCKSMITH_PROFILE", "production"),
            ("LOCKSMITH_JWT_SECRET", SECRET),
            ("LOCKSMITH_SESSION_SECRET", SECRET),
            ("LOCKSMITH_KEY_PEPPER", SECRET),
        ];
        let s = load(&base).expect("production with secrets loads");
        assert!(
            s.http.cookie_secure,
            "secure cookies are the production default"
        );
        let mut insecure = base.to_vec();
        insecure.push(("LOCKSMITH_COOKIE_SECURE", "false"));
        assert!(err(&insecure).contains("LOCKSMITH_COOKIE_SECURE"));
        insecure.push(("LOCKSMITH_ALLOW_INSECURE_COOKIES", "true"));
        assert!(
            !load(&insecure)
                .expect("explicitly allowed")
                .http
                .cookie_secure
        );
    }

    #[test]
    fn secrets_that_look_like_numbers_stay_strings() {
        let digits = "12345678901234567890123456789012";
        let s = load(&[
            ("LOCKSMITH_JWT_SECRET", digits),
            (
                "LOCKSMITH_SESSION_SECRET",
                "1234e5678901234567890123456789012",
            ),
        ])
        .expect("numeric-looking secrets load");
        match s.secrets.jwt_secret {
            SecretSource::Provided(v) => assert_eq!(v.expose_secret(), digits),
            SecretSource::Generate => panic!("expected the given secret"),
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(err(&[("LOCKSMITH_JWT_SECRET", "short")]).contains("LOCKSMITH_JWT_SECRET"));
    }

    #[test]
    fn secrets_are_read_from_files_without_the_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pepper");
        std::fs::write(&path, format!("{SECRET}\n")).expect("write");
        let s =
            load(&[("LOCKSMITH_KEY_PEPPER_FILE", path.to_str().expect("utf8"))]).expect("loads");
        match s.secrets.key_pepper {
            SecretSource::Provided(v) => assert_eq!(v.expose_secret(), SECRET),
            SecretSource::Generate => panic!("expected the file's secret"),
        }
    }

    #[test]
    fn a_secret_and_its_file_together_are_refused() {
        let msg = err(&[
            ("LOCKSMITH_JWT_SECRET", SECRET),
            ("LOCKSMITH_JWT_SECRET_FILE", "/x"),
        ]);
        assert!(msg.contains("LOCKSMITH_JWT_SECRET_FILE"), "{msg}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let s = load(&[("LOCKSMITH_JWT_SECRET", SECRET)]).expect("loads");
        assert!(!format!("{s:?}").contains(SECRET));
    }

    #[test]
    fn cors_origins_are_validated() {
        let s = load(&[(
            "LOCKSMITH_CORS_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:8080",
        )])
        .expect("loads");
        assert_eq!(
            s.http.cors_allowed_origins,
            ["https://a.example", "http://localhost:8080"]
        );
        assert!(
            err(&[("LOCKSMITH_CORS_ALLOWED_ORIGINS", "https://a.example/path")])
                .contains("LOCKSMITH_CORS_ALLOWED_ORIGINS")
        );
    }

    #[test]
    fn a_config_file_is_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("locksmith.toml");
        std::fs::write(&path, "port = 4000\nrequest_timeout_secs = 7\n").expect("write");
        let fig = figment(Some(&path)).expect("file exists");
        let s = Settings::from_figment(&fig).expect("loads");
        assert_eq!(s.listen.port(), 4000);
        assert_eq!(s.http.request_timeout, Duration::from_secs(7));
        let s = Settings::from_figment(&fig.merge(("port", 4001))).expect("loads");
        assert_eq!(s.listen.port(), 4001);
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let msg = figment(Some(Path::new("/nonexistent/locksmith.toml")))
            .expect_err("missing file")
            .to_string();
        assert!(msg.contains("LOCKSMITH_CONFIG"), "{msg}");
    }

    #[test]
    fn a_bad_log_filter_names_the_setting() {
        assert!(err(&[("LOCKSMITH_LOG", "info,[[[")]).contains("LOCKSMITH_LOG"));
    }
}
