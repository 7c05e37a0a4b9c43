//! Where values come from: the defaults, then an optional TOML file, then the
//! environment; and figment's errors turned into ones that name the setting.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider as _};

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
        let file = Toml::file_exact(path);
        refuse_unknown_file_keys(path, &file)?;
        fig = fig.merge(file);
    }
    Ok(fig)
}

/// `LOCKSMITH_*` names that are not settings of the server: the shell variables the
/// portal's examples use, and those of the test, benchmark and fuzzing scripts.
const NOT_SETTINGS: [&str; 5] = [
    "LOCKSMITH_CONFIG",
    "LOCKSMITH_API_KEY",
    "LOCKSMITH_VERIFIER_TOKEN",
    "LOCKSMITH_UPDATE_OPENAPI",
    // Where a service finds Locksmith (the locksmith-client examples).
    "LOCKSMITH_URL",
];
const NOT_SETTINGS_PREFIXES: [&str; 5] = [
    "LOCKSMITH_TEST_",
    "LOCKSMITH_E2E_",
    "LOCKSMITH_FUZZ_",
    "LOCKSMITH_BENCH_",
    "LOCKSMITH_SMTPD_",
];

/// Every setting's name as the file spells it (`port`, `database_url`, ...).
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Raw::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The known name nearest to a misspelt one, if any is near enough to be what was meant.
fn nearest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// A misspelt setting stops start-up rather than being silently ignored.
pub(super) fn refuse_unknown_env<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), ConfigError> {
    let known = setting_names();
    for name in names {
        let Some(rest) = name.strip_prefix("LOCKSMITH_") else {
            continue;
        };
        if NOT_SETTINGS.contains(&name) || NOT_SETTINGS_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        let key = rest.to_lowercase();
        if known.contains(&key) {
            continue;
        }
        let hint = nearest(&key, &known).map_or_else(
            || " (.env.example lists every setting)".to_owned(),
            |k| format!("; did you mean {}?", super::env_name(k)),
        );
        return Err(ConfigError(format!("{name} is not a setting{hint}")));
    }
    Ok(())
}

fn refuse_unknown_file_keys(
    path: &Path,
    file: &figment::providers::Data<Toml>,
) -> Result<(), ConfigError> {
    let known = setting_names();
    let data = file
        .data()
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    for key in data.values().flat_map(|dict| dict.keys()) {
        if known.contains(key) {
            continue;
        }
        let hint = nearest(key, &known).map_or_else(
            || " (.env.example lists every setting)".to_owned(),
            |k| format!("; did you mean `{k}`?"),
        );
        return Err(ConfigError(format!(
            "{}: `{key}` is not a setting{hint}",
            path.display()
        )));
    }
    Ok(())
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
