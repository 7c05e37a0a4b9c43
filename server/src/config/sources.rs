//! Where values come from: the defaults, then an optional TOML file, then the
//! environment; and figment's errors turned into ones that name the setting.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::ConfigError;
use super::raw::Raw;

pub(super) fn figment(config_file: Option<&Path>) -> Result<Figment, ConfigError> {
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

pub(super) fn process_env() -> Figment {
    Figment::new()
        .merge(Env::prefixed("LOCKSMITH_").ignore(&["config"]))
        .merge(Env::raw().only(&["database_url", "database_url_file"]))
}

/// Environment values are strings; give figment the same typed value it would parse.
pub(super) fn parse_scalar(value: &str) -> figment::value::Value {
    use figment::value::Value;
    value
        .parse::<Value>()
        .unwrap_or_else(|_| Value::from(value.to_owned()))
}

pub(super) fn figment_error(err: &figment::Error) -> ConfigError {
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
