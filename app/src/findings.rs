//! Findings on keys in the portal (leaks, unusual use): the row DTO shown on a key's
//! page and on the overview's "Needs attention", and acknowledging one.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A finding as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub id: String,
    pub key_id: String,
    pub key_name: String,
    pub key_start: String,
    /// `leaked`, `new_network`, …
    pub kind: String,
    /// The kind in words.
    pub title: String,
    /// `low`, `medium`, `high`.
    pub severity: String,
    /// The evidence in words.
    pub summary: String,
    /// What the keyspace's policy did: `none`, `disabled`, `revoked`.
    pub action: String,
    pub window_start: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// Acknowledges a finding (admins, and the key's owner).
#[server(prefix = "/api", endpoint = "acknowledge_finding")]
pub async fn acknowledge_finding(id: String) -> Result<FindingRow, AppError> {
    server::acknowledge(id).await.map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
pub(crate) mod server {
    use locksmith_core::findings::{Finding, FindingFilter, FindingKind, FindingService};
    use locksmith_core::keys::Actor;
    use serde_json::Value;

    use super::FindingRow;
    use crate::auth::server::{origin, service as provided, session_user};
    use crate::error::AppError;
    use crate::form::id;

    fn title(kind: FindingKind) -> &'static str {
        match kind {
            FindingKind::Leaked => "Reported as leaked",
            FindingKind::NewNetwork => "Used from a new network",
            FindingKind::ManyNetworks => "Used from many networks",
            FindingKind::VolumeSpike => "Traffic spike",
            FindingKind::RefusalSurge => "Surge of refusals",
            FindingKind::LateRotationUse => "Old key still used late in its grace",
        }
    }

    fn text(v: &Value, field: &str) -> String {
        match &v[field] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => "?".to_owned(),
            other => other.to_string(),
        }
    }

    /// The evidence in words (never a link: a reported URL is shown as text).
    fn summary(kind: FindingKind, e: &Value) -> String {
        match kind {
            FindingKind::Leaked => format!(
                "Reported by {}{}{}",
                text(e, "reported_by"),
                e["url"]
                    .as_str()
                    .map_or_else(String::new, |u| format!(", found at {u}")),
                e["source"]
                    .as_str()
                    .map_or_else(String::new, |s| format!(" ({s})"))
            ),
            FindingKind::NewNetwork => format!(
                "First use from {} ({} verifications); {} networks known before",
                text(e, "network"),
                text(e, "requests"),
                text(e, "known_networks")
            ),
            FindingKind::ManyNetworks => format!(
                "{} networks within one hour ({} verifications); usually at most {}",
                text(e, "networks"),
                text(e, "requests"),
                text(e, "baseline_p95")
            ),
            FindingKind::VolumeSpike => format!(
                "{} verifications within one hour; its busiest hours usually see {}",
                text(e, "requests"),
                text(e, "baseline_p95")
            ),
            FindingKind::RefusalSurge => format!(
                "{} of {} verifications refused within one hour ({} forbidden IP or scopes, {} rate-limited)",
                text(e, "refused"),
                text(e, "requests"),
                text(e, "forbidden"),
                text(e, "rate_limited")
            ),
            FindingKind::LateRotationUse => format!(
                "Last used {}; its grace ends {} ({} uses late in the grace)",
                text(e, "last_used_at"),
                text(e, "grace_ends_at"),
                text(e, "uses_late")
            ),
        }
    }

    pub(crate) fn row(f: Finding) -> FindingRow {
        FindingRow {
            id: f.id.to_string(),
            key_id: f.key_id.to_string(),
            key_name: f.key_name,
            key_start: f.key_start,
            kind: f.kind.as_str().to_owned(),
            title: title(f.kind).to_owned(),
            severity: f.severity.as_str().to_owned(),
            summary: summary(f.kind, &f.evidence),
            action: f.action.as_str().to_owned(),
            window_start: f.window_start,
            detected_at: f.detected_at,
            acknowledged_at: f.acknowledged_at,
        }
    }

    /// Up to `limit` findings the actor may see, newest first.
    pub(crate) async fn rows(
        actor: Actor,
        filter: &FindingFilter,
        limit: i64,
    ) -> Result<Vec<FindingRow>, AppError> {
        let service: FindingService = provided()?;
        Ok(service
            .list(actor, filter, None, limit)
            .await?
            .into_iter()
            .map(row)
            .collect())
    }

    pub(super) async fn acknowledge(finding_id: String) -> Result<FindingRow, AppError> {
        let user = session_user().await?.ok_or(AppError::Unauthorized)?;
        let service: FindingService = provided()?;
        let finding = service
            .acknowledge(Actor::from(&user), id("id", &finding_id)?, &origin().await)
            .await?;
        Ok(row(finding))
    }
}
