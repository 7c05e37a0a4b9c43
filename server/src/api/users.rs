//! `/v1/users` (admin; auditors read) and `/v1/me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use locksmith_core::identity::users::User;
use locksmith_core::identity::{NewUserInput, Role, UserPatchInput};
use locksmith_core::key_limits::{QuotaSpec, RateLimit};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{ApiJson, ApiQuery, Page, PageParams, RequestOrigin, nullable};
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique, case-insensitively.
    #[schema(max_length = 254, format = Email)]
    email: String,
    /// At least 12 characters, not a common password.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 256)]
    password: SecretString,
    /// What the user may do.
    role: Role,
    /// A name to show.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    display_name: Option<String>,
    /// Owner policy: most live keys (absent or null: no limit).
    #[schema(minimum = 0, maximum = 1000000)]
    max_keys: Option<i64>,
    /// Owner policy: scopes their keys may carry (absent or null: any).
    #[schema(max_items = 100, value_type = Option<std::collections::BTreeSet<crate::api::schema::ScopeName>>)]
    allowed_scopes: Option<Vec<String>>,
    /// Owner policy: whether the owner may set and change their keys' quota, rate limit
    /// and expiry, within the maxima (absent: false; an admin sets them).
    may_change_limits: Option<bool>,
    /// Owner policy: the largest quota their keys may have (of this period only), which
    /// new keys get (absent or null: no ceiling).
    max_quota: Option<QuotaSpec>,
    /// Owner policy: the largest rate limit their keys may have, which new keys get.
    max_rate_limit: Option<RateLimit>,
    /// Owner policy: how long a key may live from when its expiry is set; new keys
    /// expire after this long (absent or null: keys may never expire).
    #[schema(minimum = 60, maximum = 3_155_760_000_i64)]
    max_key_lifetime_seconds: Option<i64>,
}

/// `PATCH /v1/users/{id}` body: absent fields stay, `null` clears nullable ones.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role.
    role: Option<Role>,
    /// Disable (tokens and sessions stop working at once) or re-enable.
    disabled: Option<bool>,
    /// New name, or null to clear.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        nullable,
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    display_name: Option<Option<String>>,
    /// New key limit, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, minimum = 0, maximum = 1000000)]
    max_keys: Option<Option<i64>>,
    /// New allowed scopes, or null for any.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, max_items = 100, value_type = Option<std::collections::BTreeSet<crate::api::schema::ScopeName>>)]
    allowed_scopes: Option<Option<Vec<String>>>,
    /// Whether the owner may change their keys' quota, rate limit and expiry.
    may_change_limits: Option<bool>,
    /// New largest quota, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    max_quota: Option<Option<QuotaSpec>>,
    /// New largest rate limit, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    max_rate_limit: Option<Option<RateLimit>>,
    /// New longest key lifetime in seconds, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, minimum = 60, maximum = 3_155_760_000_i64)]
    max_key_lifetime_seconds: Option<Option<i64>>,
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "No such user.")
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/v1/users", tag = "users", operation_id = "createUser",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 409, description = "Email taken", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), Problem> {
    let new = NewUserInput {
        email: body.email,
        password: body.password,
        role: body.role,
        display_name: body.display_name,
        max_keys: body.max_keys,
        allowed_scopes: body.allowed_scopes,
        may_change_limits: body.may_change_limits,
        max_quota: body.max_quota,
        max_rate_limit: body.max_rate_limit,
        max_key_lifetime_seconds: body.max_key_lifetime_seconds,
    };
    let user = state.users.create(caller.actor(), new, &origin).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Lists users, oldest first (admin, auditor).
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "listUsers",
    params(PageParams),
    responses(
        (status = 200, description = "A page of users", body = Page<User>),
        (status = 403, description = "Not an admin or auditor", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<User>>, Problem> {
    let limit = page.limit()?;
    let items = state
        .users
        .list(caller.actor(), page.cursor::<Uuid>()?, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |u| u.id.to_string())))
}

/// One user (admin, auditor, or the user themselves).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", operation_id = "getUser",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user, or not visible", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    Ok(Json(state.users.get(caller.actor(), id).await?))
}

/// Changes a user (admin).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", operation_id = "updateUser",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 404, description = "No such user", body = crate::http::problem::ProblemBody),
        (status = 409, description = "Would disable or demote yourself", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<User>, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let patch = UserPatchInput {
        role: body.role,
        disabled: body.disabled,
        display_name: body.display_name,
        max_keys: body.max_keys,
        allowed_scopes: body.allowed_scopes,
        may_change_limits: body.may_change_limits,
        max_quota: body.max_quota,
        max_rate_limit: body.max_rate_limit,
        max_key_lifetime_seconds: body.max_key_lifetime_seconds,
    };
    let user = state
        .users
        .update(caller.actor(), id, patch, &origin)
        .await
        .map_err(|e| match e {
            locksmith_core::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(Json(user))
}

/// The caller.
#[utoipa::path(get, path = "/v1/me", tag = "users", operation_id = "getMe",
    responses((status = 200, description = "The caller", body = User)),
    security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<User>, Problem> {
    Ok(Json(state.users.get(caller.actor(), caller.id).await?))
}

/// The caller's notification preference.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notifications {
    /// Emails about the caller's keys (expiring, expired, still used at the end of a
    /// rotation's grace, revoked by someone else, quota at 80% and 100%) and, for admins,
    /// switched-off webhook endpoints.
    email: bool,
    /// Whether this installation sends emails at all (`LOCKSMITH_SMTP_URL`).
    available: bool,
}

/// `PUT /v1/me/notifications` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetNotifications {
    /// Emails about the caller's keys: on or off.
    email: bool,
}

/// The caller's notification preference.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "users", operation_id = "getMyNotifications",
    responses((status = 200, description = "The preference", body = Notifications)),
    security(("bearer" = [])))]
pub async fn my_notifications(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Notifications>, Problem> {
    Ok(Json(Notifications {
        email: state.notifications.preference(caller.actor()).await?,
        available: state.notifications.available(),
    }))
}

/// Sets the caller's notification preference (audited).
#[utoipa::path(put, path = "/v1/me/notifications", tag = "users", operation_id = "setMyNotifications",
    request_body = SetNotifications,
    responses(
        (status = 200, description = "The preference as set", body = Notifications),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn set_my_notifications(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<SetNotifications>,
) -> Result<Json<Notifications>, Problem> {
    Ok(Json(Notifications {
        email: state
            .notifications
            .set_preference(caller.actor(), body.email, &origin)
            .await?,
        available: state.notifications.available(),
    }))
}
