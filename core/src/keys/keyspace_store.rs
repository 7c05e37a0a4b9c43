//! The keyspaces and verifiers repository.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::digest::Digest;
use crate::error::{Error, Result, is_unique_violation};
use crate::findings::{AnomalyAction, LeakAction};

/// A keyspace: one API or service whose callers present keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Keyspace {
    pub id: Uuid,
    /// A unique name (case-insensitive).
    pub name: String,
    /// Every key of this keyspace starts with `<prefix>_`.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: Option<Uuid>,
    /// The request header a proxy in front of the keyspace's service finds keys in
    /// (`GET /v1/authz`); `authorization` means `Authorization: Bearer <key>`.
    pub key_header: String,
    /// What happens to a key reported as leaked.
    pub leak_action: crate::findings::LeakAction,
    /// What happens to a key with a high-severity unusual-use finding.
    pub anomaly_action: crate::findings::AnomalyAction,
}

/// A verifier as listed (never the token or its digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verifier {
    pub id: Uuid,
    /// The keyspace whose keys it may verify.
    pub keyspace_id: Uuid,
    /// A name for people (e.g. the calling service).
    pub name: String,
    /// The first characters of the token.
    pub start: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: Option<Uuid>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Inserts a keyspace; a taken prefix or name is a `Conflict`.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    name: &str,
    prefix: &str,
    key_header: &str,
    created_by: Option<Uuid>,
) -> Result<Keyspace> {
    sqlx::query_as!(
        Keyspace,
        r#"INSERT INTO keyspaces (name, prefix, key_header, created_by) VALUES ($1, $2, $3, $4)
           RETURNING id, name, prefix, created_at, created_by, key_header, leak_action AS "leak_action: LeakAction", anomaly_action AS "anomaly_action: AnomalyAction""#,
        name,
        prefix,
        key_header,
        created_by
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "keyspaces_prefix_key") {
            Error::Conflict("prefix: a keyspace with this prefix already exists".into())
        } else if is_unique_violation(&e, "keyspaces_name_lower_key") {
            Error::Conflict("name: a keyspace with this name already exists".into())
        } else {
            e.into()
        }
    })
}

