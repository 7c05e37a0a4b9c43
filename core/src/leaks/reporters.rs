//! Leak-reporter tokens: what a scanner (or a person) other than GitHub presents to
//! `POST /v1/leaks`. Issued by admins like verifier tokens (`lsl_…`), shown once, kept
//! as a peppered digest, revoked for good.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::keys::digest::Digest;
use crate::keys::format::Secret;

/// The prefix of leak-reporter tokens.
pub const REPORTER_PREFIX: &str = "lsl";

/// A leak reporter as listed (never the token or its digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeakReporter {
    pub id: Uuid,
    /// A name for people (e.g. the scanner).
    pub name: String,
    /// The first characters of the token.
    pub start: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new leak reporter with its token, shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedLeakReporter {
    /// The token. Never stored, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token: Secret,
    #[serde(flatten)]
    pub reporter: LeakReporter,
}

pub(crate) async fn insert(
    conn: &mut PgConnection,
    name: &str,
    start: &str,
    digest: &Digest,
    created_by: Option<Uuid>,
) -> Result<LeakReporter> {
    Ok(sqlx::query_as!(
        LeakReporter,
        r#"INSERT INTO leak_reporters (name, start, digest, created_by)
           VALUES ($1, $2, $3, $4)
           RETURNING id, name, start, created_at, created_by, last_used_at, revoked_at"#,
        name,
        start,
        &digest[..],
        created_by
    )
    .fetch_one(conn)
    .await?)
}

/// Every leak reporter, oldest first (an installation has few).
pub(crate) async fn list(pool: &PgPool) -> Result<Vec<LeakReporter>> {
    Ok(sqlx::query_as!(
        LeakReporter,
        r#"SELECT id, name, start, created_at, created_by, last_used_at, revoked_at
           FROM leak_reporters ORDER BY created_at, id"#
    )
    .fetch_all(pool)
    .await?)
}

/// Marks a reporter revoked (keeping the first time); it before and after.
pub(crate) async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<(LeakReporter, LeakReporter)> {
    let before = sqlx::query_as!(
        LeakReporter,
        r#"SELECT id, name, start, created_at, created_by, last_used_at, revoked_at
           FROM leak_reporters WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound)?;
    let after = sqlx::query_as!(
        LeakReporter,
        r#"UPDATE leak_reporters SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
           RETURNING id, name, start, created_at, created_by, last_used_at, revoked_at"#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((before, after))
}

/// The live reporter whose token has `digest`, marked used at `now`.
pub(crate) async fn authenticate(
    pool: &PgPool,
    digest: &Digest,
    now: DateTime<Utc>,
) -> Result<Option<LeakReporter>> {
    Ok(sqlx::query_as!(
        LeakReporter,
        r#"UPDATE leak_reporters SET last_used_at = $2
           WHERE digest = $1 AND revoked_at IS NULL
           RETURNING id, name, start, created_at, created_by, last_used_at, revoked_at"#,
        &digest[..],
        now
    )
    .fetch_optional(pool)
    .await?)
}
