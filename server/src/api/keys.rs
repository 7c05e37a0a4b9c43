//! `/v1/keys`: create, list, get, change, revoke, rotate, and batches of create or revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use locksmith_core::error::ItemError;
use locksmith_core::keys::{
    BulkChange, CreatedKey, KeyCursor, KeyFilter, KeyPatchInput, KeySort, KeyStatus, KeyView,
    NewKeyInput, QuotaSpec, RateLimit, RotatedKey,
};
use locksmith_core::usage::recent::{LogFilter, VerificationLog};
use locksmith_core::usage::{Granularity, UsageBucket, UsageRange};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::extract::{
    ApiJson, ApiQuery, OptionalJson, Page, RequestOrigin, from_value_at_path, nullable, page_limit,
    path_id,
};
use super::no_store::NoStore;
use crate::auth::AuthUser;
use crate::http::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// `POST /v1/keys` body, and each item of a bulk create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The keyspace the key belongs to. (In a bulk create it may be left out, and must
    /// otherwise match the batch's `keyspace_id`.)
    #[schema(required = true, nullable = false)]
    keyspace_id: Option<Uuid>,
    /// 1 to 200 characters, stored verbatim; not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: String,
    /// The owner (admin only); the caller when absent.
    owner_id: Option<Uuid>,
    /// At most 100 distinct scopes, each 1 to 64 characters of `[a-z0-9:._/*-]` starting
    /// with a letter or digit.
    #[schema(max_items = 100, value_type = Option<std::collections::BTreeSet<crate::api::schema::ScopeName>>)]
    scopes: Option<Vec<String>>,
    /// When the key stops working; must be in the future.
    expires_at: Option<DateTime<Utc>>,
    /// At most 100 IPv4/IPv6 addresses and CIDR networks; absent or empty allows any
    /// address.
    #[schema(max_items = 100)]
    ip_allowlist: Option<Vec<String>>,
    /// At most `limit` credits per `period`.
    quota: Option<QuotaSpec>,
    /// At most `limit` verifications per `window_seconds`.
    rate_limit: Option<RateLimit>,
    /// A JSON object of at most 4 KiB, returned on verification.
    #[schema(value_type = Option<Object>)]
    meta: Option<Value>,
}

impl From<CreateKey> for NewKeyInput {
    fn from(f: CreateKey) -> Self {
        Self {
            name: f.name,
            owner_id: f.owner_id,
            scopes: f.scopes,
            expires_at: f.expires_at,
            ip_allowlist: f.ip_allowlist,
            quota: f.quota,
            rate_limit: f.rate_limit,
            meta: f.meta,
        }
    }
}

/// `GET /v1/keys` filters and pagination.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeys {
    /// Only keys of this keyspace.
    keyspace_id: Option<Uuid>,
    /// Only keys of this owner (owners always see only their own).
    owner_id: Option<Uuid>,
    /// Only keys with this status.
    status: Option<KeyStatus>,
    /// A case-insensitive substring of the name, or the beginning of `start`: 1 to 200
    /// characters, no control characters.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    q: Option<String>,
    /// Order: `name`, `created`, `last_used` or `expires`, ascending, or with a leading
    /// `-` descending (default `-created`, newest first). Ties are broken by id. A key never
    /// used counts as used longest ago; a key that never expires, as expiring last. A
    /// cursor belongs to the order it was made in.
    #[param(
        example = "-last_used",
        pattern = "^-?(name|created|last_used|expires)$"
    )]
    sort: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `PATCH /v1/keys/{id}` body: absent fields stay; `null` removes `expires_at`, `quota` or
/// `rate_limit`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// New name, 1 to 200 characters; not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: Option<String>,
    /// New scopes, replacing the old ones (at most 100).
    #[schema(max_items = 100, value_type = Option<std::collections::BTreeSet<crate::api::schema::ScopeName>>)]
    scopes: Option<Vec<String>>,
    /// New expiry (a past time expires the key at once), or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    expires_at: Option<Option<DateTime<Utc>>>,
    /// Switch the key on or off.
    enabled: Option<bool>,
    /// New allowlist, replacing the old one (at most 100; empty allows any address).
    #[schema(max_items = 100)]
    ip_allowlist: Option<Vec<String>>,
    /// New quota, or `null` for none. Usage is kept while the period stays the same.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    quota: Option<Option<QuotaSpec>>,
    /// New rate limit, or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    rate_limit: Option<Option<RateLimit>>,
    /// New metadata object, replacing the old one.
    #[schema(value_type = Option<Object>)]
    meta: Option<Value>,
}

