//! `/v1/users` (admin; auditors read) and `/v1/me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use locksmith_core::identity::users::{
    self, DisplayName, NewUser, User, UserPatch, parse_max_keys,
};
use locksmith_core::identity::{Email, Password, Role, admin};
use locksmith_core::scope::Scope;
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

fn invalid(e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "No such user.")
}

/// Parses the creation body into a validated `NewUser` (hashing the password).
pub async fn parse_new_user(body: CreateUser) -> Result<NewUser, Problem> {
    let email = Email::parse(&body.email).map_err(invalid)?;
    let password = Password::parse(body.password, Some(&email)).map_err(invalid)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()?;
    let max_keys = body.max_keys.map(parse_max_keys).transpose()?;
    let allowed_scopes = body
        .allowed_scopes
        .as_deref()
        .map(|s| Scope::parse_list("allowed_scopes", s))
        .transpose()?;
    Ok(NewUser {
        email,
        password: password.hash().await,
        role: body.role,
        display_name,
        max_keys,
        allowed_scopes,
    })
}

/// Creates a user (admin).
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), Problem> {
    caller.require_admin()?;
    let new = parse_new_user(body).await?;
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
    let patch = UserPatch {
        role: body.role,
        disabled: body.disabled,
        display_name: body
            .display_name
            .map(|d| d.as_deref().map(DisplayName::parse).transpose())
            .transpose()?,
        max_keys: body
            .max_keys
            .map(|m| m.map(parse_max_keys).transpose())
            .transpose()?,
        allowed_scopes: body
            .allowed_scopes
            .map(|s| {
                s.as_deref()
                    .map(|s| Scope::parse_list("allowed_scopes", s))
                    .transpose()
            })
            .transpose()?,
    };
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
