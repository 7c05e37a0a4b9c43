//! The verification routes, for services (verifier tokens):
//! - `POST /v1/verify`: whether a key may be used. Every processed verification answers
//!   200, valid or not. Errors: a bad verifier token (401), a malformed body (400, 413,
//!   415, or 408 for a body that does not arrive), a verifier throttled for sending too
//!   many unknown keys (429), and degraded mode without the database for what this
//!   instance does not know (503).
//! - `POST /v1/verify/batch` ([`batch`]): up to 100 of those in one request.
//! - `GET /v1/authz` ([`authz`]): the same decision for a proxy (nginx `auth_request`,
//!   Envoy `ext_authz`), as a status and headers.
//! - `GET /v1/verify/invalidations` ([`invalidations`]): the changes of the keyspace's
//!   keys, as server-sent events, for services that cache answers themselves, and
//!   `POST /v1/verify/usage` ([`usage`]), where they report what they answered.
//!
//! This is the hot path, so the routes are lean: they are mounted beside `/v1` rather
//! than inside it (one route lookup, no prefix stripping), their state is the
//! verification service alone (one reference count to clone, where the application
//! state has several), and they set no timer for a body that arrived with the headers.
//! They still pass through every layer of `http::router`: request id, tracing, metrics,
//! security headers and problem details.

pub mod authz;
pub mod batch;
pub mod invalidations;
pub mod usage;

use std::net::IpAddr;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use locksmith_core::keys::VerifierAuth;
use locksmith_core::scope::Scope;
use locksmith_core::verify::{Code, Verdict, VerifyInput, VerifyService};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::extract::{is_json, json_object, not_json};
use crate::auth::bearer_token;
use crate::http::problem::{Problem, ProblemBody};

/// Request bodies above this are refused with 413 (the contract's limit for `/v1/verify`).
pub const BODY_LIMIT: usize = 8 * 1024;

/// The limit for a batch: the general limit of the API, which 100 items fit in.
pub const BATCH_BODY_LIMIT: usize = crate::http::body::BODY_LIMIT;

/// What the route needs: the service, and how long a body may take to arrive.
#[derive(Clone)]
pub struct VerifyRoute {
    verify: VerifyService,
    body_timeout: Duration,
}

/// The verification routes, with their own state (see the module's documentation).
pub fn route(verify: VerifyService, body_timeout: Duration) -> Router {
    Router::new()
        .route("/v1/verify", axum::routing::post(verify_key))
        .route("/v1/verify/batch", axum::routing::post(batch::verify_batch))
        .route("/v1/verify/usage", axum::routing::post(usage::report))
        .route(
            "/v1/verify/invalidations",
            axum::routing::get(invalidations::stream),
        )
        // Envoy's `ext_authz` sends the original method and path after its prefix.
        .route("/v1/authz", axum::routing::any(authz::authorize))
        .route("/v1/authz/{*path}", axum::routing::any(authz::authorize))
        .with_state(VerifyRoute {
            verify,
            body_timeout,
        })
}

/// `POST /v1/verify` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key the end user presented.
    key: String,
    /// Scopes the key must grant (a granted `orders:*` covers `orders:read`).
    #[serde(default)]
    #[schema(max_items = 100, value_type = std::collections::BTreeSet<crate::api::schema::ScopeName>)]
    scopes: Vec<String>,
    /// Quota credits a `VALID` answer spends, 0 to 1000 (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 0, maximum = 1000)]
    cost: u32,
    /// The end user's address as the calling service saw it; checked against the key's
    /// IP allowlist.
    #[schema(value_type = Option<crate::api::schema::IpAddress>)]
    client_ip: Option<String>,
}

fn one() -> u32 {
    1
}

impl VerifyRequest {
    /// The verification the service asked for; a malformed field is `Invalid`, named.
    fn into_input(self) -> Result<VerifyInput, locksmith_core::Error> {
        let client_ip = self
            .client_ip
            .as_deref()
            .map(|raw| {
                raw.parse::<IpAddr>().map_err(|_| {
                    locksmith_core::Error::invalid("client_ip", "is not an IPv4 or IPv6 address")
                })
            })
            .transpose()?;
        let input = VerifyInput {
            scopes: Scope::parse_list("scopes", &self.scopes)?,
            key: self.key,
            cost: self.cost,
            client_ip,
        };
        input.check()?;
        Ok(input)
    }
}

/// The quota after this verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaState {
    /// Credits per period.
    limit: i64,
    /// Left in this period.
    remaining: i64,
    /// When the period ends; `null` for a total quota.
    resets_at: Option<DateTime<Utc>>,
}

/// The rate limit after this verification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RateState {
    /// Verifications per window.
    limit: i32,
    /// Left in the sliding window.
    remaining: u32,
    /// When the current window ends.
    reset_at: DateTime<Utc>,
}

/// The answer: `valid` and `code` always; the key's details only when `VALID`.
// It borrows from the cached key rather than copying it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse<'a> {
    /// Whether the key may be used.
    valid: bool,
    /// Why (or `VALID`).
    code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    scopes: Option<&'a [Scope]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    meta: Option<&'a Value>,
    /// Present for a `VALID` key that expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<QuotaState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<RateState>,
}

