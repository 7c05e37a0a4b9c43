//! The webhooks section: private destinations, when a failing endpoint is switched off,
//! how many attempts run at once.

use std::time::Duration;

use locksmith_core::lifecycle::DEFAULT_EXPIRY_REMINDERS;
use locksmith_core::webhooks::schedule::RetrySchedule;

use secrecy::ExposeSecret as _;

use super::raw::Raw;
use super::secrets::pick_secret;
use super::{ConfigError, Profile, WebhookSettings};

impl Raw {
    pub(super) fn webhooks(&mut self) -> Result<WebhookSettings, ConfigError> {
        if !(3600..=90 * 86_400).contains(&self.webhook_disable_after_secs) {
            return Err(ConfigError::setting(
                "webhook_disable_after_secs",
                "must be between 3600 (an hour) and 7776000 (90 days)",
            ));
        }
        if !(1..=256).contains(&self.webhook_concurrency) {
            return Err(ConfigError::setting(
                "webhook_concurrency",
                "must be between 1 and 256",
            ));
        }
        let retries = match self.webhook_retry_schedule.take() {
            None => RetrySchedule::default(),
            Some(text) => seconds_list(&text)
                .ok_or_else(|| "must be seconds separated by commas, e.g. 10,60,300".to_owned())
                .and_then(RetrySchedule::new)
                .map_err(|e| ConfigError::setting("webhook_retry_schedule", e))?,
        };
        let expiry_reminders = match self.key_expiry_reminders.take() {
            None => DEFAULT_EXPIRY_REMINDERS.to_vec(),
            Some(text) => seconds_list(&text)
                .filter(|list| {
                    list.len() <= 10 && list.iter().all(|d| (60..=366 * 86_400).contains(&d.as_secs()))
                })
                .ok_or_else(|| {
                    ConfigError::setting(
                        "key_expiry_reminders",
                        "must be up to 10 numbers of seconds (60 to 31622400) separated by commas, e.g. 604800,86400",
                    )
                })?,
        };
        let smtp_url = pick_secret(
            "smtp_url",
            self.smtp_url.take(),
            self.smtp_url_file.as_deref(),
        )?;
        if let Some(url) = &smtp_url {
            let scheme = url::Url::parse(url.expose_secret()).map(|u| u.scheme().to_owned());
            if !matches!(scheme.as_deref(), Ok("smtp" | "smtps")) {
                return Err(ConfigError::setting(
                    "smtp_url",
                    "must be an smtp:// or smtps:// URL",
                ));
            }
        }
        if !locksmith_core::notify::is_sender(&self.smtp_from) {
            return Err(ConfigError::setting(
                "smtp_from",
                "must be an address such as Locksmith <locksmith@example.com>",
            ));
        }
        Ok(WebhookSettings {
            smtp_url,
            smtp_from: std::mem::take(&mut self.smtp_from),
            expiry_reminders,
            retries,
            allow_private: self.webhook_allow_private,
            disable_after: Duration::from_secs(self.webhook_disable_after_secs),
            concurrency: self.webhook_concurrency,
            require_https: self.profile == Profile::Production,
        })
    }
}

/// `10,60,300` as durations in seconds; `None` when a part is not a number.
fn seconds_list(text: &str) -> Option<Vec<Duration>> {
    text.split(',')
        .map(|s| s.trim().parse::<u64>().ok().map(Duration::from_secs))
        .collect()
}
