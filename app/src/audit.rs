//! The audit trail in the portal: DTOs and thin server functions over
//! `locksmith_core::audit`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One audit entry as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Position in the chain.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (the email when the user still exists, else the id, else "system").
    pub actor: String,
    /// The actor's id (`None`: the system).
    pub actor_id: Option<String>,
    /// What.
    pub action: String,
    /// Kind and id of the target.
    pub target: String,
    /// The target's kind (`key`, `user`, `keyspace`, `verifier`, …).
    pub target_type: String,
    /// The target's id.
    pub target_id: Option<String>,
    /// The target's name, when it still exists (a key's name and start, a user's email).
    pub target_name: Option<String>,
    /// This entry's chain hash.
    pub hash: String,
    /// The previous entry's hash, which this one covers.
    pub prev_hash: String,
    /// Caller's address.
    pub source_ip: Option<String>,
    /// Locksmith's id of the request.
    pub request_id: Option<String>,
    /// The id the caller sent with the request, if any.
    pub client_request_id: Option<String>,
    /// State before, pretty-printed JSON.
    pub before: Option<String>,
    /// State after, pretty-printed JSON.
    pub after: Option<String>,
    /// Before and after compared field by field.
    pub changes: Vec<FieldChange>,
}

/// One field of an entry's before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `quota.limit`.
    pub path: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub change: String,
    /// The value before, as compact JSON.
    pub before: Option<String>,
    /// The value after, as compact JSON.
    pub after: Option<String>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditRow>,
    /// The cursor of the next (older) page.
    pub next_cursor: Option<i64>,
}

/// The filters of the page; empty strings (or absent fields) mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilters {
    /// Actor id.
    pub actor_id: String,
    /// Action, e.g. `user.update`.
    pub action: String,
    /// Target id.
    pub target_id: String,
    /// From (inclusive), `YYYY-MM-DDTHH:MM` in UTC.
    pub from: String,
    /// To (exclusive), `YYYY-MM-DDTHH:MM` in UTC.
    pub to: String,
    /// Cursor from a previous page.
    pub cursor: String,
    /// Leave out sign-ins and sign-outs.
    pub hide_sign_ins: bool,
}

impl AuditRow {
    /// Where the target is shown: a key's page, the users or keyspaces page, or its own
    /// entries here.
    pub fn target_href(&self) -> Option<String> {
        let id = self.target_id.as_ref()?;
        Some(match self.target_type.as_str() {
            "key" => format!("/keys/{id}"),
            "user" => "/users".to_owned(),
            "keyspace" | "verifier" => "/keyspaces".to_owned(),
            _ => format!("/audit?target_id={id}"),
        })
    }
}

/// The result of checking the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// Entries verified intact.
    pub checked: u64,
    /// The first entry that does not match, if any.
    pub first_broken: Option<i64>,
}

/// A page of entries matching the filters (admin, auditor).
#[server(prefix = "/api", endpoint = "audit_entries")]
pub async fn audit_entries(filters: AuditFilters) -> Result<Option<AuditPage>, AppError> {
    server::entries(filters).await.map_err(AppError::respond)
}

/// The actions the log records, for the action picker (the core's list, so the picker
/// never offers an action the trail does not know or misses a new one).
#[server(prefix = "/api", endpoint = "audit_actions")]
pub async fn audit_actions() -> Result<Vec<String>, AppError> {
    use locksmith_core::identity::Role;
    crate::auth::server::require(&[Role::Admin, Role::Auditor])
        .await
        .map_err(AppError::respond)?;
    Ok(locksmith_core::audit::Action::ALL
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect())
}

