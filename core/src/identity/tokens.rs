//! API refresh tokens and access-token revocation.
//!
//! Refresh tokens are random (256 bits), shown once, stored as SHA-256 digests, work once,
//! and belong to a family that starts at sign-in and ends at an absolute deadline however
//! often it is renewed ([`RefreshLifetime`]). Presenting a used one means it was copied:
//! the whole family is revoked, and with it every access token issued in the family
//! (see [`super::revocation`]). Logout lists the access token's `jti` until it would
//! have expired and revokes its family, which every instance sees at once.

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
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};

/// How long refresh tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshLifetime {
    /// One token, unused.
    pub token: Duration,
    /// A family, from sign-in, however often it is renewed.
    pub family: Duration,
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))
}

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

/// A family a refresh token is issued in: its id and its absolute end.
#[derive(Debug, Clone, Copy)]
struct Family {
    id: Uuid,
    expires_at: DateTime<Utc>,
}

/// Issues the first refresh token of a new family (at sign-in).
pub(crate) async fn start_family(
    conn: &mut PgConnection,
    user_id: Uuid,
    lifetime: RefreshLifetime,
) -> Result<IssuedRefresh> {
    let family = Family {
        id: Uuid::new_v4(),
        expires_at: after(Utc::now(), lifetime.family),
    };
    issue_refresh(conn, user_id, family, lifetime.token).await
}

/// Issues a refresh token in `family`, living `ttl` but never past the family's end.
async fn issue_refresh(
    conn: &mut PgConnection,
    user_id: Uuid,
    family: Family,
    ttl: Duration,
) -> Result<IssuedRefresh> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "lsr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let expires_at = after(Utc::now(), ttl).min(family.expires_at);
    sqlx::query!(
        r#"INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at, family_expires_at)
           VALUES ($1, $2, $3, $4, $5)"#,
        family.id,
        user_id,
        digest(&token),
        expires_at,
        family.expires_at
    )
    .execute(conn)
    .await?;
    Ok(IssuedRefresh {
        token: SecretString::from(token),
        family_id: family.id,
    })
}

/// Spends `presented` and issues its successor in the same family (ending no later than
/// the family). A second use of the same token revokes the family (and is audited).
pub(crate) async fn rotate_refresh(
    pool: &PgPool,
    presented: &SecretString,
    lifetime: RefreshLifetime,
    origin: &Origin,
) -> Result<(User, IssuedRefresh), RefreshError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query!(
        r#"SELECT t.id, t.family_id, t.family_expires_at, t.user_id, t.expires_at, t.used_at,
                  u.disabled,
                  EXISTS (SELECT 1 FROM refresh_tokens f
                          WHERE f.family_id = t.family_id AND f.revoked_at IS NOT NULL)
                      AS "family_revoked!"
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
    if row.used_at.is_some() && !row.family_revoked {
        revoke_family(&mut tx, row.family_id, now).await?;
        audit::append(
            &mut tx,
            NewEntry::new(
                Some(row.user_id),
                Action::TokenReuse,
                Some(row.family_id.to_string()),
                origin,
            )
            .after(json!({ "revoked": true })),
        )
        .await?;
        tx.commit().await?;
        return Err(RefreshError::Reused);
    }
    // A family is revoked as a whole: a token issued in it while it was being revoked
    // (a rotation racing a logout or a disabling) is worthless too.
    if row.used_at.is_some() || row.family_revoked || row.expires_at <= now || row.disabled {
        return Err(RefreshError::Invalid);
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1",
        row.id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let family = Family {
        id: row.family_id,
        expires_at: row.family_expires_at,
    };
    let next = issue_refresh(&mut tx, row.user_id, family, lifetime.token).await?;
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
pub(crate) async fn revoke_session(
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

/// Deletes refresh tokens expired for a day and revocations of expired access tokens;
/// returns how many rows went.
pub(crate) async fn purge_expired(pool: &PgPool) -> Result<u64> {
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