impl<'a> From<&'a Verdict> for VerifyResponse<'a> {
    fn from(v: &'a Verdict) -> Self {
        let key = v.key.as_ref().map(|k| &k.row);
        Self {
            valid: v.code.is_valid(),
            code: v.code,
            key_id: key.map(|k| k.id),
            owner_id: key.map(|k| k.owner_id),
            name: key.map(|k| k.name.as_str()),
            scopes: key.map(|k| k.scopes.as_slice()),
            meta: key.map(|k| &k.meta),
            expires_at: key.and_then(|k| k.expires_at),
            quota: v.quota.map(|q| QuotaState {
                limit: q.limit,
                remaining: q.remaining,
                resets_at: q.resets_at,
            }),
            rate_limit: v.rate.map(|(limit, check)| RateState {
                limit: limit.limit,
                remaining: check.remaining,
                reset_at: check.reset_at,
            }),
        }
    }
}

/// `verifications_total` by code, registered once rather than looked up per request.
fn count(code: Code) {
    static COUNTERS: OnceLock<Vec<(Code, metrics::Counter)>> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        Code::ORDER
            .iter()
            .map(|&c| {
                (
                    c,
                    metrics::counter!("verifications_total", "code" => c.as_str()),
                )
            })
            .collect()
    });
    if let Some((_, counter)) = counters.iter().find(|(c, _)| *c == code) {
        counter.increment(1);
    }
}

/// Verifies a key for the calling verifier's keyspace.
// The operation keeps the id it had when the handler was called `verify`: SDK generators
// name their methods after it.
#[utoipa::path(post, path = "/v1/verify", tag = "verify", operation_id = "verifyKey",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Processed: `valid` says whether the key may be used, `code` why", body = VerifyResponse<'_>),
        (status = 400, description = "Malformed body; `detail` names the field", body = ProblemBody),
        (status = 401, description = "Missing, invalid or revoked verifier token", body = ProblemBody),
        (status = 408, description = "The body did not arrive within the request timeout", body = ProblemBody),
        (status = 413, description = "Body over 8 KiB", body = ProblemBody),
        (status = 429, description = "This verifier sent too many unknown keys: until `retry-after`, only keys this instance already knows are verified", body = ProblemBody),
        (status = 503, description = "The database is unreachable and the key (or the verifier token, or the quota credit) is not known to this instance; never a `VALID` guess", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn verify_key(
    State(route): State<VerifyRoute>,
    request: Request,
) -> Result<Response, Problem> {
    let (parts, body) = request.into_parts();
    let verifier = verifier(&route.verify, bearer_token(&parts)).await?;
    let body: VerifyRequest = json_body(&parts, body, route.body_timeout, BODY_LIMIT).await?;
    let input = body.into_input()?;
    let verdict = route.verify.verify(&verifier, &input).await?;
    count(verdict.code);
    Ok(json_response(&VerifyResponse::from(&verdict)))
}

/// The verifier presenting `token`; 401 when there is none or it is not valid.
async fn verifier(
    verify: &VerifyService,
    token: Option<&str>,
) -> Result<std::sync::Arc<VerifierAuth>, Problem> {
    let refused = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid verifier token.",
        )
    };
    let token = token.ok_or_else(refused)?;
    verify.authenticate(token).await?.ok_or_else(refused)
}

/// The body as JSON, with the contract's errors: 415 without a JSON content type, 413
/// over `limit` bytes, 408 when it has not arrived within `timeout`, 400 naming the field
/// otherwise.
async fn json_body<T: serde::de::DeserializeOwned>(
    parts: &Parts,
    body: Body,
    timeout: Duration,
    limit: usize,
) -> Result<T, Problem> {
    if !is_json(parts.headers.get(header::CONTENT_TYPE)) {
        return Err(not_json());
    }
    let bytes = read_body(body, timeout, limit).await?;
    json_object(&bytes)
}

/// Reads the whole body, at most `limit` bytes. A body almost always arrives with its
/// headers, and then no timer is set; only one still on its way is given `timeout`.
async fn read_body(body: Body, timeout: Duration, limit: usize) -> Result<Bytes, Problem> {
    use axum::body::HttpBody as _;
    if body.size_hint().lower() > limit as u64 {
        return Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let mut collect = pin!(Limited::new(body, limit).collect());
    let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match first {
        Poll::Ready(collected) => collected,
        Poll::Pending => tokio::time::timeout(timeout, collect)
            .await
            .map_err(|_| Problem::for_status(StatusCode::REQUEST_TIMEOUT))?,
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE))
        }
        Err(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body could not be read.",
        )),
    }
}

/// A 200 JSON answer, written into one buffer of about the right size.
fn json_response<T: Serialize>(value: &T) -> Response {
    let mut buffer = Vec::with_capacity(512);
    match serde_json::to_writer(&mut buffer, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buffer,
        )
            .into_response(),
        Err(err) => Problem::internal(&err).into_response(),
    }
}
