//! The findings section: GitHub secret scanning's keys and the thresholds of unusual use.

use std::time::Duration;

use chrono::TimeDelta;
use locksmith_core::findings::AnomalyRules;
use locksmith_core::leaks::KeySource;

use super::raw::Raw;
use super::{ConfigError, FindingSettings};

impl Raw {
    pub(super) fn findings(&self) -> Result<FindingSettings, ConfigError> {
        let github_keys = match self.github_secret_scanning_keys.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(KeySource::parse(text)),
        };
        if !(1..=30).contains(&self.anomaly_baseline_days) {
            return Err(ConfigError::setting(
                "anomaly_baseline_days",
                "must be between 1 and 30",
            ));
        }
        if self.anomaly_baseline_days >= self.retention_hourly_usage_days {
            return Err(ConfigError::setting(
                "anomaly_baseline_days",
                "must be below LOCKSMITH_RETENTION_HOURLY_USAGE_DAYS (the baseline is read by the hour)",
            ));
        }
        if self.anomaly_established_hours == 0 {
            return Err(ConfigError::setting(
                "anomaly_established_hours",
                "must be at least 1",
            ));
        }
        if self.anomaly_many_networks < 2 {
            return Err(ConfigError::setting(
                "anomaly_many_networks",
                "must be at least 2",
            ));
        }
        if !(self.anomaly_factor.is_finite() && self.anomaly_factor >= 1.0) {
            return Err(ConfigError::setting(
                "anomaly_factor",
                "must be a number of at least 1",
            ));
        }
        if !(1..=100).contains(&self.anomaly_refusal_share_percent) {
            return Err(ConfigError::setting(
                "anomaly_refusal_share_percent",
                "must be between 1 and 100",
            ));
        }
        if !(1..=99).contains(&self.anomaly_late_grace_percent) {
            return Err(ConfigError::setting(
                "anomaly_late_grace_percent",
                "must be between 1 and 99",
            ));
        }
        Ok(FindingSettings {
            github_keys,
            every: (self.anomaly_every_secs > 0)
                .then(|| Duration::from_secs(self.anomaly_every_secs.max(10))),
            rules: AnomalyRules {
                baseline: TimeDelta::days(i64::from(self.anomaly_baseline_days)),
                established_hours: self.anomaly_established_hours as usize,
                many_networks: self.anomaly_many_networks as usize,
                spike_min_requests: i64::from(self.anomaly_spike_min_requests),
                factor: self.anomaly_factor,
                refusal_min: i64::from(self.anomaly_refusal_min),
                refusal_share: f64::from(self.anomaly_refusal_share_percent) / 100.0,
                late_grace_fraction: f64::from(self.anomaly_late_grace_percent) / 100.0,
            },
        })
    }
}
