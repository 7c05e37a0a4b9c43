//! The users repository.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Email, PasswordHash, Role};
use crate::error::{Error, Result, is_unique_violation};
use crate::key_limits::{OwnerKeyLimits, QuotaPeriod, QuotaSpec, RateLimit};
use crate::scope::Scope;

/// A user as the API shows it. Holds no secret: safe for audit rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The id; the JWT `sub`.
    pub id: Uuid,
    /// As typed at creation.
    pub email: String,
    /// What the user may do.
    pub role: Role,
    /// A name to show.
    pub display_name: Option<String>,
    /// Disabled users cannot sign in, and their tokens stop working.
    pub disabled: bool,
    /// Owner policy: most keys they may hold (`None`: no limit).
    pub max_keys: Option<i32>,
    /// Owner policy: scopes they may give their keys (`None`: any).
    pub allowed_scopes: Option<Vec<String>>,
    /// Owner policy: whether they may set their keys' quota, rate limit and expiry
    /// (within the maxima below). When not, an admin sets them and the owner sees them.
    pub may_change_limits: bool,
    /// Owner policy: the largest quota their keys may have (of this period only), and the
    /// quota a new key of theirs gets (`None`: no ceiling).
    pub max_quota: Option<QuotaSpec>,
    /// Owner policy: the largest rate limit their keys may have, and what a new key gets.
    pub max_rate_limit: Option<RateLimit>,
    /// Owner policy: how long their keys may live from when their expiry is set; a new
    /// key expires after this long (`None`: keys may never expire).
    pub max_key_lifetime_seconds: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    /// The ceiling on this user's keys, as the owner policy sets it.
    pub fn key_limits(&self) -> OwnerKeyLimits {
        OwnerKeyLimits {
            may_change: self.may_change_limits,
            max_quota: self.max_quota,
            max_rate_limit: self.max_rate_limit,
            max_lifetime_seconds: self.max_key_lifetime_seconds,
        }
    }
}

/// A `users` row as selected: the policy's limits in their columns.
#[derive(Debug)]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) role: Role,
    pub(crate) display_name: Option<String>,
    pub(crate) disabled: bool,
    pub(crate) max_keys: Option<i32>,
    pub(crate) allowed_scopes: Option<Vec<String>>,
    pub(crate) may_change_limits: bool,
    pub(crate) max_quota_limit: Option<i64>,
    pub(crate) max_quota_period: Option<QuotaPeriod>,
    pub(crate) max_rate_limit: Option<i32>,
    pub(crate) max_rate_window_secs: Option<i32>,
    pub(crate) max_key_lifetime_secs: Option<i64>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_login_at: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            email: r.email,
            role: r.role,
            display_name: r.display_name,
            disabled: r.disabled,
            max_keys: r.max_keys,
            allowed_scopes: r.allowed_scopes,
            may_change_limits: r.may_change_limits,
            max_quota: r
                .max_quota_limit
                .zip(r.max_quota_period)
                .map(|(limit, period)| QuotaSpec { limit, period }),
            max_rate_limit: r.max_rate_limit.zip(r.max_rate_window_secs).map(
                |(limit, window_seconds)| RateLimit {
                    limit,
                    window_seconds,
                },
            ),
            max_key_lifetime_seconds: r.max_key_lifetime_secs,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
        }
    }
}

/// A user to create; every field already validated.
#[derive(Debug)]
pub(crate) struct NewUser {
    /// Unique case-insensitively.
    pub email: Email,
    /// The argon2id hash.
    pub password: PasswordHash,
    /// The role.
    pub role: Role,
    /// A name to show.
    pub display_name: Option<DisplayName>,
    /// Owner policy.
    pub max_keys: Option<i32>,
    /// Owner policy.
    pub allowed_scopes: Option<Vec<Scope>>,
    /// Owner policy: the ceiling on their keys' limits.
    pub key_limits: OwnerKeyLimits,
}

