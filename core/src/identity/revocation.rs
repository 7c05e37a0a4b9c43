//! What ends a session before its time, and the checks that make it stick.
//!
//! A session is an API token family (the refresh tokens rotated from one sign-in, and the
//! access tokens issued with them) or a portal session. Three things end one early:
//! - **logout** revokes the caller's access token and its family;
//! - **a reused refresh token** revokes its family (it was copied);
//! - **disabling a user** ends every session they have: their refresh families are
//!   revoked (and with them every access token issued in them), their portal sessions
//!   deleted, and `sessions_valid_after` is set, so that a portal session that escaped
//!   the deletion (signed in while the user was being disabled) is refused when read.
//!   Enabling the user again brings none of it back.
//!
//! An access token names its family (`fam`), so revoking a family refuses the access
//! tokens already issued in it at once, on every instance: the check is one query per
//! request, the same one that reads the caller's current role. A token without a
//! family (none is issued so) is judged by its `iat` against `sessions_valid_after`,
//! in whole seconds, refusing the tie.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Role;
use super::users::{User, UserRow};
use crate::error::Result;
use crate::key_limits::QuotaPeriod;

/// What an access token claims, as far as revocation cares.
#[derive(Debug, Clone, Copy)]
pub struct Presented {
    /// The user (`sub`).
    pub user_id: Uuid,
    /// The token id (`jti`).
    pub token_id: Uuid,
    /// The refresh family it was issued with (`fam`).
    pub family_id: Option<Uuid>,
    /// When it was issued (`iat`, Unix seconds).
    pub issued_at: i64,
}

/// The user an access token speaks for, if the token still stands: the user exists and
/// is enabled, and neither the token nor its family is revoked.
pub(crate) async fn bearer_holder(pool: &PgPool, token: &Presented) -> Result<Option<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email, u.role AS "role: Role", u.display_name, u.disabled, u.max_keys,
                  u.allowed_scopes, u.may_change_limits, u.max_quota_limit,
                  u.max_quota_period AS "max_quota_period: QuotaPeriod", u.max_rate_limit,
                  u.max_rate_window_secs, u.max_key_lifetime_secs, u.created_at,
                  u.last_login_at
           FROM users u
           WHERE u.id = $1 AND NOT u.disabled
             -- Without a family, `iat` (whole seconds) against the last end of sessions;
             -- the safe side of a tie is to sign in again.
             AND ($3::uuid IS NOT NULL
                  OR u.sessions_valid_after IS NULL
                  OR $4 > floor(extract(epoch FROM u.sessions_valid_after))::bigint)
             AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2)
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens
                             WHERE family_id = $3 AND revoked_at IS NOT NULL)"#,
        token.user_id,
        token.token_id,
        token.family_id,
        token.issued_at,
    )
    .fetch_optional(pool)
    .await?
    .map(User::from))
}

/// The user of a portal session signed in at `signed_in_at`, if it still stands: the user
/// exists and is enabled, and their sessions were not ended since.
pub(crate) async fn portal_holder(
    pool: &PgPool,
    user_id: Uuid,
    signed_in_at: DateTime<Utc>,
) -> Result<Option<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email, u.role AS "role: Role", u.display_name, u.disabled, u.max_keys,
                  u.allowed_scopes, u.may_change_limits, u.max_quota_limit,
                  u.max_quota_period AS "max_quota_period: QuotaPeriod", u.max_rate_limit,
                  u.max_rate_window_secs, u.max_key_lifetime_secs, u.created_at,
                  u.last_login_at
           FROM users u
           WHERE u.id = $1 AND NOT u.disabled
             AND (u.sessions_valid_after IS NULL OR $2 > u.sessions_valid_after)"#,
        user_id,
        signed_in_at,
    )
    .fetch_optional(pool)
    .await?
    .map(User::from))
}

/// What [`end_all_sessions`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Refresh-token families revoked.
    pub refresh_families: i64,
    /// Portal sessions deleted.
    pub portal_sessions: i64,
}

/// Ends every session of `user_id` in the caller's transaction: tokens and portal
/// sessions issued up to `now` stop working, and stay refused after re-enabling.
pub(crate) async fn end_all_sessions(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Ended> {
    sqlx::query!(
        "UPDATE users SET sessions_valid_after = $2 WHERE id = $1",
        user_id,
        now
    )
    .execute(&mut *conn)
    .await?;
    let refresh_families = sqlx::query_scalar!(
        r#"WITH revoked AS (
               UPDATE refresh_tokens SET revoked_at = $2
               WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
               RETURNING family_id)
           SELECT count(DISTINCT family_id) AS "n!" FROM revoked"#,
        user_id,
        now
    )
    .fetch_one(&mut *conn)
    .await?;
    let portal_sessions = sqlx::query!(
        "DELETE FROM tower_sessions.session WHERE user_id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(Ended {
        refresh_families,
        portal_sessions: i64::try_from(portal_sessions).unwrap_or(i64::MAX),
    })
}