/// Verifies the whole chain (admin, auditor).
#[server(prefix = "/api", endpoint = "verify_audit_chain")]
pub async fn verify_audit_chain() -> Result<ChainStatus, AppError> {
    server::verify().await.map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
pub mod server {
    //! The audit server functions' bodies, and what the CSV export shares with them.

    use locksmith_core::audit::{self, Action, AuditFilter, AuditService};
    use locksmith_core::identity::{Actor, Role};
    use uuid::Uuid;

    use super::{AuditFilters, AuditPage, AuditRow, ChainStatus, FieldChange};
    use crate::auth::server::{require, service, session_user};
    use crate::error::AppError;
    use crate::form::{optional, time};

    const PAGE: i64 = 50;

    pub(super) async fn entries(filters: AuditFilters) -> Result<Option<AuditPage>, AppError> {
        // Not signed in: nothing (the page sends the visitor to sign in).
        if session_user().await?.is_none() {
            return Ok(None);
        }
        let user = require(&[Role::Admin, Role::Auditor]).await?;
        let (filter, cursor) = parse(&filters)?;
        let audit: AuditService = service()?;
        let entries = audit
            .list(Actor::from(&user), &filter, cursor, PAGE)
            .await?;
        let next_cursor = (entries.len() as i64 == PAGE)
            .then(|| entries.last().map(|e| e.id))
            .flatten();
        let items = rows(&audit, entries).await?;
        Ok(Some(AuditPage { items, next_cursor }))
    }

    /// The filter and cursor the page's fields describe; errors name the field.
    pub fn parse(filters: &AuditFilters) -> Result<(AuditFilter, Option<i64>), AppError> {
        let actor_id = optional(&filters.actor_id)
            .map(|v| {
                Uuid::parse_str(&v).map_err(|_| AppError::Invalid("actor: not a user id".into()))
            })
            .transpose()?;
        let cursor = optional(&filters.cursor)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    AppError::Invalid("cursor: not a cursor from a previous page".into())
                })
            })
            .transpose()?;
        let filter = AuditFilter {
            actor_id,
            action: optional(&filters.action)
                .as_deref()
                .map(Action::from_filter)
                .transpose()?,
            target_id: optional(&filters.target_id),
            from: time("from", &filters.from)?,
            to: time("to", &filters.to)?,
            hide_sign_ins: filters.hide_sign_ins,
        };
        Ok((filter, cursor))
    }

    /// Entries as the portal shows them, actors by email (one query per kind of name).
    pub async fn rows(
        audit: &AuditService,
        entries: Vec<audit::Entry>,
    ) -> Result<Vec<AuditRow>, AppError> {
        let names = audit.names(&entries).await?;
        let pretty = |v: Option<serde_json::Value>| {
            v.map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        };
        Ok(entries
            .into_iter()
            .map(|e| AuditRow {
                id: e.id,
                at: e.at,
                actor: names.actor(&e),
                target_name: names.target(&e),
                actor_id: e.actor_id.map(|id| id.to_string()),
                action: e.action,
                target: format!(
                    "{} {}",
                    e.target_type,
                    e.target_id.clone().unwrap_or_default()
                )
                .trim()
                .to_owned(),
                target_type: e.target_type,
                target_id: e.target_id,
                hash: e.hash,
                prev_hash: e.prev_hash,
                source_ip: e.source_ip,
                request_id: e.request_id,
                client_request_id: e.client_request_id,
                changes: changes(e.before.as_ref(), e.after.as_ref()),
                before: pretty(e.before),
                after: pretty(e.after),
            })
            .collect())
    }

    fn changes(
        before: Option<&serde_json::Value>,
        after: Option<&serde_json::Value>,
    ) -> Vec<FieldChange> {
        let compact = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        audit::diff::diff(before, after)
            .into_iter()
            .map(|f| FieldChange {
                path: f.path,
                change: f.change.as_str().to_owned(),
                before: compact(f.before),
                after: compact(f.after),
            })
            .collect()
    }

    pub(super) async fn verify() -> Result<ChainStatus, AppError> {
        let user = require(&[Role::Admin, Role::Auditor]).await?;
        let report = service::<AuditService>()?
            .verify(Actor::from(&user))
            .await?;
        Ok(ChainStatus {
            checked: report.checked,
            first_broken: report.first_broken,
        })
    }
}