/// A display name: 1 to 200 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name.
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid(
                "display_name",
                "must be 1 to 200 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "display_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

/// Validates an owner's key limit.
pub(crate) fn parse_max_keys(raw: i64) -> Result<i32> {
    i32::try_from(raw)
        .ok()
        .filter(|n| (0..=1_000_000).contains(n))
        .ok_or_else(|| Error::invalid("max_keys", "must be between 0 and 1000000, or null"))
}

/// Changes to a user; `None` leaves a field alone, `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub(crate) struct UserPatch {
    /// New role.
    pub role: Option<Role>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
    /// New display name, or cleared.
    pub display_name: Option<Option<DisplayName>>,
    /// New key limit, or no limit.
    pub max_keys: Option<Option<i32>>,
    /// New allowed scopes, or any.
    pub allowed_scopes: Option<Option<Vec<Scope>>>,
    /// Whether the owner may change their keys' limits.
    pub may_change_limits: Option<bool>,
    /// New largest quota, or none.
    pub max_quota: Option<Option<QuotaSpec>>,
    /// New largest rate limit, or none.
    pub max_rate_limit: Option<Option<RateLimit>>,
    /// New longest lifetime, or none.
    pub max_key_lifetime_seconds: Option<Option<i64>>,
}

fn scopes_to_strings(scopes: Option<Vec<Scope>>) -> Option<Vec<String>> {
    scopes.map(|s| s.into_iter().map(String::from).collect())
}

/// Inserts a user in the caller's transaction; a taken email is a `Conflict`.
pub(crate) async fn create(conn: &mut PgConnection, new: NewUser) -> Result<User> {
    let allowed_scopes = scopes_to_strings(new.allowed_scopes);
    let limits = new.key_limits;
    sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (email, password_hash, role, display_name, max_keys, allowed_scopes,
                              may_change_limits, max_quota_limit, max_quota_period,
                              max_rate_limit, max_rate_window_secs, max_key_lifetime_secs)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           RETURNING id, email, role AS "role: Role", display_name, disabled, max_keys,
                     allowed_scopes, may_change_limits, max_quota_limit,
                     max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                     max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at"#,
        new.email.as_str(),
        new.password.as_str(),
        new.role as Role,
        new.display_name.map(|d| d.0),
        new.max_keys,
        allowed_scopes.as_deref(),
        limits.may_change,
        limits.max_quota.map(|q| q.limit),
        limits.max_quota.map(|q| q.period) as Option<QuotaPeriod>,
        limits.max_rate_limit.map(|r| r.limit),
        limits.max_rate_limit.map(|r| r.window_seconds),
        limits.max_lifetime_seconds,
    )
    .fetch_one(conn)
    .await
    .map(User::from)
    .map_err(|e| {
        if is_unique_violation(&e, "users_email_lower_key") {
            Error::Conflict("email: a user with this email already exists".into())
        } else {
            e.into()
        }
    })
}

/// One user by id.
pub(crate) async fn find(pool: &PgPool, id: Uuid) -> Result<Option<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT id, email, role AS "role: Role", display_name, disabled, max_keys,
                  allowed_scopes, may_change_limits, max_quota_limit,
                  max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                  max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .map(User::from))
}

/// What a sign-in checks: the stored hash and whether the account is disabled.
#[derive(Debug)]
pub(crate) struct Credentials {
    /// The user.
    pub id: Uuid,
    /// The stored argon2 hash.
    pub password_hash: String,
    /// A disabled account cannot sign in.
    pub disabled: bool,
}

/// The credentials of the account with this email (case-insensitively).
pub(crate) async fn credentials(pool: &PgPool, email: &Email) -> Result<Option<Credentials>> {
    Ok(sqlx::query_as!(
        Credentials,
        "SELECT id, password_hash, disabled FROM users WHERE lower(email) = lower($1)",
        email.as_str()
    )
    .fetch_optional(pool)
    .await?)
}

/// The id of the account with this email, if any.
pub(crate) async fn id_by_email(conn: &mut PgConnection, email: &Email) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM users WHERE lower(email) = lower($1)",
        email.as_str()
    )
    .fetch_optional(conn)
    .await?)
}

/// Records a successful sign-in.
pub(crate) async fn record_login(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!("UPDATE users SET last_login_at = $2 WHERE id = $1", id, at)
        .execute(conn)
        .await?;
    Ok(())
}

/// One user by id, locked for the rest of the caller's transaction (serialises changes
/// that check an owner's policy, such as creating keys against `max_keys`). `NO KEY
/// UPDATE` leaves the row's key alone, so foreign-key checks of other transactions (keys
/// inserted for this owner) are not blocked by it.
pub(crate) async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT id, email, role AS "role: Role", display_name, disabled, max_keys,
                  allowed_scopes, may_change_limits, max_quota_limit,
                  max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                  max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at
           FROM users WHERE id = $1 FOR NO KEY UPDATE"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .map(User::from))
}

