//! The secrets section: each secret given directly or through `<NAME>_FILE` (never both),
//! long enough, and required in production.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::raw::Raw;
use super::{ConfigError, Profile, SecretSettings, SecretSource, env_name};

/// Shortest accepted secret, in bytes: 256 bits.
pub const MIN_SECRET_LEN: usize = 32;

impl Raw {
    pub(super) fn secrets(&mut self) -> Result<SecretSettings, ConfigError> {
        let production = self.profile == Profile::Production;
        Ok(SecretSettings {
            jwt_secret: secret_source(
                production,
                "jwt_secret",
                self.jwt_secret.take(),
                self.jwt_secret_file.as_deref(),
            )?,
            session_secret: secret_source(
                production,
                "session_secret",
                self.session_secret.take(),
                self.session_secret_file.as_deref(),
            )?,
            key_pepper: secret_source(
                production,
                "key_pepper",
                self.key_pepper.take(),
                self.key_pepper_file.as_deref(),
            )?,
        })
    }

    pub(super) fn metrics_token(&mut self) -> Result<Option<SecretString>, ConfigError> {
        let token = pick_secret(
            "metrics_token",
            self.metrics_token.take(),
            self.metrics_token_file.as_deref(),
        )?;
        if let Some(token) = &token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError::setting(
                "metrics_token",
                "must be at least 16 characters",
            ));
        }
        Ok(token)
    }
}

/// A value given directly or through `<NAME>_FILE`, never both.
pub(super) fn pick_secret(
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
