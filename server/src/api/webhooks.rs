//! `/v1/webhooks`: subscriptions to Locksmith's events, their secrets and delivery logs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use locksmith_core::webhooks::{
    CreatedWebhook, Delivery, DeliveryStatus, NewWebhookInput, Webhook, WebhookPatch,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{
    ApiJson, ApiQuery, OptionalJson, Page, PageParams, RequestOrigin, nullable, page_limit, path_id,
};
use super::no_store::NoStore;
use crate::auth::AuthUser;
use crate::http::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// `POST /v1/webhooks` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `https://` (or `http://` outside production), at
    /// most 2000 characters, no credentials, no fragment. Private and loopback
    /// addresses are refused unless `LOCKSMITH_WEBHOOK_ALLOW_PRIVATE=true`.
    #[schema(
        max_length = 2000,
        format = "uri",
        pattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/(%[0-9A-Fa-f]{2}|[A-Za-z0-9._~:/?!$&'()*+,;=-])*)?$"
    )]
    url: String,
    /// For people: at most 500 characters, no control characters but line breaks.
    #[schema(max_length = 500, pattern = "^[^\\x00-\\x09\\x0B-\\x1F\\x7F-\\x9F]*$")]
    description: Option<String>,
    /// The event types to receive (see the `webhooks` section); absent: every type.
    /// Owners' endpoints receive key events of their own keys only.
    #[schema(min_items = 1, value_type = Option<Vec<crate::api::schema::EventType>>)]
    events: Option<Vec<String>>,
    /// Only events of this keyspace.
    keyspace_id: Option<Uuid>,
}

/// `PATCH /v1/webhooks/{id}` body: absent fields are left as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(
        max_length = 2000,
        format = "uri",
        pattern = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/(%[0-9A-Fa-f]{2}|[A-Za-z0-9._~:/?!$&'()*+,;=-])*)?$"
    )]
    url: Option<String>,
    #[schema(max_length = 500, pattern = "^[^\\x00-\\x09\\x0B-\\x1F\\x7F-\\x9F]*$")]
    description: Option<String>,
    /// New event types, or `null` for every type.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable, min_items = 1, value_type = Option<Vec<crate::api::schema::EventType>>)]
    events: Option<Option<Vec<String>>>,
    /// A keyspace, or `null` for every keyspace.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    keyspace_id: Option<Option<Uuid>>,
    /// Switch deliveries on or off. Switching on clears `disabled_reason`; deliveries
    /// that were pending resume.
    enabled: Option<bool>,
}

/// `POST /v1/webhooks/{id}/rotate-secret` body (may be left out).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long deliveries are also signed with the old secret: 0 to 604800 seconds
    /// (a week), default 86400 (a day).
    #[schema(minimum = 0, maximum = 604_800)]
    overlap_seconds: Option<i64>,
}

/// `POST /v1/webhooks/{id}/replay` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Every event the endpoint subscribes to since this time (RFC 3339) is sent again.
    since: DateTime<Utc>,
}

/// The answer of a test.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The `webhook.test` event's id: its delivery shows in the log under it.
    event_id: Uuid,
}

/// The answer of a replay.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Deliveries queued.
    queued: u64,
}

/// `GET /v1/webhooks/{id}/deliveries` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveries {
    /// Only deliveries with this status.
    status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Where the previous page ended.
    cursor: Option<String>,
}

