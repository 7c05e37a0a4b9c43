//! Keyspaces and their verifiers, each change in one transaction with its audit row and
//! event. Every signed-in user may list keyspaces (owners pick one when creating a key);
//! verifiers are for admins and auditors only.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::digest::KeyHasher;
use super::format::{self, Prefix, Secret, VERIFIER_PREFIX};
use super::key_header;
use super::keyspace_store::{self, Keyspace, Verifier};
use super::policy::Actor;
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::{Event, VerifierRef};

/// A keyspace or verifier name: 1 to 100 characters, not blank, no control characters.
pub(crate) fn parse_name(raw: &str) -> Result<String> {
    if raw.trim().is_empty() || raw.chars().count() > 100 {
        return Err(Error::invalid(
            "name",
            "must be 1 to 100 characters, not blank",
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(raw.to_owned())
}

fn snapshot(value: &impl Serialize) -> serde_json::Value {
    // Keyspaces and verifier views hold no secret.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Keyspaces and verifiers.
#[derive(Clone, Debug)]
pub struct KeyspaceService {
    pool: PgPool,
    hasher: KeyHasher,
}

impl KeyspaceService {
    /// Keyspaces in the database behind `pool`; verifier tokens are hashed with `hasher`.
    pub fn new(pool: PgPool, hasher: KeyHasher) -> Self {
        Self { pool, hasher }
    }

    /// Creates a keyspace (admin), its keys read from `key_header` by proxies
    /// ([`key_header::DEFAULT`] when `None`). A taken name or prefix is a `Conflict`.
    #[tracing::instrument(name = "keyspaces.create", skip_all, fields(db.system = "postgresql"))]
    pub async fn create(
        &self,
        actor: Actor,
        name: &str,
        prefix: &str,
        key_header: Option<&str>,
        origin: &Origin,
    ) -> Result<Keyspace> {
        actor.check_admin()?;
        let name = parse_name(name)?;
        let prefix = Prefix::parse(prefix)?;
        let key_header =
            key_header.map_or(Ok(key_header::DEFAULT.to_owned()), key_header::parse)?;
        let mut tx = self.pool.begin().await?;
        let keyspace = keyspace_store::insert(
            &mut tx,
            &name,
            prefix.as_str(),
            &key_header,
            actor.recorded_id(),
        )
        .await?;
        let entry = NewEntry::of(actor, Action::KeyspaceCreate, keyspace.id, origin)
            .after(snapshot(&keyspace))
            .events([Event::from(&keyspace)]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(keyspace)
    }

    /// Changes a keyspace's settings (admin). Every instance's verifiers of the keyspace
    /// are read again (the database announces them). Changing nothing records nothing.
    #[tracing::instrument(name = "keyspaces.update", skip_all, fields(db.system = "postgresql"))]
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        changes: &KeyspaceChanges,
        origin: &Origin,
    ) -> Result<Keyspace> {
        actor.check_admin()?;
        let header = changes
            .key_header
            .as_deref()
            .map(key_header::parse)
            .transpose()?;
        let mut tx = self.pool.begin().await?;
        let before = keyspace_store::lock(&mut tx, id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut wanted = before.clone();
        let mut changed = Vec::new();
        if let Some(header) = header
            && header != before.key_header
        {
            wanted.key_header = header;
            changed.push("key_header".to_owned());
        }
        if let Some(action) = changes.leak_action
            && action != before.leak_action
        {
            wanted.leak_action = action;
            changed.push("leak_action".to_owned());
        }
        if let Some(action) = changes.anomaly_action
            && action != before.anomaly_action
        {
            wanted.anomaly_action = action;
            changed.push("anomaly_action".to_owned());
        }
        if changed.is_empty() {
            return Ok(before);
        }
        let after = keyspace_store::save_settings(&mut tx, &wanted).await?;
        let entry = NewEntry::of(actor, Action::KeyspaceUpdate, id, origin)
            .before(snapshot(&before))
            .after(snapshot(&after))
            .events([Event::KeyspaceUpdated {
                keyspace_id: after.id,
                name: after.name.clone(),
                prefix: after.prefix.clone(),
                changed,
            }]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One keyspace (any signed-in user).
    pub async fn get(&self, _actor: Actor, id: Uuid) -> Result<Keyspace> {
        keyspace_store::find(&self.pool, id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// A page of keyspaces by name (any signed-in user: owners pick one for a new key);
    /// `after` is the last id of the previous page.
    #[tracing::instrument(name = "keyspaces.list", skip_all, fields(db.system = "postgresql"))]
    pub async fn list(
        &self,
        _actor: Actor,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Keyspace>> {
        keyspace_store::list(&self.pool, after, limit).await
    }

    /// Issues a verifier token for one keyspace (admin).
    #[tracing::instrument(name = "keyspaces.create_verifier", skip_all, fields(db.system = "postgresql"))]
    pub async fn create_verifier(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
        name: &str,
        origin: &Origin,
    ) -> Result<CreatedVerifier> {
        actor.check_admin()?;
        let name = parse_name(name)?;
        let keyspace = self.get(actor, keyspace_id).await?;
        let token = format::generate(VERIFIER_PREFIX);
        let digest = self.hasher.digest(token.expose());
        let mut tx = self.pool.begin().await?;
        let verifier = keyspace_store::insert_verifier(
            &mut tx,
            keyspace.id,
            &name,
            &token.start(),
            &digest,
            actor.recorded_id(),
        )
        .await?;
        let entry = NewEntry::of(actor, Action::VerifierCreate, verifier.id, origin)
            .after(snapshot(&verifier))
            .events([Event::VerifierIssued {
                verifier: VerifierRef::from(&verifier),
            }]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(CreatedVerifier { token, verifier })
    }

    /// The verifiers of a keyspace with their traffic (admin, auditor).
    pub async fn list_verifiers(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
    ) -> Result<Vec<VerifierView>> {
        actor.check_reader()?;
        self.get(actor, keyspace_id).await?;
        let verifiers = keyspace_store::list_verifiers(&self.pool, keyspace_id).await?;
        let ids: Vec<Uuid> = verifiers.iter().map(|v| v.id).collect();
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let traffic = crate::usage::store::verifier_requests(&self.pool, &ids, since).await?;
        Ok(verifiers
            .into_iter()
            .map(|verifier| VerifierView {
                requests_24h: traffic
                    .iter()
                    .find(|(id, _)| *id == verifier.id)
                    .map_or(0, |(_, n)| *n),
                verifier,
            })
            .collect())
    }

    /// Revokes a verifier (admin). Idempotent: revoking it again changes nothing and
    /// records nothing.
    pub async fn revoke_verifier(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
        id: Uuid,
        origin: &Origin,
    ) -> Result<Verifier> {
        actor.check_admin()?;
        let mut tx = self.pool.begin().await?;
        let (before, after) = keyspace_store::revoke_verifier(&mut tx, keyspace_id, id).await?;
        if before.revoked_at.is_none() {
            let entry = NewEntry::of(actor, Action::VerifierRevoke, id, origin)
                .before(snapshot(&before))
                .after(snapshot(&after))
                .events([Event::VerifierRevoked {
                    verifier: VerifierRef::from(&after),
                }]);
            audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(after)
    }
}

/// What [`KeyspaceService::update`] changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyspaceChanges {
    /// The header proxies find keys in ([`key_header::parse`]).
    pub key_header: Option<String>,
    /// What happens to a key reported as leaked.
    pub leak_action: Option<crate::findings::LeakAction>,
    /// What happens to a key with a high-severity unusual-use finding.
    pub anomaly_action: Option<crate::findings::AnomalyAction>,
}

/// A new verifier with its token, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedVerifier {
    /// The token. Never stored, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Secret,
    /// The verifier.
    #[serde(flatten)]
    pub verifier: Verifier,
}

/// A verifier with its traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifierView {
    /// The verifier.
    #[serde(flatten)]
    pub verifier: Verifier,
    /// Verification requests it made in the last 24 hours, whatever their answers
    /// (counted in memory and written about once a second).
    pub requests_24h: i64,
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;
    use crate::identity::Role;
    use crate::test_support::{hasher, head, kinds_after, trail, user};

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn keyspaces_and_verifiers_change_with_their_events_and_only_for_admins(pool: PgPool) {
        let service = KeyspaceService::new(pool.clone(), hasher());
        let origin = Origin::default();
        let admin = Actor::from(&user(&pool, "admin@example.com", Role::Admin).await);
        let owner = Actor::from(&user(&pool, "owner@example.com", Role::Owner).await);
        let start = head(&pool).await;
        let keyspace = service
            .create(admin, "Payments", "pay", None, &origin)
            .await
            .expect("keyspace");
        assert_eq!(keyspace.key_header, key_header::DEFAULT);
        let verifier = service
            .create_verifier(admin, keyspace.id, "checkout", &origin)
            .await
            .expect("verifier");
        service
            .revoke_verifier(admin, keyspace.id, verifier.verifier.id, &origin)
            .await
            .expect("revoked");
        service
            .revoke_verifier(admin, keyspace.id, verifier.verifier.id, &origin)
            .await
            .expect("again: nothing to do");
        let bearer = KeyspaceChanges {
            key_header: Some("Authorization".into()),
            ..KeyspaceChanges::default()
        };
        let updated = service
            .update(admin, keyspace.id, &bearer, &origin)
            .await
            .expect("updated");
        assert_eq!(updated.key_header, key_header::AUTHORIZATION);
        let policies = KeyspaceChanges {
            leak_action: Some(crate::findings::LeakAction::Revoke),
            anomaly_action: Some(crate::findings::AnomalyAction::Disable),
            ..KeyspaceChanges::default()
        };
        let updated = service
            .update(admin, keyspace.id, &policies, &origin)
            .await
            .expect("policies");
        assert_eq!(updated.leak_action, crate::findings::LeakAction::Revoke);
        assert_eq!(
            updated.anomaly_action,
            crate::findings::AnomalyAction::Disable
        );
        assert_eq!(updated.key_header, key_header::AUTHORIZATION, "kept");
        service
            .update(admin, keyspace.id, &bearer, &origin)
            .await
            .expect("again: nothing to do");
        assert_eq!(
            kinds_after(&pool, start).await,
            [
                "keyspace.created",
                "verifier.issued",
                "verifier.revoked",
                "keyspace.updated",
                "keyspace.updated"
            ]
        );

        let start = head(&pool).await;
        let rows = trail(&pool).await.len();
        let refused = service.create(owner, "Mine", "mine", None, &origin).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
        let refused = service.update(owner, keyspace.id, &bearer, &origin).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
        let cookie = KeyspaceChanges {
            key_header: Some("cookie".into()),
            ..KeyspaceChanges::default()
        };
        let invalid = service.update(admin, keyspace.id, &cookie, &origin).await;
        assert!(matches!(invalid, Err(Error::Invalid { .. })), "{invalid:?}");
        let taken = service.create(admin, "Other", "pay", None, &origin).await;
        assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");
        let listed = service.list_verifiers(owner, keyspace.id).await;
        assert!(matches!(listed, Err(Error::Forbidden(_))), "{listed:?}");
        assert!(kinds_after(&pool, start).await.is_empty());
        assert_eq!(trail(&pool).await.len(), rows);
        // Every signed-in user may list keyspaces (owners pick one for a new key).
        assert_eq!(service.list(owner, None, 10).await.expect("list").len(), 1);
    }
}