/// `POST /v1/keys/{id}/revoke` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    /// Why, for the audit trail (at most 500 characters, no control characters).
    #[schema(max_length = 500, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    reason: Option<String>,
}

/// `POST /v1/keys/{id}/rotate` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working: 0 to 2592000 seconds (default 86400).
    #[schema(minimum = 0, maximum = 2592000)]
    grace_seconds: Option<i64>,
}

/// `POST /v1/keys/lookup` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupKey {
    /// The whole secret of a key.
    #[schema(value_type = String, format = Password, max_length = 100)]
    key: secrecy::SecretString,
}

/// `POST /v1/keys/{id}/grace/extend` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendGrace {
    /// How much later the grace period ends: 1 to 2592000 seconds, and it may end at most
    /// 30 days from now.
    #[schema(minimum = 1, maximum = 2592000)]
    seconds: i64,
}

/// `POST /v1/keys/bulk` body.
///
/// Read in two steps (`try_from`): serde cannot follow a field's path into an internally
/// tagged enum's variant, so a wrong `ids` would be refused without being named. The
/// `tag` and `rename_all` here are for the OpenAPI schema, which describes the same shape.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(
    tag = "action",
    rename_all = "lowercase",
    deny_unknown_fields,
    try_from = "serde_json::Map<String, serde_json::Value>"
)]
pub enum BulkRequest {
    /// Create up to 1000 keys in one keyspace.
    Create {
        /// The keyspace of every item.
        keyspace_id: Uuid,
        /// The keys (1 to 1000).
        #[schema(min_items = 1, max_items = 1000)]
        items: Vec<CreateKey>,
    },
    /// Revoke up to 1000 keys.
    Revoke {
        /// The keys' ids (1 to 1000).
        #[schema(min_items = 1, max_items = 1000, value_type = Vec<Uuid>)]
        ids: Vec<String>,
        /// Why, for the audit trail (at most 500 characters, no control characters).
        #[schema(max_length = 500, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
        reason: Option<String>,
    },
    /// Switch on up to 1000 keys.
    Enable {
        /// The keys' ids (1 to 1000).
        #[schema(min_items = 1, max_items = 1000, value_type = Vec<Uuid>)]
        ids: Vec<String>,
    },
    /// Switch off up to 1000 keys.
    Disable {
        /// The keys' ids (1 to 1000).
        #[schema(min_items = 1, max_items = 1000, value_type = Vec<Uuid>)]
        ids: Vec<String>,
    },
    /// Move the expiry of up to 1000 keys `days` later (from now for keys already
    /// expired); keys that never expire stay so.
    Extend {
        /// The keys' ids (1 to 1000).
        #[schema(min_items = 1, max_items = 1000, value_type = Vec<Uuid>)]
        ids: Vec<String>,
        /// 1 to 3650.
        #[schema(minimum = 1, maximum = 3650)]
        days: i64,
    },
}

/// The fields of a bulk `enable` or `disable`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkIdsFields {
    ids: Vec<String>,
}

/// The fields of a bulk `extend`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkExtendFields {
    ids: Vec<String>,
    days: i64,
}

/// The fields of a bulk `create`, read once `action` said which variant it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkCreateFields {
    keyspace_id: Uuid,
    items: Vec<CreateKey>,
}

/// The fields of a bulk `revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkRevokeFields {
    ids: Vec<String>,
    reason: Option<String>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for BulkRequest {
    type Error = String;

    fn try_from(mut body: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let action = body
            .remove("action")
            .ok_or_else(|| "missing field `action`".to_owned())?;
        let fields = serde_json::Value::Object(body);
        match action.as_str() {
            Some("create") => from_value_at_path(fields)
                .map(|BulkCreateFields { keyspace_id, items }| Self::Create { keyspace_id, items }),
            Some("revoke") => from_value_at_path(fields)
                .map(|BulkRevokeFields { ids, reason }| Self::Revoke { ids, reason }),
            Some("enable") => {
                from_value_at_path(fields).map(|BulkIdsFields { ids }| Self::Enable { ids })
            }
            Some("disable") => {
                from_value_at_path(fields).map(|BulkIdsFields { ids }| Self::Disable { ids })
            }
            Some("extend") => from_value_at_path(fields)
                .map(|BulkExtendFields { ids, days }| Self::Extend { ids, days }),
            _ => Err(
                "action: must be \"create\", \"revoke\", \"enable\", \"disable\" or \"extend\""
                    .to_owned(),
            ),
        }
    }
}