/// Creates an endpoint (admins: installation endpoints, every event; owners: events of
/// their own keys). The signing secret is in this answer only.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "createWebhook",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; `secret` is shown only in this answer", body = CreatedWebhook),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Auditors do not create endpoints; owners have at most 10; the URL names a private address, or is http:// in production", body = ProblemBody),
        (status = 404, description = "No such keyspace", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<NoStore<CreatedWebhook>, Problem> {
    let input = NewWebhookInput {
        url: body.url,
        description: body.description,
        events: body.events,
        keyspace_id: body.keyspace_id,
    };
    let created = state
        .webhooks
        .create(caller.actor(), input, &origin)
        .await?;
    Ok(NoStore(StatusCode::CREATED, created))
}

/// The endpoints the caller may see, oldest first (owners: their own).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    params(PageParams),
    responses((status = 200, description = "A page of endpoints", body = Page<Webhook>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Page<Webhook>>, Problem> {
    let limit = page.limit()?;
    let items = state
        .webhooks
        .list(caller.actor(), page.cursor::<Uuid>()?, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |w| w.id.to_string())))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "getWebhook",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = Webhook),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, Problem> {
    Ok(Json(
        state.webhooks.get(caller.actor(), path_id(&id)?).await?,
    ))
}

/// Changes an endpoint (admins: any; owners: their own).
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "updateWebhook",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The endpoint as changed", body = Webhook),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Auditors do not change endpoints; the URL names a private address, or is http:// in production", body = ProblemBody),
        (status = 404, description = "No such endpoint (or not yours), or no such keyspace", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateWebhook>,
) -> Result<Json<Webhook>, Problem> {
    let patch = WebhookPatch {
        url: body.url,
        description: body.description,
        events: body.events,
        keyspace_id: body.keyspace_id,
        enabled: body.enabled,
    };
    Ok(Json(
        state
            .webhooks
            .update(caller.actor(), path_id(&id)?, patch, &origin)
            .await?,
    ))
}

/// Deletes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Auditors do not delete endpoints", body = ProblemBody),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .webhooks
        .delete(caller.actor(), path_id(&id)?, &origin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret (shown in this answer only). During the overlap,
/// deliveries carry a signature with each secret.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", operation_id = "rotateWebhookSecret",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = RotateSecret,
    responses(
        (status = 200, description = "The endpoint with its new `secret`, shown only here", body = CreatedWebhook),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Auditors do not rotate secrets", body = ProblemBody),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateSecret>,
) -> Result<NoStore<CreatedWebhook>, Problem> {
    let rotated = state
        .webhooks
        .rotate_secret(caller.actor(), path_id(&id)?, body.overlap_seconds, &origin)
        .await?;
    Ok(NoStore(StatusCode::OK, rotated))
}

/// Sends a `webhook.test` event to this endpoint alone.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks", operation_id = "testWebhook",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued; the delivery shows in the log", body = TestSent),
        (status = 403, description = "Auditors do not send tests", body = ProblemBody),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
        (status = 409, description = "The endpoint is disabled", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestSent>), Problem> {
    let event_id = state
        .webhooks
        .test(caller.actor(), path_id(&id)?, &origin)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TestSent { event_id })))
}

/// Sends every event since a time again (those the endpoint subscribes to).
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "webhooks", operation_id = "replayWebhook",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = Replay,
    responses(
        (status = 202, description = "Queued", body = Replayed),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Auditors do not replay", body = ProblemBody),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<(StatusCode, Json<Replayed>), Problem> {
    let queued = state
        .webhooks
        .replay(caller.actor(), path_id(&id)?, body.since, &origin)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { queued })))
}

/// The endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    params(("id" = Uuid, Path, description = "Endpoint id"), ListDeliveries),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Delivery>),
        (status = 404, description = "No such endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListDeliveries>,
) -> Result<Json<Page<Delivery>>, Problem> {
    let limit = page_limit(query.limit)?;
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let items = state
        .webhooks
        .deliveries(
            caller.actor(),
            path_id(&id)?,
            query.status,
            page.cursor::<Uuid>()?,
            limit,
        )
        .await?;
    Ok(Json(Page::new(items, limit, |d| d.id.to_string())))
}

/// Sends a delivery again now.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks", operation_id = "retryWebhookDelivery",
    params(
        ("id" = Uuid, Path, description = "Endpoint id"),
        ("delivery_id" = Uuid, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued", body = Delivery),
        (status = 403, description = "Auditors do not redeliver", body = ProblemBody),
        (status = 404, description = "No such delivery of this endpoint, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Delivery>), Problem> {
    let delivery = state
        .webhooks
        .retry(
            caller.actor(),
            path_id(&id)?,
            path_id(&delivery_id)?,
            &origin,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
