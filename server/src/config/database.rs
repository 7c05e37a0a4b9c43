//! The database section: `DATABASE_URL` (or the embedded cluster) and the pool.

use std::str::FromStr;
use std::time::Duration;

use locksmith_core::db::PoolSettings;
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;
use url::Url;

use super::raw::Raw;
use super::secrets::pick_secret;
use super::{ConfigError, DatabaseSettings};

impl Raw {
    pub(super) fn database(&mut self) -> Result<DatabaseSettings, ConfigError> {
        let url = pick_secret(
            "database_url",
            self.database_url.take(),
            self.database_url_file.as_deref(),
        )?;
        if let Some(url) = &url {
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
        Ok(DatabaseSettings {
            url,
            pool: PoolSettings {
                max_connections: self.db_max_connections,
                min_connections: self.db_min_connections,
                acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
                idle_timeout: Duration::from_secs(self.db_idle_timeout_secs),
            },
            startup_timeout: Duration::from_secs(self.db_startup_timeout_secs),
        })
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
