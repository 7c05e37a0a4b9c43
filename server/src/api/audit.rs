//! `GET /v1/audit` (admin, auditor).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use locksmith_core::audit::{self, AuditFilter, Entry};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{ApiQuery, Page, page_limit};
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// Filters and pagination.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor_id: Option<Uuid>,
    action: Option<String>,
    target_id: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<i64>,
}

/// Newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<Entry>>, Problem> {
    caller.require_reader()?;
    let limit = page_limit(query.limit)?;
    let filter = AuditFilter {
        actor_id: query.actor_id,
        action: query.action,
        target_id: query.target_id,
        from: query.from,
        to: query.to,
    };
    let items = audit::list(&state.pool, &filter, query.cursor, limit).await?;
    Ok(Json(Page::new(items, limit, |e| e.id.to_string())))
}
