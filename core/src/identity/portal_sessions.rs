//! The portal session repository (the table behind the session cookie). Each row names
//! its user once signed in, so that disabling a user deletes their sessions
//! ([`crate::identity::revocation::end_all_sessions`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Result;

/// A portal session as the session layer stores it.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    /// The signed-in user; `None` before sign-in.
    pub user_id: Option<Uuid>,
    /// The session layer's record, opaque here.
    pub data: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// Inserts a new session of `user_id` (`None` before sign-in); `false` if the id is
/// taken (the caller draws another).
pub(crate) async fn create(pool: &PgPool, session: &PortalSession) -> Result<bool> {
    let inserted = sqlx::query!(
        r#"INSERT INTO tower_sessions.session (id, user_id, data, expiry_date)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO NOTHING"#,
        session.id,
        session.user_id,
        session.data,
        session.expires_at
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Writes a session of `user_id` (`None` before sign-in).
pub(crate) async fn save(pool: &PgPool, session: &PortalSession) -> Result<()> {
    sqlx::query!(
        r#"INSERT INTO tower_sessions.session (id, user_id, data, expiry_date)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE
           SET user_id = excluded.user_id, data = excluded.data, expiry_date = excluded.expiry_date"#,
        session.id,
        session.user_id,
        session.data,
        session.expires_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Reads a session that has not expired.
pub(crate) async fn load(pool: &PgPool, id: &str) -> Result<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar!(
        "SELECT data FROM tower_sessions.session WHERE id = $1 AND expiry_date > now()",
        id
    )
    .fetch_optional(pool)
    .await?)
}

/// Deletes a session.
pub(crate) async fn delete(pool: &PgPool, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM tower_sessions.session WHERE id = $1", id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes expired sessions; returns how many.
pub(crate) async fn purge_expired(pool: &PgPool) -> Result<u64> {
    Ok(
        sqlx::query!("DELETE FROM tower_sessions.session WHERE expiry_date <= now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
