//! `POST /v1/verify/usage`: a service's client reports the verifications it answered
//! itself, from its local cache or failing open while Locksmith was away, so that the
//! keys' usage and `last_used_at` count them. The client sends what it served every few
//! seconds; nothing here decides anything or spends a limit (cached keys have neither
//! quota nor rate limit).

use axum::Json;
use axum::extract::{Request, State};
use chrono::{DateTime, Utc};
use locksmith_core::verify::ReportedUse;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BATCH_BODY_LIMIT, VerifyRoute, json_body, verifier};
use crate::auth::bearer_token;
use crate::http::problem::{Problem, ProblemBody};

/// The most keys one report may name.
pub const MAX_ITEMS: usize = 500;

/// `POST /v1/verify/usage` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// 1 to 500 keys, each with the verifications answered for it.
    #[schema(min_items = 1, max_items = 500)]
    items: Vec<ReportedItem>,
}

/// The verifications of one key a client answered itself.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedItem {
    /// The key (from its `VALID` answers).
    key_id: Uuid,
    /// How many `VALID` answers were given, 1 to 10 000 000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    count: u32,
    /// When the last of them was given; reports older than a day are left out.
    last_at: DateTime<Utc>,
}

/// What was counted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageAccepted {
    /// Items counted: those about keys of the verifier's keyspace, from the last day.
    accepted: usize,
}

/// Counts verifications a client answered from its cache.
#[utoipa::path(post, path = "/v1/verify/usage", tag = "verify", operation_id = "reportUsage",
    request_body = UsageReport,
    responses(
        (status = 200, description = "Counted into the keys' usage (written within a second)", body = UsageAccepted),
        (status = 400, description = "Malformed body; `detail` names `items[i].field`", body = ProblemBody),
        (status = 401, description = "Missing, invalid or revoked verifier token", body = ProblemBody),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody),
        (status = 503, description = "The database is unreachable; report again later", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn report(
    State(route): State<VerifyRoute>,
    request: Request,
) -> Result<Json<UsageAccepted>, Problem> {
    let (parts, body) = request.into_parts();
    let verifier = verifier(&route.verify, bearer_token(&parts)).await?;
    let report: UsageReport = json_body(&parts, body, route.body_timeout, BATCH_BODY_LIMIT).await?;
    if report.items.is_empty() || report.items.len() > MAX_ITEMS {
        return Err(Problem::invalid(
            "items",
            format!("must name 1 to {MAX_ITEMS} keys"),
        ));
    }
    let items: Vec<ReportedUse> = report
        .items
        .iter()
        .map(|item| ReportedUse {
            key_id: item.key_id,
            count: item.count,
            last_at: item.last_at,
        })
        .collect();
    let accepted = match route.verify.record_reported(&verifier, &items).await {
        Ok(accepted) => accepted,
        Err(locksmith_core::Error::Database(err)) => {
            tracing::debug!(error = %err, "usage report not counted");
            return Err(Problem::from(locksmith_core::Error::Unavailable(
                "The database is unreachable; report again later.".into(),
            ))
            .with_retry_after(5));
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Json(UsageAccepted { accepted }))
}
