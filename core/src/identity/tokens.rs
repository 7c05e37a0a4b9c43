//! API refresh tokens and access-token revocation.
//!
//! Refresh tokens are random (256 bits), shown once, stored as SHA-256 digests, work once,
//! and belong to a family that starts at sign-in. Presenting a used one means it was
//! copied: the whole family is revoked. Access tokens (JWTs) are revoked by listing their
//! `jti` until they would have expired, which every instance sees at once.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::users::{self, User};
use crate::audit::{self, NewEntry, Origin};
use crate::error::{Error, Result};

/// A newly issued refresh token: the secret (shown once) and its family.
#[derive(Debug)]
pub struct IssuedRefresh {
    /// The secret to hand to the client.
    pub token: SecretString,
    /// The rotation family (also carried by access tokens, for logout).
    pub family_id: Uuid,
}

/// Why a refresh was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked token, or a disabled user.
    #[error("invalid refresh token")]
    Invalid,
    /// The token was already used: its family is now revoked.
    #[error("refresh token reused; the session is revoked")]
    Reused,
    /// The database failed.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<sqlx::Error> for RefreshError {
    fn from(err: sqlx::Error) -> Self {
        Self::Core(err.into())
    }
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues a refresh token in `family_id` (a new family when `None`).
pub async fn issue_refresh(
    conn: &mut PgConnection,
    user_id: Uuid,
    family_id: Option<Uuid>,
    ttl: Duration,
) -> Result<IssuedRefresh> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "lsr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let family_id = family_id.unwrap_or_else(Uuid::new_v4);
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
    sqlx::query!(
        "INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
        family_id,
        user_id,
        digest(&token),
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(IssuedRefresh {
        token: SecretString::from(token),
        family_id,
    })
}

/// Spends `presented` and issues its successor in the same family. A second use of the
/// same token revokes the family (and is audited).
pub async fn rotate_refresh(
    pool: &PgPool,
    presented: &SecretString,
    ttl: Duration,
    origin: &Origin,
) -> Result<(User, IssuedRefresh), RefreshError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query!(
        r#"SELECT t.id, t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.disabled
           FROM refresh_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1
           FOR UPDATE OF t"#,
        digest(presented.expose_secret())
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(RefreshError::Invalid);
    };
    let now = Utc::now();
    if row.used_at.is_some() && row.revoked_at.is_none() {
        revoke_family(&mut tx, row.family_id, now).await?;
        audit::append(
            &mut tx,
            NewEntry {
                actor_id: Some(row.user_id),
                action: "token.reuse",
                target_type: "token_family",
                target_id: Some(row.family_id.to_string()),
                origin: origin.clone(),
                before: None,
                after: Some(json!({ "revoked": true })),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(RefreshError::Reused);
    }
    if row.used_at.is_some() || row.revoked_at.is_some() || row.expires_at <= now || row.disabled {
        return Err(RefreshError::Invalid);
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1",
        row.id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let next = issue_refresh(&mut tx, row.user_id, Some(row.family_id), ttl).await?;
    tx.commit().await?;
    let user = users::find(pool, row.user_id)
        .await?
        .ok_or(RefreshError::Invalid)?;
    Ok((user, next))
}

async fn revoke_family(conn: &mut PgConnection, family_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Logout: revokes the access token `jti` (until `expires_at`) and its refresh family.
pub async fn revoke_session(
    conn: &mut PgConnection,
    jti: Uuid,
    expires_at: DateTime<Utc>,
    family_id: Option<Uuid>,
) -> Result<()> {
    let now = Utc::now();
    // Expired entries are dead weight; this keeps the list as short as the token lifetime.
    sqlx::query!("DELETE FROM revoked_tokens WHERE expires_at < $1", now)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        jti,
        expires_at
    )
    .execute(&mut *conn)
    .await?;
    if let Some(family_id) = family_id {
        revoke_family(conn, family_id, now).await?;
    }
    Ok(())
}

/// Whether the access token `jti` was revoked.
pub async fn is_revoked(pool: &PgPool, jti: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1) AS "revoked!""#,
        jti
    )
    .fetch_one(pool)
    .await?)
}

/// Deletes refresh tokens expired for a day and revocations of expired access tokens;
/// returns how many rows went.
pub async fn purge_expired(pool: &PgPool) -> Result<u64> {
    let refresh =
        sqlx::query!("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected();
    let revoked = sqlx::query!("DELETE FROM revoked_tokens WHERE expires_at < now()")
        .execute(pool)
        .await?
        .rows_affected();
    Ok(refresh + revoked)
}
