//! The rules of unusual use, as pure functions of one key's recent hours: what the
//! detector reads from `key_usage` and `key_networks` goes in, findings come out.
//!
//! Every rule judges one hour of the key against the hours before it (its baseline, at
//! most [`AnomalyRules::baseline`] back and never before the key existed), with robust
//! statistics: the median, the median absolute deviation and the 95th percentile, which
//! a few odd hours in the baseline do not move. Quiet keys stay quiet: each rule needs a
//! minimum volume before it says anything.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use super::model::{FindingKind, NewFinding, Severity};

/// The thresholds of the rules (settings `LOCKSMITH_ANOMALY_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyRules {
    /// How far back a key's baseline reaches (default 7 days).
    pub baseline: TimeDelta,
    /// Hours of traffic a key needs in its baseline before a new network or a spike
    /// counts as unusual (default 24).
    pub established_hours: usize,
    /// Distinct networks in one hour that are "many" (default 20), when also at least
    /// `factor` times the key's usual number.
    pub many_networks: usize,
    /// Requests in one hour below which no spike is reported (default 100).
    pub spike_min_requests: i64,
    /// How many times its usual busiest hours (95th percentile) an hour must be to be a
    /// spike, and how many times its usual count of networks to be "many" (default 4).
    pub factor: f64,
    /// Refusals in one hour below which no surge is reported (default 50).
    pub refusal_min: i64,
    /// The share of an hour's verifications that must be refused for a surge (default
    /// 0.5).
    pub refusal_share: f64,
    /// How far into a rotation's grace the old key's use is late (default 0.75).
    pub late_grace_fraction: f64,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        Self {
            baseline: TimeDelta::days(7),
            established_hours: 24,
            many_networks: 20,
            spike_min_requests: 100,
            factor: 4.0,
            refusal_min: 50,
            refusal_share: 0.5,
            late_grace_fraction: 0.75,
        }
    }
}

/// Standard deviations in one median absolute deviation of a normal distribution.
const MAD_SCALE: f64 = 1.4826;
/// Scaled deviations above the median an hour must also be to be a spike.
const SPIKE_DEVIATIONS: f64 = 6.0;
/// A spike this many times the usual busiest hours is of high severity.
const SPIKE_HIGH: f64 = 20.0;
/// At most this many new networks are reported of one key in one evaluation (beyond,
/// "many networks" speaks).
const NEW_NETWORKS_PER_EVALUATION: usize = 5;
/// Networks named in the evidence of a finding.
const SAMPLE: usize = 20;

/// One hour of a key's verifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourCounts {
    /// Every verification, whatever the answer.
    pub total: i64,
    /// `FORBIDDEN_IP` and `INSUFFICIENT_SCOPES`.
    pub forbidden: i64,
    /// `RATE_LIMITED`.
    pub rate_limited: i64,
}

/// What the detector knows of one key's recent hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyHistory {
    pub key_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Counts by hour (hours without traffic are absent).
    pub usage: BTreeMap<DateTime<Utc>, HourCounts>,
    /// Requests by hour and network (`203.0.113.0/24`).
    pub networks: BTreeMap<DateTime<Utc>, BTreeMap<String, i64>>,
}

