//! `/v1/keyspaces` and their verifiers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use locksmith_core::keys::{CreatedVerifier, Keyspace, KeyspaceChanges, VerifierView};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{ApiJson, ApiQuery, Page, PageParams, RequestOrigin, path_id};
use super::no_store::NoStore;
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// `POST /v1/keyspaces` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyspace {
    /// A unique name, 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: String,
    /// 2 to 12 characters of `[a-z0-9]`, unique; every key starts with `<prefix>_`.
    #[schema(pattern = "^[a-z0-9]{2,12}$")]
    prefix: String,
    /// The request header a proxy in front of the keyspace's service finds keys in
    /// (`GET /v1/authz`), `x-api-key` when absent; `authorization` means
    /// `Authorization: Bearer <key>`.
    #[schema(value_type = Option<crate::api::schema::KeyHeader>)]
    key_header: Option<String>,
}

/// `PATCH /v1/keyspaces/{id}` body: the settings to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyspace {
    /// The request header a proxy finds keys in (`GET /v1/authz`); `authorization`
    /// means `Authorization: Bearer <key>`.
    #[schema(value_type = Option<crate::api::schema::KeyHeader>)]
    key_header: Option<String>,
    /// What happens to a key reported as leaked: `notify` (default), `disable` or
    /// `revoke`.
    leak_action: Option<locksmith_core::findings::LeakAction>,
    /// What happens to a key with a high-severity unusual-use finding: `notify`
    /// (default) or `disable`.
    anomaly_action: Option<locksmith_core::findings::AnomalyAction>,
}

/// `POST /v1/keyspaces/{id}/verifiers` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVerifier {
    /// A name for people, e.g. the service that will call `/v1/verify`: 1 to 100
    /// characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: String,
}

/// Creates a keyspace (admin).
#[utoipa::path(post, path = "/v1/keyspaces", tag = "keyspaces", operation_id = "createKeyspace",
    request_body = CreateKeyspace,
    responses(
        (status = 201, description = "Created", body = Keyspace),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 409, description = "Name or prefix taken", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateKeyspace>,
) -> Result<(StatusCode, Json<Keyspace>), Problem> {
    let keyspace = state
        .keyspaces
        .create(
            caller.actor(),
            &body.name,
            &body.prefix,
            body.key_header.as_deref(),
            &origin,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(keyspace)))
}

/// Lists keyspaces, oldest first (every role: owners choose one when creating a key).
#[utoipa::path(get, path = "/v1/keyspaces", tag = "keyspaces", operation_id = "listKeyspaces",
    params(PageParams),
    responses((status = 200, description = "A page of keyspaces", body = Page<Keyspace>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Keyspace>>, Problem> {
    let limit = page.limit()?;
    let items = state
        .keyspaces
        .list(caller.actor(), page.cursor::<Uuid>()?, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |k| k.id.to_string())))
}

/// One keyspace.
#[utoipa::path(get, path = "/v1/keyspaces/{id}", tag = "keyspaces", operation_id = "getKeyspace",
    params(("id" = Uuid, Path, description = "Keyspace id")),
    responses(
        (status = 200, description = "The keyspace", body = Keyspace),
        (status = 404, description = "No such keyspace", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Keyspace>, Problem> {
    Ok(Json(
        state.keyspaces.get(caller.actor(), path_id(&id)?).await?,
    ))
}

/// Changes a keyspace's settings (admin). Proxies use the new header from the next
/// request on, on every instance.
#[utoipa::path(patch, path = "/v1/keyspaces/{id}", tag = "keyspaces", operation_id = "updateKeyspace",
    params(("id" = Uuid, Path, description = "Keyspace id")),
    request_body = UpdateKeyspace,
    responses(
        (status = 200, description = "The keyspace as it is now", body = Keyspace),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 404, description = "No such keyspace", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateKeyspace>,
) -> Result<Json<Keyspace>, Problem> {
    let changes = KeyspaceChanges {
        key_header: body.key_header,
        leak_action: body.leak_action,
        anomaly_action: body.anomaly_action,
    };
    let keyspace = state
        .keyspaces
        .update(caller.actor(), path_id(&id)?, &changes, &origin)
        .await?;
    Ok(Json(keyspace))
}

/// Issues a verifier token for this keyspace (admin). The token is shown only here.
#[utoipa::path(post, path = "/v1/keyspaces/{id}/verifiers", tag = "keyspaces", operation_id = "createVerifier",
    params(("id" = Uuid, Path, description = "Keyspace id")),
    request_body = CreateVerifier,
    responses(
        (status = 201, description = "Created; `token` is shown only in this response", body = CreatedVerifier),
        (status = 400, description = "Invalid field", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 404, description = "No such keyspace", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create_verifier(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateVerifier>,
) -> Result<NoStore<CreatedVerifier>, Problem> {
    let keyspace_id = path_id(&id)?;
    let created = state
        .keyspaces
        .create_verifier(caller.actor(), keyspace_id, &body.name, &origin)
        .await?;
    Ok(NoStore(StatusCode::CREATED, created))
}

/// The verifiers of a keyspace, revoked ones included (admin, auditor).
#[utoipa::path(get, path = "/v1/keyspaces/{id}/verifiers", tag = "keyspaces", operation_id = "listVerifiers",
    params(("id" = Uuid, Path, description = "Keyspace id")),
    responses(
        (status = 200, description = "Every verifier with its traffic (one page)", body = Page<VerifierView>),
        (status = 403, description = "Not an admin or auditor", body = crate::http::problem::ProblemBody),
        (status = 404, description = "No such keyspace", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list_verifiers(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Page<VerifierView>>, Problem> {
    let items = state
        .keyspaces
        .list_verifiers(caller.actor(), path_id(&id)?)
        .await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Revokes a verifier token (admin); idempotent.
#[utoipa::path(delete, path = "/v1/keyspaces/{id}/verifiers/{verifier_id}", tag = "keyspaces", operation_id = "revokeVerifier",
    params(
        ("id" = Uuid, Path, description = "Keyspace id"),
        ("verifier_id" = Uuid, Path, description = "Verifier id"),
    ),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 403, description = "Not an admin", body = crate::http::problem::ProblemBody),
        (status = 404, description = "No such verifier in this keyspace", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn revoke_verifier(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, verifier_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    state
        .keyspaces
        .revoke_verifier(
            caller.actor(),
            path_id(&id)?,
            path_id(&verifier_id)?,
            &origin,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