/// The users among `ids` whose role is `owner` (whose keys a policy binds).
pub(crate) async fn owners_among(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT id, email, role AS "role: Role", display_name, disabled, max_keys,
                  allowed_scopes, may_change_limits, max_quota_limit,
                  max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                  max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at
           FROM users WHERE id = ANY($1) AND role = 'owner'"#,
        ids
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(User::from)
    .collect())
}

/// Which of `ids` name existing users.
pub(crate) async fn existing(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM users WHERE id = ANY($1)", ids)
            .fetch_all(conn)
            .await?,
    )
}

/// The emails of the users among `ids` (for showing owners and actors by name).
pub(crate) async fn emails(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!("SELECT id, email FROM users WHERE id = ANY($1)", ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.email)).collect())
}

/// A page of users, oldest first; `after` is the id of the last user of the previous page.
pub(crate) async fn list(pool: &PgPool, after: Option<Uuid>, limit: i64) -> Result<Vec<User>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT id, email, role AS "role: Role", display_name, disabled, max_keys,
                  allowed_scopes, may_change_limits, max_quota_limit,
                  max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                  max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at
           FROM users
           WHERE $1::uuid IS NULL
              OR (created_at, id) > (SELECT created_at, id FROM users WHERE id = $1)
           ORDER BY created_at, id
           LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(User::from)
    .collect())
}

/// Whether any user exists (to tell a new installation how to create the first admin).
pub(crate) async fn any_exists(pool: &PgPool) -> Result<bool> {
    Ok(
        sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users) AS "exists!""#)
            .fetch_one(pool)
            .await?,
    )
}

/// Applies `patch` in the caller's transaction; returns the user before and after.
pub(crate) async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    patch: UserPatch,
) -> Result<(User, User)> {
    let before = lock(&mut *conn, id).await?.ok_or(Error::NotFound)?;
    let role = patch.role.unwrap_or(before.role);
    let disabled = patch.disabled.unwrap_or(before.disabled);
    let display_name = match patch.display_name {
        Some(name) => name.map(|d| d.0),
        None => before.display_name.clone(),
    };
    let max_keys = patch.max_keys.unwrap_or(before.max_keys);
    let allowed_scopes = match patch.allowed_scopes {
        Some(scopes) => scopes_to_strings(scopes),
        None => before.allowed_scopes.clone(),
    };
    let limits = OwnerKeyLimits {
        may_change: patch.may_change_limits.unwrap_or(before.may_change_limits),
        max_quota: patch.max_quota.unwrap_or(before.max_quota),
        max_rate_limit: patch.max_rate_limit.unwrap_or(before.max_rate_limit),
        max_lifetime_seconds: patch
            .max_key_lifetime_seconds
            .unwrap_or(before.max_key_lifetime_seconds),
    };
    let after = sqlx::query_as!(
        UserRow,
        r#"UPDATE users
           SET role = $2, disabled = $3, display_name = $4, max_keys = $5, allowed_scopes = $6,
               may_change_limits = $7, max_quota_limit = $8, max_quota_period = $9,
               max_rate_limit = $10, max_rate_window_secs = $11, max_key_lifetime_secs = $12,
               updated_at = now()
           WHERE id = $1
           RETURNING id, email, role AS "role: Role", display_name, disabled, max_keys,
                     allowed_scopes, may_change_limits, max_quota_limit,
                     max_quota_period AS "max_quota_period: QuotaPeriod", max_rate_limit,
                     max_rate_window_secs, max_key_lifetime_secs, created_at, last_login_at"#,
        id,
        role as Role,
        disabled,
        display_name,
        max_keys,
        allowed_scopes.as_deref(),
        limits.may_change,
        limits.max_quota.map(|q| q.limit),
        limits.max_quota.map(|q| q.period) as Option<QuotaPeriod>,
        limits.max_rate_limit.map(|r| r.limit),
        limits.max_rate_limit.map(|r| r.window_seconds),
        limits.max_lifetime_seconds,
    )
    .fetch_one(&mut *conn)
    .await?
    .into();
    Ok((before, after))
}