/// The `q` quantile of `values` (nearest rank; 0 for none).
fn quantile(values: &[i64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64
}

/// Median and median absolute deviation.
fn median_mad(values: &[i64]) -> (f64, f64) {
    let median = quantile(values, 0.5);
    let deviations: Vec<i64> = values
        .iter()
        .map(|v| (*v as f64 - median).abs().round() as i64)
        .collect();
    (median, quantile(&deviations, 0.5))
}

impl KeyHistory {
    /// The baseline hours of `hour`: from `rules.baseline` before it (never before the
    /// key's creation hour) up to the hour before it.
    fn baseline_hours(&self, hour: DateTime<Utc>, rules: &AnomalyRules) -> Vec<DateTime<Utc>> {
        let created = crate::usage::buffer::hour_of(self.created_at);
        let mut at = (hour - rules.baseline).max(created);
        let mut hours = Vec::new();
        while at < hour {
            hours.push(at);
            at += TimeDelta::hours(1);
        }
        hours
    }

    fn counts(&self, hours: &[DateTime<Utc>], of: impl Fn(&HourCounts) -> i64) -> Vec<i64> {
        hours
            .iter()
            .map(|h| self.usage.get(h).map_or(0, &of))
            .collect()
    }

    /// The findings of the hour starting at `hour`, judged against the hours before it.
    pub fn judge(&self, hour: DateTime<Utc>, rules: &AnomalyRules) -> Vec<NewFinding> {
        let baseline = self.baseline_hours(hour, rules);
        let window_end = hour + TimeDelta::hours(1);
        let finding = |kind: FindingKind, severity, evidence, dedupe: String| NewFinding {
            key_id: self.key_id,
            kind,
            severity,
            window_start: hour,
            window_end,
            evidence,
            dedupe,
        };
        let hour_key = hour.to_rfc3339();
        let now = self.usage.get(&hour).copied().unwrap_or_default();
        let mut found = Vec::new();

        // A volume spike: far above the key's own busiest hours, and far from its median.
        let established = self
            .usage
            .range(baseline.first().copied().unwrap_or(hour)..hour)
            .count()
            >= rules.established_hours;
        if established && now.total >= rules.spike_min_requests {
            let totals = self.counts(&baseline, |c| c.total);
            let p95 = quantile(&totals, 0.95);
            let (median, mad) = median_mad(&totals);
            let threshold = (rules.factor * p95.max(1.0))
                .max(median + SPIKE_DEVIATIONS * (MAD_SCALE * mad).max(median.sqrt()));
            if now.total as f64 >= threshold {
                let severity = if now.total as f64 >= SPIKE_HIGH * p95.max(1.0) {
                    Severity::High
                } else {
                    Severity::Medium
                };
                found.push(finding(
                    FindingKind::VolumeSpike,
                    severity,
                    json!({
                        "requests": now.total,
                        "baseline_p95": p95,
                        "baseline_median": median,
                        "baseline_hours": baseline.len(),
                        "threshold": threshold.ceil(),
                    }),
                    hour_key.clone(),
                ));
            }
        }

        // A surge of refusals: most of the hour refused, far above what the key usually
        // gets refused.
        let refused = now.forbidden + now.rate_limited;
        if refused >= rules.refusal_min && refused as f64 >= rules.refusal_share * now.total as f64
        {
            let usual = quantile(
                &self.counts(&baseline, |c| c.forbidden + c.rate_limited),
                0.95,
            );
            let threshold = (rules.refusal_min as f64).max(rules.factor * usual);
            if refused as f64 >= threshold {
                found.push(finding(
                    FindingKind::RefusalSurge,
                    Severity::Medium,
                    json!({
                        "refused": refused,
                        "forbidden": now.forbidden,
                        "rate_limited": now.rate_limited,
                        "requests": now.total,
                        "baseline_p95": usual,
                        "threshold": threshold.ceil(),
                    }),
                    hour_key.clone(),
                ));
            }
        }

        // Networks: many at once, or one never seen before.
        let Some(networks) = self.networks.get(&hour) else {
            return found;
        };
        let past: Vec<&BTreeMap<String, i64>> = self
            .networks
            .range(baseline.first().copied().unwrap_or(hour)..hour)
            .map(|(_, n)| n)
            .collect();
        let per_hour: Vec<i64> = past.iter().map(|n| n.len() as i64).collect();
        let usual = quantile(&per_hour, 0.95);
        let many = (rules.many_networks as f64).max(rules.factor * usual.max(1.0));
        let mut busiest: Vec<(&String, &i64)> = networks.iter().collect();
        busiest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if networks.len() as f64 >= many {
            found.push(finding(
                FindingKind::ManyNetworks,
                Severity::High,
                json!({
                    "networks": networks.len(),
                    "requests": networks.values().sum::<i64>(),
                    "busiest": busiest.iter().take(SAMPLE).map(|(n, r)| json!({"network": n, "requests": r})).collect::<Vec<_>>(),
                    "baseline_p95": usual,
                    "threshold": many.ceil(),
                }),
                hour_key,
            ));
            return found;
        }
        if past.len() >= rules.established_hours {
            let known: BTreeSet<&String> = past.iter().flat_map(|n| n.keys()).collect();
            for (network, requests) in busiest
                .iter()
                .filter(|(n, _)| !known.contains(n))
                .take(NEW_NETWORKS_PER_EVALUATION)
            {
                found.push(finding(
                    FindingKind::NewNetwork,
                    Severity::Low,
                    json!({
                        "network": network,
                        "requests": requests,
                        "known_networks": known.len(),
                        "known_sample": known.iter().take(SAMPLE).collect::<Vec<_>>(),
                    }),
                    (*network).clone(),
                ));
            }
        }
        found
    }
}

/// An old key of a rotation, as the late-use rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraceUse {
    pub key_id: Uuid,
    pub new_key_id: Uuid,
    /// When the rotation happened (the new key's creation).
    pub rotated_at: DateTime<Utc>,
    pub grace_ends_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
}

impl GraceUse {
    /// From when on a use of the old key is late.
    pub fn late(&self, rules: &AnomalyRules) -> DateTime<Utc> {
        let grace = self.grace_ends_at - self.rotated_at;
        let late_ms = (grace.num_milliseconds() as f64 * rules.late_grace_fraction) as i64;
        self.rotated_at + TimeDelta::milliseconds(late_ms)
    }

