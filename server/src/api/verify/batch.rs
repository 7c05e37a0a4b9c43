//! `POST /v1/verify/batch`: up to [`MAX_ITEMS`] verifications in one request, for
//! gateways and for jobs that check many keys.
//!
//! The items are verified one after another, in order, exactly as if each had been sent
//! to `/v1/verify` in that order: the same decisions, the same quota and rate limit
//! spending, the same counters. The whole batch is read and checked first, so a
//! malformed item refuses the batch (400, naming `items[i].field`) before anything is
//! spent. An item that cannot be decided once the batch runs (the database is away and
//! this instance does not know the key, or the verifier is throttled for unknown keys)
//! is answered in place with the problem `/v1/verify` would have answered, its `status`
//! saying which; the items before and after it keep their answers.

use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{
    BATCH_BODY_LIMIT, VerifyRequest, VerifyResponse, VerifyRoute, count, json_body, json_response,
    verifier,
};
use crate::auth::bearer_token;
use crate::http::problem::{Problem, ProblemBody};
use crate::http::request_id;

/// The most items one batch may hold.
pub const MAX_ITEMS: usize = 100;

/// `POST /v1/verify/batch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 100 verifications, each the body of `POST /v1/verify`.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<VerifyRequest>,
}

/// The answers, in the order of the items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse<'a> {
    items: Vec<BatchItem<'a>>,
}

/// One item's answer: what `/v1/verify` answers with 200, or, for an item that could
/// not be decided, the problem it would have answered (with its `status`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchItem<'a> {
    /// A decided verification.
    Verified(VerifyResponse<'a>),
    /// An undecided one: 503 (degraded without this key) or 429 (throttled).
    Undecided(&'a ProblemBody),
}

/// Verifies up to 100 keys for the calling verifier's keyspace.
#[utoipa::path(post, path = "/v1/verify/batch", tag = "verify", operation_id = "verifyKeys",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Every item processed, in order: a verification answer, or a problem for an item that could not be decided", body = BatchResponse<'_>),
        (status = 400, description = "Malformed body or item (`detail` names `items[i].field`); nothing was verified", body = ProblemBody),
        (status = 401, description = "Missing, invalid or revoked verifier token", body = ProblemBody),
        (status = 408, description = "The body did not arrive within the request timeout", body = ProblemBody),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn verify_batch(
    State(route): State<VerifyRoute>,
    request: Request,
) -> Result<Response, Problem> {
    let request_id = request_id::of(&request);
    let (parts, body) = request.into_parts();
    let verifier = verifier(&route.verify, bearer_token(&parts)).await?;
    let body: BatchRequest = json_body(&parts, body, route.body_timeout, BATCH_BODY_LIMIT).await?;
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(Problem::invalid(
            "items",
            format!("must hold 1 to {MAX_ITEMS} verifications"),
        ));
    }
    let inputs = body
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            item.into_input().map_err(|err| match err {
                locksmith_core::Error::Invalid { field, message } => {
                    Problem::invalid(format!("items[{i}].{field}"), message)
                }
                other => Problem::from(other),
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let mut results = Vec::with_capacity(inputs.len());
    for input in &inputs {
        results.push(match route.verify.verify(&verifier, input).await {
            Ok(verdict) => {
                count(verdict.code);
                Ok(verdict)
            }
            Err(err) => Err(Problem::from(err).body(&request_id)),
        });
    }
    let items = results
        .iter()
        .map(|result| match result {
            Ok(verdict) => BatchItem::Verified(VerifyResponse::from(verdict)),
            Err(problem) => BatchItem::Undecided(problem),
        })
        .collect();
    Ok(json_response(&BatchResponse { items }))
}