/// `POST /v1/keys/bulk` answer for `create`: each key with its secret, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkCreated {
    /// The created keys, each with its secret (shown only here).
    items: Vec<CreatedKey>,
}

/// `POST /v1/keys/bulk` answer for `revoke`, `enable`, `disable` and `extend`: each key as
/// it is now, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkRevoked {
    /// The keys.
    items: Vec<KeyView>,
}

/// Creates a key. The secret (`key`) is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", operation_id = "createKey",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `key` is the secret, shown only here", body = CreatedKey),
        (status = 400, description = "Invalid field (named in `detail`)", body = ProblemBody),
        (status = 403, description = "Beyond the owner's policy, or an auditor", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<NoStore<CreatedKey>, Problem> {
    let keyspace_id = body
        .keyspace_id
        .ok_or_else(|| locksmith_core::Error::invalid("keyspace_id", "is required"))?;
    let created = state
        .keys
        .create(caller.actor(), keyspace_id, body.into(), &origin)
        .await?;
    Ok(NoStore(StatusCode::CREATED, created))
}

/// Lists the keys the caller may see, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", operation_id = "listKeys",
    params(ListKeys),
    responses(
        (status = 200, description = "A page of keys", body = Page<KeyView>),
        (status = 400, description = "Invalid parameter", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<ListKeys>,
) -> Result<Json<Page<KeyView>>, Problem> {
    let limit = page_limit(query.limit)?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<KeyCursor>().map_err(|()| {
                Problem::from(locksmith_core::Error::invalid(
                    "cursor",
                    "not a cursor from a previous page",
                ))
            })
        })
        .transpose()?;
    let sort = query
        .sort
        .as_deref()
        .map(str::parse::<KeySort>)
        .transpose()?
        .unwrap_or_default();
    let filter = KeyFilter {
        keyspace_id: query.keyspace_id,
        owner_id: query.owner_id,
        status: query.status,
        q: query.q,
        sort,
        live_only: false,
    };
    let items = state
        .keys
        .list(caller.actor(), filter, cursor, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |k| {
        KeyCursor::after(k, sort).to_string()
    })))
}

/// One key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", operation_id = "getKey",
    params(("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    Ok(Json(state.keys.get(caller.actor(), path_id(&id)?).await?))
}

/// `GET /v1/keys/{id}/usage` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Start (RFC 3339), rounded down to its bucket; default: a day (hours) or 30 days
    /// (days) before `to`.
    from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default: the end of the current bucket.
    to: Option<DateTime<Utc>>,
    /// `hour` (default; at most 2208 buckets) or `day` (at most 731), in UTC.
    granularity: Option<Granularity>,
}

/// The usage series of a key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageSeries {
    /// Every bucket of the range, oldest first, zeros included. Counts reach the
    /// database within about a second of the verification.
    series: Vec<UsageBucket>,
}

