//! The detector: every few minutes, one instance at a time (an advisory lock), judges
//! the current and the previous hour of every key used lately ([`super::detect`]) and
//! the old keys of rotations, and records what it finds ([`super::record`]): a
//! `key.anomaly` event each, and the keyspace's policy applied to high-severity ones.
//! It reads only what the usage batches already wrote: the hot path pays nothing.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::detect::AnomalyRules;
use super::history_store;
use super::model::{AnomalyAction, FindingKind, NewFinding, Severity};
use super::record::{self, Recording};
use crate::audit::{Action, Origin};
use crate::error::Result;
use crate::events::Event;
use crate::keys::service::contain::Containment;
use crate::usage::buffer::hour_of;

/// Most keys judged in one evaluation (those used lately, in id order).
pub const MAX_KEYS_PER_EVALUATION: i64 = 20_000;

/// What one evaluation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Keys judged.
    pub keys: usize,
    /// New findings, by kind (a finding made before is not counted again).
    pub found: Vec<(FindingKind, Severity)>,
}

/// Finds unusual use.
#[derive(Debug, Clone)]
pub struct Detector {
    pool: PgPool,
    rules: AnomalyRules,
}

impl Detector {
    /// A detector over `pool` judging by `rules`.
    pub fn new(pool: PgPool, rules: AnomalyRules) -> Self {
        Self { pool, rules }
    }

    /// Judges the keys as of `now` and records the findings; `None` when another
    /// instance is evaluating.
    #[tracing::instrument(name = "anomaly.evaluate", skip_all, fields(db.system = "postgresql"))]
    pub async fn evaluate(&self, now: DateTime<Utc>) -> Result<Option<Evaluation>> {
        let rules = self.rules;
        let mut tx = self.pool.begin().await?;
        if !history_store::try_lock(&mut tx).await? {
            return Ok(None);
        }
        let current = hour_of(now);
        let previous = current - TimeDelta::hours(1);
        let candidates = history_store::recent(
            &mut tx,
            previous,
            previous - rules.baseline,
            now,
            MAX_KEYS_PER_EVALUATION,
        )
        .await?;
        let mut evaluation = Evaluation {
            keys: candidates.len(),
            ..Evaluation::default()
        };
        let mut findings: Vec<(NewFinding, AnomalyAction)> = Vec::new();
        for candidate in &candidates {
            for hour in [previous, current] {
                findings.extend(
                    candidate
                        .history
                        .judge(hour, &rules)
                        .into_iter()
                        .map(|f| (f, candidate.policy)),
                );
            }
        }
        for (grace, policy) in history_store::graces(&mut tx, now).await? {
            let uses =
                history_store::valid_since(&mut tx, grace.key_id, grace.late(&rules)).await?;
            if let Some(finding) = grace.judge(now, &rules, uses) {
                findings.push((finding, policy));
            }
        }
        let origin = Origin::default();
        for (finding, policy) in findings {
            let containment = match (policy, finding.severity) {
                (AnomalyAction::Disable, Severity::High) => Containment::Disable,
                _ => Containment::Nothing,
            };
            let (kind, severity) = (finding.kind, finding.severity);
            let (window_start, window_end) = (finding.window_start, finding.window_end);
            let evidence = finding.evidence.clone();
            let recorded = record::record(
                &mut tx,
                Recording {
                    finding,
                    containment,
                    reason: "unusual use",
                    action: Action::KeyAnomaly,
                    details: serde_json::json!({}),
                },
                &origin,
                now,
                |key, finding_id, action| Event::KeyAnomaly {
                    key,
                    finding_id,
                    kind,
                    severity,
                    window_start,
                    window_end,
                    evidence,
                    action,
                },
            )
            .await?;
            if recorded.is_some() {
                metrics::counter!("anomaly_findings_total", "kind" => kind.as_str()).increment(1);
                evaluation.found.push((kind, severity));
            }
        }
        tx.commit().await?;
        Ok(Some(evaluation))
    }

    /// Evaluates every `every` until `stop` fires.
    pub async fn run(self, every: Duration, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = &mut stop => return,
            }
            match self.evaluate(Utc::now()).await {
                Ok(Some(evaluation)) => {
                    if failing {
                        failing = false;
                        tracing::info!("unusual-use detection resumed");
                    }
                    if !evaluation.found.is_empty() {
                        tracing::info!(
                            keys = evaluation.keys,
                            findings = evaluation.found.len(),
                            "unusual use found"
                        );
                    }
                }
                Ok(None) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "cannot look for unusual use; retrying at the next evaluation");
                }
                Err(_) => {}
            }
        }
    }
}
