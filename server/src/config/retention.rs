//! The retention section: how long usage, history and dead keys are kept.

use std::time::Duration;

use locksmith_core::retention::RetentionPolicy;

use super::ConfigError;
use super::raw::Raw;

const DAY: u64 = 86_400;

impl Raw {
    pub(super) fn retention(&self) -> Result<RetentionPolicy, ConfigError> {
        if self.retention_hourly_usage_days < 2 {
            return Err(ConfigError::setting(
                "retention_hourly_usage_days",
                "must be at least 2 (the dashboards chart the last day by the hour)",
            ));
        }
        if self.retention_daily_usage_days < self.retention_hourly_usage_days {
            return Err(ConfigError::setting(
                "retention_daily_usage_days",
                "must be at least LOCKSMITH_RETENTION_HOURLY_USAGE_DAYS",
            ));
        }
        if self.retention_history_days == 0 {
            return Err(ConfigError::setting(
                "retention_history_days",
                "must be at least 1",
            ));
        }
        if self.retention_dead_keys_days == Some(0) {
            return Err(ConfigError::setting(
                "retention_dead_keys_days",
                "must be at least 1 (leave it unset to keep dead keys)",
            ));
        }
        Ok(RetentionPolicy {
            hourly_usage: Duration::from_secs(u64::from(self.retention_hourly_usage_days) * DAY),
            daily_usage: Duration::from_secs(u64::from(self.retention_daily_usage_days) * DAY),
            history: Duration::from_secs(u64::from(self.retention_history_days) * DAY),
            dead_keys: self
                .retention_dead_keys_days
                .map(|days| Duration::from_secs(u64::from(days) * DAY)),
        })
    }
}
