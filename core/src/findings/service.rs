//! Reading and acknowledging findings: admins and auditors see every key's, owners
//! their own keys'; admins and owners acknowledge what they see.

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{Finding, FindingFilter, Severity};
use super::store;
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::{Event, KeyRef};
use crate::keys::policy::Actor;

/// Findings needing attention, by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenFindings {
    pub high: i64,
    pub medium: i64,
    pub low: i64,
}

impl OpenFindings {
    /// All of them.
    pub fn total(&self) -> i64 {
        self.high + self.medium + self.low
    }
}

/// The findings on keys.
#[derive(Debug, Clone)]
pub struct FindingService {
    pool: PgPool,
}

impl FindingService {
    /// Findings in the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A page of the findings the caller may see, newest first, after the finding
    /// `after` (the previous page's last).
    #[tracing::instrument(name = "findings.list", skip_all, fields(db.system = "postgresql"))]
    pub async fn list(
        &self,
        actor: Actor,
        filter: &FindingFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Finding>> {
        store::list(&self.pool, filter, actor.only_own(), after, limit).await
    }

    /// One finding the caller may see.
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<Finding> {
        let finding = store::find(&self.pool, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(finding.owner_id)?;
        Ok(finding)
    }

    /// How many findings the caller may see need attention.
    pub async fn open(&self, actor: Actor) -> Result<OpenFindings> {
        let mut open = OpenFindings::default();
        for (severity, n) in store::open_counts(&self.pool, actor.only_own()).await? {
            match Severity::parse(&severity) {
                Some(Severity::High) => open.high = n,
                Some(Severity::Medium) => open.medium = n,
                Some(Severity::Low) => open.low = n,
                None => {}
            }
        }
        Ok(open)
    }

    /// Acknowledges a finding (admins, and the key's owner): it no longer needs
    /// attention. Acknowledging it again changes nothing and records nothing.
    #[tracing::instrument(name = "findings.acknowledge", skip_all, fields(db.system = "postgresql"))]
    pub async fn acknowledge(&self, actor: Actor, id: Uuid, origin: &Origin) -> Result<Finding> {
        actor.check_may_change_keys()?;
        let mut tx = self.pool.begin().await?;
        let before = store::find(&mut *tx, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(before.owner_id)?;
        let now = Utc::now();
        if !store::acknowledge(&mut tx, id, actor.recorded_id(), now).await? {
            return Ok(before);
        }
        let after = store::find(&mut *tx, id).await?.ok_or(Error::NotFound)?;
        let entry = NewEntry::of(actor, Action::FindingAcknowledge, id, origin)
            .before(json!({ "acknowledged_at": null }))
            .after(json!({
                "key_id": after.key_id,
                "kind": after.kind,
                "severity": after.severity,
                "acknowledged_at": after.acknowledged_at,
            }))
            .events([Event::KeyFindingAcknowledged {
                key: KeyRef {
                    key_id: after.key_id,
                    keyspace_id: after.keyspace_id,
                    owner_id: after.owner_id,
                    name: after.key_name.clone(),
                    start: after.key_start.clone(),
                },
                finding_id: id,
                kind: after.kind,
            }]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(after)
    }
}