/// One keyspace (through a pool or inside a transaction).
pub(crate) async fn find<'e>(db: impl sqlx::PgExecutor<'e>, id: Uuid) -> Result<Option<Keyspace>> {
    Ok(sqlx::query_as!(
        Keyspace,
        r#"SELECT id, name, prefix, created_at, created_by, key_header, leak_action AS "leak_action: LeakAction", anomaly_action AS "anomaly_action: AnomalyAction" FROM keyspaces WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?)
}

/// One keyspace, locked for a change until the transaction ends.
pub(crate) async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Keyspace>> {
    Ok(sqlx::query_as!(
        Keyspace,
        r#"SELECT id, name, prefix, created_at, created_by, key_header, leak_action AS "leak_action: LeakAction", anomaly_action AS "anomaly_action: AnomalyAction" FROM keyspaces
           WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(conn)
    .await?)
}

/// Writes a keyspace's settings: the header its keys arrive in and its policies.
pub(crate) async fn save_settings(
    conn: &mut PgConnection,
    keyspace: &Keyspace,
) -> Result<Keyspace> {
    Ok(sqlx::query_as!(
        Keyspace,
        r#"UPDATE keyspaces SET key_header = $2, leak_action = $3, anomaly_action = $4 WHERE id = $1
           RETURNING id, name, prefix, created_at, created_by, key_header, leak_action AS "leak_action: LeakAction", anomaly_action AS "anomaly_action: AnomalyAction""#,
        keyspace.id,
        keyspace.key_header,
        keyspace.leak_action.as_str(),
        keyspace.anomaly_action.as_str(),
    )
    .fetch_one(conn)
    .await?)
}

/// A page of keyspaces, oldest first; `after` is the last id of the previous page.
pub(crate) async fn list(pool: &PgPool, after: Option<Uuid>, limit: i64) -> Result<Vec<Keyspace>> {
    Ok(sqlx::query_as!(
        Keyspace,
        r#"SELECT id, name, prefix, created_at, created_by, key_header, leak_action AS "leak_action: LeakAction", anomaly_action AS "anomaly_action: AnomalyAction" FROM keyspaces
           WHERE $1::uuid IS NULL
              OR (created_at, id) > (SELECT created_at, id FROM keyspaces WHERE id = $1)
           ORDER BY created_at, id
           LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// A verifier allowed to verify keys of one keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierAuth {
    /// The verifier.
    pub id: Uuid,
    /// Its keyspace.
    pub keyspace_id: Uuid,
    /// The keyspace's prefix (a key with another prefix cannot be of this keyspace).
    pub prefix: String,
    /// The header a proxy finds the keyspace's keys in ([`Keyspace::key_header`]).
    pub key_header: String,
}

/// The unrevoked verifier whose token has `digest`.
pub(crate) async fn verifier_by_digest(
    pool: &PgPool,
    digest: &Digest,
) -> Result<Option<VerifierAuth>> {
    Ok(sqlx::query_as!(
        VerifierAuth,
        r#"SELECT v.id, v.keyspace_id, k.prefix, k.key_header
           FROM verifiers v JOIN keyspaces k ON k.id = v.keyspace_id
           WHERE v.digest = $1 AND v.revoked_at IS NULL"#,
        &digest[..]
    )
    .fetch_optional(pool)
    .await?)
}

/// Inserts a verifier.
pub(crate) async fn insert_verifier(
    conn: &mut PgConnection,
    keyspace_id: Uuid,
    name: &str,
    start: &str,
    digest: &Digest,
    created_by: Option<Uuid>,
) -> Result<Verifier> {
    Ok(sqlx::query_as!(
        Verifier,
        r#"INSERT INTO verifiers (keyspace_id, name, start, digest, created_by)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, keyspace_id, name, start, created_at, created_by, last_used_at, revoked_at"#,
        keyspace_id,
        name,
        start,
        &digest[..],
        created_by
    )
    .fetch_one(conn)
    .await?)
}

/// The names of the keyspaces and verifiers among `ids` (for showing audit targets).
pub(crate) async fn names(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", name AS "name!" FROM keyspaces WHERE id = ANY($1)
           UNION ALL
           SELECT id, name FROM verifiers WHERE id = ANY($1)"#,
        ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

/// The verifiers of a keyspace, oldest first (a keyspace has few).
pub(crate) async fn list_verifiers(pool: &PgPool, keyspace_id: Uuid) -> Result<Vec<Verifier>> {
    Ok(sqlx::query_as!(
        Verifier,
        r#"SELECT id, keyspace_id, name, start, created_at, created_by, last_used_at, revoked_at
           FROM verifiers WHERE keyspace_id = $1 ORDER BY created_at, id"#,
        keyspace_id
    )
    .fetch_all(pool)
    .await?)
}

/// Marks a verifier revoked (keeping the first revocation time); returns it before and
/// after, or `NotFound` when it is not in this keyspace.
pub(crate) async fn revoke_verifier(
    conn: &mut PgConnection,
    keyspace_id: Uuid,
    id: Uuid,
) -> Result<(Verifier, Verifier)> {
    let before = sqlx::query_as!(
        Verifier,
        r#"SELECT id, keyspace_id, name, start, created_at, created_by, last_used_at, revoked_at
           FROM verifiers WHERE id = $1 AND keyspace_id = $2 FOR UPDATE"#,
        id,
        keyspace_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)?;
    let after = sqlx::query_as!(
        Verifier,
        r#"UPDATE verifiers SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
           RETURNING id, keyspace_id, name, start, created_at, created_by, last_used_at, revoked_at"#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((before, after))
}
