//! The settings as read from the file and the environment, with their defaults, before
//! validation; [`Raw::validate`] turns them into [`Settings`], section by section.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, LogFormat, Profile, Settings};
use crate::http::client_address::ForwardedHeader;

/// The raw shape read from the file and the environment, before validation.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Raw {
    pub(super) profile: Profile,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) public_url: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) database_url_file: Option<PathBuf>,
    pub(super) db_max_connections: u32,
    pub(super) db_min_connections: u32,
    pub(super) db_acquire_timeout_secs: u64,
    pub(super) db_idle_timeout_secs: u64,
    pub(super) db_startup_timeout_secs: u64,
    pub(super) data_dir: PathBuf,
    pub(super) site_root: Option<PathBuf>,
    pub(super) log_format: LogFormat,
    pub(super) log: String,
    pub(super) request_timeout_secs: u64,
    pub(super) cors_allowed_origins: Option<String>,
    pub(super) trusted_proxies: Option<String>,
    pub(super) forwarded_header: ForwardedHeader,
    pub(super) cookie_secure: Option<bool>,
    pub(super) allow_insecure_cookies: bool,
    pub(super) jwt_secret: Option<String>,
    pub(super) jwt_secret_file: Option<PathBuf>,
    pub(super) session_secret: Option<String>,
    pub(super) session_secret_file: Option<PathBuf>,
    pub(super) key_pepper: Option<String>,
    pub(super) key_pepper_file: Option<PathBuf>,
    pub(super) api_rate_limit_per_minute: u32,
    pub(super) api_rate_limit_burst: u32,
    pub(super) auth_rate_limit_per_minute: u32,
    pub(super) auth_rate_limit_burst: u32,
    pub(super) lockout_failures: u32,
    pub(super) lockout_account_failures: u32,
    pub(super) lockout_address_failures: u32,
    pub(super) lockout_window_secs: u64,
    pub(super) lockout_secs: u64,
    pub(super) password_checks_concurrent: usize,
    pub(super) password_checks_queue: Option<usize>,
    pub(super) refresh_token_ttl_secs: u64,
    pub(super) refresh_family_ttl_secs: u64,
    pub(super) metrics_token: Option<String>,
    pub(super) metrics_token_file: Option<PathBuf>,
    pub(super) verify_degraded_secs: u64,
    pub(super) verify_unknown_keys_per_minute: u32,
    pub(super) verify_unknown_keys_burst: u32,
    pub(super) verification_log_per_key: usize,
    pub(super) redis_url: Option<String>,
    pub(super) redis_url_file: Option<PathBuf>,
    pub(super) webhook_allow_private: bool,
    pub(super) webhook_disable_after_secs: u64,
    pub(super) webhook_concurrency: usize,
    pub(super) webhook_retry_schedule: Option<String>,
    pub(super) key_expiry_reminders: Option<String>,
    pub(super) smtp_url: Option<String>,
    pub(super) smtp_url_file: Option<PathBuf>,
    pub(super) smtp_from: String,
    pub(super) retention_hourly_usage_days: u32,
    pub(super) retention_daily_usage_days: u32,
    pub(super) retention_history_days: u32,
    pub(super) retention_dead_keys_days: Option<u32>,
    pub(super) otel_endpoint: Option<String>,
    pub(super) otel_service_name: String,
    pub(super) github_secret_scanning_keys: Option<String>,
    pub(super) anomaly_every_secs: u64,
    pub(super) anomaly_baseline_days: u32,
    pub(super) anomaly_established_hours: u32,
    pub(super) anomaly_many_networks: u32,
    pub(super) anomaly_factor: f64,
    pub(super) anomaly_spike_min_requests: u32,
    pub(super) anomaly_refusal_min: u32,
    pub(super) anomaly_refusal_share_percent: u32,
    pub(super) anomaly_late_grace_percent: u32,
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
            trusted_proxies: None,
            forwarded_header: ForwardedHeader::XForwardedFor,
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
            webhook_allow_private: false,
            webhook_disable_after_secs: 5 * 86_400,
            webhook_concurrency: 16,
            webhook_retry_schedule: None,
            key_expiry_reminders: None,
            smtp_url: None,
            smtp_url_file: None,
            smtp_from: "Locksmith <locksmith@localhost>".into(),
            retention_hourly_usage_days: 92,
            retention_daily_usage_days: 730,
            retention_history_days: 90,
            retention_dead_keys_days: None,
            otel_endpoint: None,
            otel_service_name: "locksmith".into(),
            github_secret_scanning_keys: None,
            anomaly_every_secs: 300,
            anomaly_baseline_days: 7,
            anomaly_established_hours: 24,
            anomaly_many_networks: 20,
            anomaly_factor: 4.0,
            anomaly_spike_min_requests: 100,
            anomaly_refusal_min: 50,
            anomaly_refusal_share_percent: 50,
            anomaly_late_grace_percent: 75,
        }
    }
}

impl Raw {
    /// Every section checked, each error naming its setting.
    pub(super) fn validate(mut self) -> Result<Settings, ConfigError> {
        let limits = self.limits()?;
        let refresh = self.refresh()?;
        let listen = SocketAddr::new(self.host()?, self.port);
        let public_url = self.public_url()?;
        let database = self.database()?;
        let http = self.http()?;
        let secrets = self.secrets()?;
        let metrics_token = self.metrics_token()?;
        let verify = self.verify()?;
        let webhooks = self.webhooks()?;
        let retention = self.retention()?;
        let telemetry = self.telemetry()?;
        let findings = self.findings()?;
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| ConfigError::setting("log", format!("not a valid filter ({e})")))?;
        let site_root = self
            .site_root
            .or_else(|| std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/site"));
        Ok(Settings {
            profile: self.profile,
            listen,
            public_url,
            database,
            data_dir: self.data_dir,
            site_root,
            log_format: self.log_format,
            log_filter: self.log,
            http,
            secrets,
            limits,
            verify,
            webhooks,
            retention,
            telemetry,
            findings,
            refresh,
            metrics_token,
        })
    }
}
