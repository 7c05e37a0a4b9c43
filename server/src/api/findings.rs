//! `/v1/findings`: leaks and unusual use found on keys. Admins and auditors see every
//! key's findings, owners their own keys'; admins and owners acknowledge them.

use axum::Json;
use axum::extract::{Path, State};
use locksmith_core::findings::{Finding, FindingFilter, FindingKind, OpenFindings};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{ApiQuery, Page, RequestOrigin, page_limit, path_id};
use crate::auth::AuthUser;
use crate::http::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// Which findings by their state.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// Needing attention (not acknowledged).
    #[default]
    Open,
    /// Acknowledged.
    Acknowledged,
    /// Both.
    All,
}

/// `GET /v1/findings` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// `open` (default), `acknowledged` or `all`.
    status: Option<FindingStatus>,
    /// Only findings of this kind.
    kind: Option<FindingKind>,
    /// Only findings on this key.
    key_id: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<Uuid>,
}

/// Findings on the keys the caller may see, newest first.
#[utoipa::path(get, path = "/v1/findings", tag = "findings", operation_id = "listFindings",
    params(FindingQuery),
    responses(
        (status = 200, description = "A page of findings", body = Page<Finding>),
        (status = 400, description = "Invalid query parameter", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<FindingQuery>,
) -> Result<Json<Page<Finding>>, Problem> {
    let limit = page_limit(query.limit)?;
    let filter = FindingFilter {
        open: match query.status.unwrap_or_default() {
            FindingStatus::Open => Some(true),
            FindingStatus::Acknowledged => Some(false),
            FindingStatus::All => None,
        },
        kind: query.kind,
        key_id: query.key_id,
    };
    let items = state
        .findings
        .list(caller.actor(), &filter, query.cursor, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |f| f.id.to_string())))
}

/// How many findings on the caller's visible keys need attention, by severity.
#[utoipa::path(get, path = "/v1/findings/summary", tag = "findings", operation_id = "summarizeFindings",
    responses((status = 200, description = "Open findings by severity", body = OpenFindings)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<OpenFindings>, Problem> {
    Ok(Json(state.findings.open(caller.actor()).await?))
}

/// One finding.
#[utoipa::path(get, path = "/v1/findings/{id}", tag = "findings", operation_id = "getFinding",
    params(("id" = Uuid, Path, description = "Finding id")),
    responses(
        (status = 200, description = "The finding", body = Finding),
        (status = 404, description = "No such finding on a key you may see", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Finding>, Problem> {
    Ok(Json(
        state.findings.get(caller.actor(), path_id(&id)?).await?,
    ))
}

/// Acknowledges a finding (admins, and the key's owner): it no longer needs attention.
/// Audited (`finding.acknowledge`) with a `key.finding_acknowledged` event; idempotent.
#[utoipa::path(post, path = "/v1/findings/{id}/acknowledge", tag = "findings", operation_id = "acknowledgeFinding",
    params(("id" = Uuid, Path, description = "Finding id")),
    responses(
        (status = 200, description = "The finding, acknowledged", body = Finding),
        (status = 403, description = "Auditors cannot acknowledge", body = ProblemBody),
        (status = 404, description = "No such finding on a key you may see", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<Json<Finding>, Problem> {
    Ok(Json(
        state
            .findings
            .acknowledge(caller.actor(), path_id(&id)?, &origin)
            .await?,
    ))
}
