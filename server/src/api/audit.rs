//! `GET /v1/audit` (admin, auditor).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use locksmith_core::audit::{Action, AuditFilter, Entry};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{ApiQuery, Page, page_limit};
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// Filters and pagination.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor's entries.
    actor_id: Option<Uuid>,
    /// Only this action, e.g. `key.revoke`.
    #[param(value_type = Option<Action>)]
    action: Option<String>,
    /// Only entries about this target (at most 200 characters, no control characters).
    #[param(max_length = 200, pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$")]
    target_id: Option<String>,
    /// At or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<i64>,
    /// Leave out sign-ins and sign-outs (`user.login`, `user.logout`).
    hide_sign_ins: Option<bool>,
}

/// The audit trail, newest first (admin, auditor).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", operation_id = "listAuditEntries",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = Page<Entry>),
        (status = 400, description = "Invalid filter or page size", body = crate::http::problem::ProblemBody),
        (status = 403, description = "Not an admin or auditor", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<Entry>>, Problem> {
    let limit = page_limit(query.limit)?;
    let check = |field, at: Option<DateTime<Utc>>| {
        at.map(|at| locksmith_core::timestamp::check(field, at))
            .transpose()
    };
    let filter = AuditFilter {
        actor_id: query.actor_id,
        action: query
            .action
            .as_deref()
            .map(Action::from_filter)
            .transpose()?,
        target_id: query.target_id,
        from: check("from", query.from)?,
        to: check("to", query.to)?,
        hide_sign_ins: query.hide_sign_ins.unwrap_or(false),
    };
    let items = state
        .audit
        .list(caller.actor(), &filter, query.cursor, limit)
        .await?;
    Ok(Json(Page::new(items, limit, |e| e.id.to_string())))
}
