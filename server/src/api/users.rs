//! `/v1/users` (admin; auditors read) and `/v1/me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use locksmith_core::identity::Role;
use locksmith_core::identity::admin::{self, NewUserInput, UserPatchInput};
use locksmith_core::identity::users::{self, User};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{ApiJson, ApiQuery, Page, PageParams, RequestOrigin, nullable};
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// `POST /v1/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    password: SecretString,
    role: Role,
    display_name: Option<String>,
    max_keys: Option<i64>,
    allowed_scopes: Option<Vec<String>>,
}

/// `PATCH /v1/users/{id}` body: absent fields stay, `null` clears nullable ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    role: Option<Role>,
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    max_keys: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    allowed_scopes: Option<Option<Vec<String>>>,
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "No such user.")
}

/// Creates a user (admin).
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), Problem> {
    caller.require_admin()?;
    let new = NewUserInput {
        email: body.email,
        password: body.password,
        role: body.role,
        display_name: body.display_name,
        max_keys: body.max_keys,
        allowed_scopes: body.allowed_scopes,
    }
    .validate()
    .await?;
    let user = admin::create_user(&state.pool, Some(caller.id), new, &origin).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Lists users, oldest first (admin, auditor).
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<User>>, Problem> {
    caller.require_reader()?;
    let limit = page.limit()?;
    let items = users::list(&state.pool, page.cursor::<Uuid>()?, limit).await?;
    Ok(Json(Page::new(items, limit, |u| u.id.to_string())))
}

/// One user (admin, auditor, or the user themselves).
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    if !caller.role.reads_everything() && caller.id != id {
        // An owner asking about someone else learns nothing, not even that they exist.
        return Err(not_found());
    }
    users::find(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// Changes a user (admin).
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<User>, Problem> {
    caller.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let patch = UserPatchInput {
        role: body.role,
        disabled: body.disabled,
        display_name: body.display_name,
        max_keys: body.max_keys,
        allowed_scopes: body.allowed_scopes,
    }
    .validate()?;
    let user = admin::update_user(&state.pool, caller.id, id, patch, &origin)
        .await
        .map_err(|e| match e {
            locksmith_core::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(Json(user))
}

/// The caller.
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<User>, Problem> {
    users::find(&state.pool, caller.id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}
