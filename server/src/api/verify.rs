//! `POST /v1/verify`: a service asks whether a key may be used. Every processed
//! verification answers 200, valid or not. Errors: a bad verifier token (401), a
//! malformed body (400, 413), a verifier throttled for sending too many unknown keys
//! (429), and degraded mode without the database for what this instance does not know
//! (503).

use std::net::IpAddr;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use locksmith_core::keys::keyspace_store::VerifierAuth;
use locksmith_core::scope::Scope;
use locksmith_core::verify::{Code, Verdict, VerifyInput};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::extract::ApiJson;
use crate::auth::bearer_token;
use crate::http::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// Request bodies above this are refused with 413 (the contract's limit for `/v1/verify`).
pub const BODY_LIMIT: usize = 8 * 1024;

/// The verifier calling, authenticated by its bearer token.
pub struct Verifier(pub VerifierAuth);

impl FromRequestParts<AppState> for Verifier {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let refused = || {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid verifier token.",
            )
        };
        let token = bearer_token(parts).ok_or_else(refused)?;
        state
            .verify
            .authenticate(token)
            .await?
            .map(Self)
            .ok_or_else(refused)
    }
}

/// `POST /v1/verify` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key the end user presented.
    key: String,
    /// Scopes the key must grant (a granted `orders:*` covers `orders:read`).
    #[serde(default)]
    scopes: Vec<String>,
    /// Quota credits a `VALID` answer spends, 0 to 1000 (default 1).
    #[serde(default = "one")]
    cost: u32,
    /// The end user's address as the calling service saw it; checked against the key's
    /// IP allowlist.
    client_ip: Option<String>,
}

fn one() -> u32 {
    1
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
    scopes: Option<&'a [String]>,
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
#[utoipa::path(post, path = "/v1/verify", tag = "verify",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Processed: `valid` says whether the key may be used, `code` why", body = VerifyResponse<'_>),
        (status = 400, description = "Malformed body; `detail` names the field", body = ProblemBody),
        (status = 401, description = "Missing, invalid or revoked verifier token", body = ProblemBody),
        (status = 413, description = "Body over 8 KiB", body = ProblemBody),
        (status = 429, description = "This verifier sent too many unknown keys: until `retry-after`, only keys this instance already knows are verified", body = ProblemBody),
        (status = 503, description = "The database is unreachable and the key (or the verifier token, or the quota credit) is not known to this instance; never a `VALID` guess", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    Verifier(verifier): Verifier,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, Problem> {
    let client_ip = body
        .client_ip
        .as_deref()
        .map(|raw| {
            raw.parse::<IpAddr>().map_err(|_| {
                locksmith_core::Error::invalid("client_ip", "is not an IPv4 or IPv6 address")
            })
        })
        .transpose()?;
    let scopes = Scope::parse_list("scopes", &body.scopes)?;
    let input = VerifyInput {
        key: body.key,
        scopes,
        cost: body.cost,
        client_ip,
    };
    let verdict = state.verify.verify(&verifier, &input).await?;
    count(verdict.code);
    Ok(Json(VerifyResponse::from(&verdict)).into_response())
}