/// Verifications of a key by outcome over time.
#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "keys", operation_id = "getKeyUsage",
    params(("id" = Uuid, Path, description = "Key id"), UsageQuery),
    responses(
        (status = 200, description = "Counts by bucket and outcome", body = UsageSeries),
        (status = 400, description = "Invalid range or granularity", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<UsageSeries>, Problem> {
    let range = UsageRange::new(query.from, query.to, query.granularity, Utc::now())?;
    let series = state
        .keys
        .usage(caller.actor(), path_id(&id)?, &range)
        .await?;
    Ok(Json(UsageSeries { series }))
}

/// `GET /v1/keys/{id}/verifications` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerificationsQuery {
    /// `refused` (every answer but `VALID`) or one code (`VALID`, `REVOKED`, `DISABLED`,
    /// `EXPIRED`, `FORBIDDEN_IP`, `INSUFFICIENT_SCOPES`, `RATE_LIMITED`,
    /// `QUOTA_EXCEEDED`); absent: every entry.
    #[param(
        pattern = "^(refused|VALID|REVOKED|DISABLED|EXPIRED|FORBIDDEN_IP|INSUFFICIENT_SCOPES|RATE_LIMITED|QUOTA_EXCEEDED)$"
    )]
    code: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_before` of the previous page: older entries only.
    before: Option<i64>,
}

/// The key's latest verifications ("why is my key failing?"), newest first: time,
/// answer, the end user's address and the verifier. The log keeps the newest
/// `kept_per_key` of each key (`LOCKSMITH_VERIFICATION_LOG_PER_KEY`) and reaches the
/// database within about a second of the verification.
#[utoipa::path(get, path = "/v1/keys/{id}/verifications", tag = "keys", operation_id = "getKeyVerifications",
    params(("id" = Uuid, Path, description = "Key id"), VerificationsQuery),
    responses(
        (status = 200, description = "A page of the log, with every kept entry counted by answer", body = VerificationLog),
        (status = 400, description = "Invalid code, limit or cursor", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn verifications(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<VerificationsQuery>,
) -> Result<Json<VerificationLog>, Problem> {
    let filter = LogFilter::parse(query.code.as_deref())?;
    let log = state
        .keys
        .verifications(
            caller.actor(),
            path_id(&id)?,
            filter,
            query.before,
            query.limit.unwrap_or(50),
            state.verify.log_per_key(),
        )
        .await?;
    Ok(Json(log))
}

/// Changes a key. A revoked key cannot be changed (409).
#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", operation_id = "updateKey",
    params(("id" = Uuid, Path, description = "Key id")),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The key as changed", body = KeyView),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Beyond the owner's policy, or an auditor", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
        (status = 409, description = "The key is revoked", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateKey>,
) -> Result<Json<KeyView>, Problem> {
    let id = path_id(&id)?;
    let patch = KeyPatchInput {
        name: body.name,
        scopes: body.scopes,
        expires_at: body.expires_at,
        enabled: body.enabled,
        ip_allowlist: body.ip_allowlist,
        quota: body.quota,
        rate_limit: body.rate_limit,
        meta: body.meta,
    };
    Ok(Json(
        state
            .keys
            .update(caller.actor(), id, patch, &origin)
            .await?,
    ))
}

/// Revokes a key for good; idempotent (a second call changes nothing).
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys", operation_id = "revokeKey",
    params(("id" = Uuid, Path, description = "Key id")),
    request_body(content = RevokeKey, description = "Optional; an empty body is the same as `{}`"),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RevokeKey>,
) -> Result<Json<KeyView>, Problem> {
    let id = path_id(&id)?;
    Ok(Json(
        state
            .keys
            .revoke(caller.actor(), id, body.reason, &origin)
            .await?,
    ))
}

/// Replaces a key by a new one with the same settings; the old one keeps working for
/// the grace period. The new secret (`key`) is in this response only.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", operation_id = "rotateKey",
    params(("id" = Uuid, Path, description = "Key id")),
    request_body(content = RotateKey, description = "Optional; an empty body is the same as `{}`"),
    responses(
        (status = 201, description = "The new key with its secret, and the old one as `previous`", body = RotatedKey),
        (status = 400, description = "Invalid grace period", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
        (status = 409, description = "The key is revoked, expired or already rotated", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RotateKey>,
) -> Result<NoStore<RotatedKey>, Problem> {
    let id = path_id(&id)?;
    let rotated = state
        .keys
        .rotate(caller.actor(), id, body.grace_seconds, &origin)
        .await?;
    Ok(NoStore(StatusCode::CREATED, rotated))
}

/// Creates, revokes, enables, disables or extends the expiry of up to 1000 keys in one
/// transaction: all or nothing. On failure the problem's `errors` lists every failing item
/// and why.
#[utoipa::path(post, path = "/v1/keys/bulk", tag = "keys", operation_id = "bulkKeys",
    request_body = BulkRequest,
    responses(
        (status = 201, description = "Created (action `create`)", body = BulkCreated),
        (status = 200, description = "Revoked, enabled, disabled or extended (the other actions)", body = BulkRevoked),
        (status = 400, description = "Invalid items, listed in `errors`; nothing was changed", body = ProblemBody),
        (status = 403, description = "Beyond the owner's policy, or an auditor", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<BulkRequest>,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse as _;
    // Roles before contents: an auditor learns nothing about the batch's validity.
    caller.actor().check_may_change_keys()?;
    match body {
        BulkRequest::Create { keyspace_id, items } => {
            check_item_keyspaces(keyspace_id, &items)?;
            let items = items.into_iter().map(NewKeyInput::from).collect();
            let created = state
                .keys
                .create_batch(caller.actor(), keyspace_id, items, &origin)
                .await?;
            Ok(NoStore(StatusCode::CREATED, BulkCreated { items: created }).into_response())
        }
        BulkRequest::Revoke { ids, reason } => {
            let ids = parse_ids(&ids)?;
            let items = state
                .keys
                .revoke_batch(caller.actor(), ids, reason, &origin)
                .await?;
            Ok(Json(BulkRevoked { items }).into_response())
        }
        BulkRequest::Enable { ids } => {
            change(&state, &caller, &ids, BulkChange::Enable, &origin).await
        }
        BulkRequest::Disable { ids } => {
            change(&state, &caller, &ids, BulkChange::Disable, &origin).await
        }
        BulkRequest::Extend { ids, days } => {
            change(
                &state,
                &caller,
                &ids,
                BulkChange::ExtendExpiry { days },
                &origin,
            )
            .await
        }
    }
}

async fn change(
    state: &AppState,
    caller: &AuthUser,
    ids: &[String],
    change: BulkChange,
    origin: &locksmith_core::audit::Origin,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse as _;
    let ids = parse_ids(ids)?;
    let items = state
        .keys
        .change_batch(caller.actor(), ids, change, origin)
        .await?;
    Ok(Json(BulkRevoked { items }).into_response())
}

/// Items naming another keyspace than the batch are refused, each reported.
fn check_item_keyspaces(keyspace_id: Uuid, items: &[CreateKey]) -> Result<(), Problem> {
    let errors: Vec<ItemError> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.keyspace_id.is_some_and(|k| k != keyspace_id))
        .map(|(index, _)| ItemError {
            index,
            id: None,
            detail: "keyspace_id: must match the batch's keyspace_id".into(),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(locksmith_core::Error::Batch(errors).into())
    }
}

/// Parses every id, reporting each malformed one.
fn parse_ids(raw: &[String]) -> Result<Vec<Uuid>, Problem> {
    let mut ids = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (index, id) in raw.iter().enumerate() {
        match Uuid::parse_str(id) {
            Ok(id) => ids.push(id),
            Err(_) => errors.push(ItemError {
                index,
                id: None,
                detail: "ids: not a UUID".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(locksmith_core::Error::Batch(errors).into())
    }
}

/// Ends the grace period of the old key of a rotation now: calls with it are refused from
/// this moment (its own expiry is kept and shown as `own_expires_at`). Audited as
/// `key.grace_end`.
#[utoipa::path(post, path = "/v1/keys/{id}/grace/end", tag = "keys", operation_id = "endKeyGrace",
    params(("id" = Uuid, Path, description = "Id of the old key of a rotation")),
    responses(
        (status = 200, description = "The old key, expired now", body = KeyView),
        (status = 403, description = "Auditors change nothing", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
        (status = 409, description = "Not the old key of a rotation, or its grace is over", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn end_grace(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, Problem> {
    let id = path_id(&id)?;
    Ok(Json(
        state.keys.end_grace(caller.actor(), id, &origin).await?,
    ))
}

/// Lets the old key of a rotation work longer: its grace period ends `seconds` later (at
/// most 30 days from now; the key's own expiry still applies). Audited as
/// `key.grace_extend`.
#[utoipa::path(post, path = "/v1/keys/{id}/grace/extend", tag = "keys", operation_id = "extendKeyGrace",
    params(("id" = Uuid, Path, description = "Id of the old key of a rotation")),
    request_body = ExtendGrace,
    responses(
        (status = 200, description = "The old key with its new grace end", body = KeyView),
        (status = 400, description = "Invalid or too long an extension", body = ProblemBody),
        (status = 403, description = "Auditors change nothing", body = ProblemBody),
        (status = 404, description = "No such key, or not yours", body = ProblemBody),
        (status = 409, description = "Not the old key of a rotation, or its grace is over", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn extend_grace(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtendGrace>,
) -> Result<Json<KeyView>, Problem> {
    let id = path_id(&id)?;
    Ok(Json(
        state
            .keys
            .extend_grace(caller.actor(), id, body.seconds, &origin)
            .await?,
    ))
}

/// "Is this my key?": finds a key by its whole secret (someone pasted it, or found it
/// somewhere). The secret travels in the body, never in a URL. Only keys the caller may
/// see are found; for anything else (another owner's key, an unknown key, a string that
/// is no key) the answer is the same 404, after the same work. Limited to 10 lookups at
/// once and 20 a minute per user; each is audited (`key.lookup`).
#[utoipa::path(post, path = "/v1/keys/lookup", tag = "keys", operation_id = "lookupKey",
    request_body = LookupKey,
    responses(
        (status = 200, description = "The key with this secret", body = KeyView),
        (status = 400, description = "Malformed body", body = ProblemBody),
        (status = 404, description = "No key you may see has this secret", body = ProblemBody),
        (status = 429, description = "Too many lookups; retry after `retry-after`", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn lookup(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<LookupKey>,
) -> Result<NoStore<KeyView>, Problem> {
    use secrecy::ExposeSecret as _;
    let view = state
        .keys
        .lookup(caller.actor(), body.key.expose_secret(), &origin)
        .await?;
    Ok(NoStore(StatusCode::OK, view))
}