    /// A finding when the old key was used late in its grace (at or after `fraction` of
    /// it), once per grace end.
    pub fn judge(
        &self,
        now: DateTime<Utc>,
        rules: &AnomalyRules,
        uses_late: i64,
    ) -> Option<NewFinding> {
        let late = self.late(rules);
        if now < late || self.last_used_at < late || now >= self.grace_ends_at {
            return None;
        }
        Some(NewFinding {
            key_id: self.key_id,
            kind: FindingKind::LateRotationUse,
            severity: Severity::Medium,
            window_start: late,
            window_end: self.grace_ends_at,
            evidence: json!({
                "new_key_id": self.new_key_id,
                "rotated_at": self.rotated_at,
                "grace_ends_at": self.grace_ends_at,
                "last_used_at": self.last_used_at,
                "uses_late": uses_late,
            }),
            dedupe: self.grace_ends_at.to_rfc3339(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 / 3600 * 3600 + n * 3600, 0).expect("time")
    }

    fn steady(hours: i64, per_hour: i64) -> KeyHistory {
        let mut h = KeyHistory {
            key_id: Uuid::nil(),
            created_at: hour(0),
            ..KeyHistory::default()
        };
        for n in 0..hours {
            // Some noise, the same every run.
            let noise = (n * 37 % 11) - 5;
            h.usage.insert(
                hour(n),
                HourCounts {
                    total: per_hour + noise * per_hour / 20,
                    ..HourCounts::default()
                },
            );
            h.networks.insert(
                hour(n),
                BTreeMap::from([("203.0.113.0/24".to_owned(), per_hour)]),
            );
        }
        h
    }

    #[test]
    fn steady_traffic_is_not_unusual() {
        let h = steady(24 * 8, 500);
        let rules = AnomalyRules::default();
        for n in 24 * 7..24 * 8 {
            assert!(h.judge(hour(n), &rules).is_empty(), "hour {n}");
        }
    }

    #[test]
    fn a_spike_is_found_and_a_young_key_is_not_judged() {
        let mut h = steady(24 * 7, 500);
        h.usage.insert(
            hour(24 * 7),
            HourCounts {
                total: 5000,
                ..HourCounts::default()
            },
        );
        let found = h.judge(hour(24 * 7), &AnomalyRules::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, FindingKind::VolumeSpike);
        assert_eq!(found[0].severity, Severity::Medium);
        assert_eq!(found[0].evidence["requests"], 5000);
        let young = KeyHistory {
            created_at: hour(24 * 7 - 3),
            ..h
        };
        assert!(
            young
                .judge(hour(24 * 7), &AnomalyRules::default())
                .is_empty()
        );
    }

    #[test]
    fn a_quiet_key_does_not_alarm() {
        let mut h = steady(24 * 7, 2);
        h.usage.insert(
            hour(24 * 7),
            HourCounts {
                total: 60,
                ..HourCounts::default()
            },
        );
        assert!(h.judge(hour(24 * 7), &AnomalyRules::default()).is_empty());
    }

    #[test]
    fn new_and_many_networks() {
        let mut h = steady(24 * 7, 100);
        h.networks.insert(
            hour(24 * 7),
            BTreeMap::from([
                ("203.0.113.0/24".to_owned(), 90),
                ("198.51.100.0/24".to_owned(), 10),
            ]),
        );
        let found = h.judge(hour(24 * 7), &AnomalyRules::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, FindingKind::NewNetwork);
        assert_eq!(found[0].dedupe, "198.51.100.0/24");
        let many: BTreeMap<String, i64> = (0..30).map(|i| (format!("10.0.{i}.0/24"), 3)).collect();
        h.networks.insert(hour(24 * 7), many);
        let found = h.judge(hour(24 * 7), &AnomalyRules::default());
        assert_eq!(found.len(), 1, "many networks, not 30 new ones");
        assert_eq!(found[0].kind, FindingKind::ManyNetworks);
        assert_eq!(found[0].severity, Severity::High);
        assert_eq!(found[0].evidence["networks"], 30);
    }

    #[test]
    fn refusals_surge() {
        let mut h = steady(24 * 7, 100);
        h.usage.insert(
            hour(24 * 7),
            HourCounts {
                total: 400,
                forbidden: 250,
                rate_limited: 50,
            },
        );
        let found = h.judge(hour(24 * 7), &AnomalyRules::default());
        let kinds: Vec<_> = found.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&FindingKind::RefusalSurge), "{kinds:?}");
        let surge = found
            .iter()
            .find(|f| f.kind == FindingKind::RefusalSurge)
            .expect("surge");
        assert_eq!(surge.evidence["refused"], 300);
    }

    #[test]
    fn late_use_in_a_grace() {
        let rotated = hour(0);
        let grace = GraceUse {
            key_id: Uuid::nil(),
            new_key_id: Uuid::nil(),
            rotated_at: rotated,
            grace_ends_at: rotated + TimeDelta::hours(24),
            last_used_at: rotated + TimeDelta::hours(20),
        };
        let rules = AnomalyRules::default();
        assert!(
            grace
                .judge(rotated + TimeDelta::hours(21), &rules, 3)
                .is_some()
        );
        let early = GraceUse {
            last_used_at: rotated + TimeDelta::hours(10),
            ..grace.clone()
        };
        assert!(
            early
                .judge(rotated + TimeDelta::hours(21), &rules, 3)
                .is_none()
        );
        assert!(
            grace
                .judge(rotated + TimeDelta::hours(25), &rules, 3)
                .is_none(),
            "grace over"
        );
    }
}
