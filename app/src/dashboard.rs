//! The dashboard in the portal: one DTO and one server function over
//! `locksmith_core::dashboard` (one round trip for the whole page).

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::keys::{StatusCounts, UsagePoint};

/// A key in one of the dashboard's lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLine {
    pub id: String,
    pub name: String,
    /// The first characters of the key.
    pub start: String,
    /// What the list is about: verifications, expiry, quota use.
    pub detail: String,
    /// A share, 0 to 100, for lists that have one (quotas).
    pub percent: Option<u8>,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    /// Whose keys: everyone's (admins, auditors) or the viewer's (owners).
    pub all_keys: bool,
    /// Keys by status.
    pub counts: StatusCounts,
    /// Verifications over the last 24 hours, hour by hour.
    pub hours: Vec<UsagePoint>,
    /// Verifications over the last 30 days, day by day.
    pub days: Vec<UsagePoint>,
    /// The busiest keys of the last 24 hours.
    pub top: Vec<KeyLine>,
    /// Keys expiring within 14 days.
    pub expiring: Vec<KeyLine>,
    /// Keys past 80% of their quota.
    pub quotas: Vec<KeyLine>,
    /// When it was computed.
    pub at: DateTime<Utc>,
    /// For admins of an installation not yet set up: its first steps, each ticked when
    /// done (`None` once all are done, and for everyone else).
    pub setup: Option<Vec<SetupStep>>,
    /// Findings needing attention (leaks, unusual use), newest first (at most 10).
    pub attention: Vec<crate::findings::FindingRow>,
    /// How many findings need attention in all.
    pub attention_total: i64,
    /// Whether the viewer may acknowledge findings (admins, owners).
    pub may_acknowledge: bool,
}

/// One step of the first-run checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupStep {
    /// What to do.
    pub title: String,
    /// Why, in a few words.
    pub hint: String,
    /// Where it is done.
    pub href: String,
    /// Whether it is done.
    pub done: bool,
}

/// The dashboard of the signed-in user; `None` for a visitor who is not signed in (the
/// page itself sends them to sign in).
#[server(prefix = "/api", endpoint = "dashboard")]
pub async fn dashboard() -> Result<Option<DashboardView>, AppError> {
    server::dashboard().await.map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
mod server {
    use chrono::Utc;
    use leptos::prelude::use_context;
    use locksmith_core::dashboard::{Dashboard, KeyBrief};
    use locksmith_core::keys::Actor;

    use super::{DashboardView, KeyLine, SetupStep};
    use crate::auth::server::session_user;
    use crate::components::ui::{count, relative, when};
    use crate::error::AppError;
    use crate::keys::server::{status_counts, usage_point};

    fn line(key: KeyBrief, detail: String, percent: Option<u8>) -> KeyLine {
        KeyLine {
            id: key.id.to_string(),
            name: key.name,
            start: key.start,
            detail,
            percent,
        }
    }

    pub(super) async fn dashboard() -> Result<Option<DashboardView>, AppError> {
        let Some(user) = session_user().await? else {
            return Ok(None);
        };
        let actor = Actor::from(&user);
        let now = Utc::now();
        let dashboard = use_context::<Dashboard>().ok_or(AppError::Internal)?;
        let o = dashboard.overview(actor, now).await?;
        let setup = dashboard
            .setup_steps(actor)
            .await?
            .filter(|s| !s.done())
            .map(|s| {
                let step = |title: &str, hint: &str, href: &str, done: bool| SetupStep {
                    title: title.to_owned(),
                    hint: hint.to_owned(),
                    href: href.to_owned(),
                    done,
                };
                vec![
                    step(
                        "Create a keyspace",
                        "one per API or service whose callers present keys",
                        "/keyspaces",
                        s.keyspace,
                    ),
                    step(
                        "Issue a verifier token",
                        "your service uses it to call /v1/verify",
                        "/keyspaces",
                        s.verifier,
                    ),
                    step(
                        "Create a key",
                        "the secret is shown once",
                        "/keys/new",
                        s.key,
                    ),
                    step(
                        "Verify it",
                        "run the sample call of the keyspaces page or the key's own",
                        "/keyspaces",
                        s.verified,
                    ),
                ]
            });
        let attention = crate::findings::server::rows(
            actor,
            &locksmith_core::findings::FindingFilter {
                open: Some(true),
                ..Default::default()
            },
            10,
        )
        .await?;
        let attention_total =
            crate::auth::server::service::<locksmith_core::findings::FindingService>()?
                .open(actor)
                .await?
                .total();
        Ok(Some(DashboardView {
            attention,
            attention_total,
            may_acknowledge: actor.check_may_change_keys().is_ok(),
            all_keys: actor.only_own().is_none(),
            counts: status_counts(o.counts),
            hours: o.hours.iter().map(usage_point).collect(),
            days: o.days.iter().map(usage_point).collect(),
            top: o
                .top
                .into_iter()
                .map(|t| {
                    let detail =
                        format!("{} verifications, {} valid", count(t.total), count(t.valid));
                    line(t.key, detail, None)
                })
                .collect(),
            expiring: o
                .expiring
                .into_iter()
                .map(|e| {
                    let detail = format!(
                        "expires {} ({})",
                        when(&e.expires_at),
                        relative(&e.expires_at, &now)
                    );
                    line(e.key, detail, None)
                })
                .collect(),
            quotas: o
                .quotas
                .into_iter()
                .map(|q| {
                    let percent =
                        ((q.used as f64 / q.limit.max(1) as f64) * 100.0).clamp(0.0, 100.0) as u8;
                    let detail = format!("{} of {} used", count(q.used), count(q.limit));
                    line(q.key, detail, Some(percent))
                })
                .collect(),
            at: now,
            setup,
        }))
    }
}
