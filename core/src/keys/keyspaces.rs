//! Keyspace and verifier operations (admin), each change in one transaction with its audit
//! row. Every signed-in user may list keyspaces (owners pick one when creating a key);
//! verifiers are for admins and auditors only.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::digest::KeyHasher;
use super::format::{self, Prefix, VERIFIER_PREFIX};
use super::keyspace_store::{self, Keyspace, Verifier};
use super::policy::Actor;
use super::service::SecretField;
use crate::audit::{self, NewEntry, Origin};
use crate::error::{Error, Result};

/// A keyspace or verifier name: 1 to 100 characters, not blank, no control characters.
fn parse_name(raw: &str) -> Result<String> {
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

/// Creates a keyspace (admin). A taken name or prefix is a `Conflict`.
pub async fn create(
    pool: &PgPool,
    actor: Actor,
    name: &str,
    prefix: &str,
    origin: &Origin,
) -> Result<Keyspace> {
    actor.check_admin()?;
    let name = parse_name(name)?;
    let prefix = Prefix::parse(prefix)?;
    let mut tx = pool.begin().await?;
    let keyspace = keyspace_store::insert(&mut tx, &name, prefix.as_str(), actor.id).await?;
    audit::append(
        &mut tx,
        NewEntry {
            actor_id: Some(actor.id),
            action: "keyspace.create",
            target_type: "keyspace",
            target_id: Some(keyspace.id.to_string()),
            origin: origin.clone(),
            before: None,
            after: Some(snapshot(&keyspace)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(keyspace)
}

/// One keyspace.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Keyspace> {
    keyspace_store::find(pool, id).await?.ok_or(Error::NotFound)
}

/// A new verifier with its token, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedVerifier {
    /// The token. Never stored, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: SecretField,
    /// The verifier.
    #[serde(flatten)]
    pub verifier: Verifier,
}

/// Issues a verifier token for one keyspace (admin).
pub async fn create_verifier(
    pool: &PgPool,
    hasher: &KeyHasher,
    actor: Actor,
    keyspace_id: Uuid,
    name: &str,
    origin: &Origin,
) -> Result<CreatedVerifier> {
    actor.check_admin()?;
    let name = parse_name(name)?;
    let keyspace = get(pool, keyspace_id).await?;
    let token = format::generate(VERIFIER_PREFIX);
    let digest = hasher.digest(token.expose());
    let mut tx = pool.begin().await?;
    let verifier = keyspace_store::insert_verifier(
        &mut tx,
        keyspace.id,
        &name,
        &token.start(),
        &digest,
        actor.id,
    )
    .await?;
    audit::append(
        &mut tx,
        NewEntry {
            actor_id: Some(actor.id),
            action: "verifier.create",
            target_type: "verifier",
            target_id: Some(verifier.id.to_string()),
            origin: origin.clone(),
            before: None,
            after: Some(snapshot(&verifier)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedVerifier {
        token: SecretField::new(token),
        verifier,
    })
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

/// The verifiers of a keyspace with their traffic (admin, auditor).
pub async fn list_verifiers(
    pool: &PgPool,
    actor: Actor,
    keyspace_id: Uuid,
) -> Result<Vec<VerifierView>> {
    if !actor.role.reads_everything() {
        return Err(Error::Forbidden(
            "this needs the admin or auditor role".into(),
        ));
    }
    get(pool, keyspace_id).await?;
    let verifiers = keyspace_store::list_verifiers(pool, keyspace_id).await?;
    let ids: Vec<Uuid> = verifiers.iter().map(|v| v.id).collect();
    let since = chrono::Utc::now() - chrono::Duration::hours(24);
    let traffic = crate::usage::store::verifier_requests(pool, &ids, since).await?;
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

/// Revokes a verifier (admin). Idempotent: revoking it again changes nothing.
pub async fn revoke_verifier(
    pool: &PgPool,
    actor: Actor,
    keyspace_id: Uuid,
    id: Uuid,
    origin: &Origin,
) -> Result<Verifier> {
    actor.check_admin()?;
    let mut tx = pool.begin().await?;
    let (before, after) = keyspace_store::revoke_verifier(&mut tx, keyspace_id, id).await?;
    if before.revoked_at.is_none() {
        audit::append(
            &mut tx,
            NewEntry {
                actor_id: Some(actor.id),
                action: "verifier.revoke",
                target_type: "verifier",
                target_id: Some(id.to_string()),
                origin: origin.clone(),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}
