//! `GET /audit/export.csv`: the audit log's filtered view as CSV, for admins and auditors
//! signed in to the portal. A plain GET (a link on the audit page), so the browser saves
//! it; the same filters as the page, newest first, at most [`MAX_ROWS`] entries.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use locksmith_app::audit::AuditFilters;
use locksmith_app::audit::server::{parse, rows};
use locksmith_app::auth::server::user_of;
use locksmith_app::error::AppError;
use locksmith_core::identity::Actor;
use tower_sessions::Session;

use crate::state::AppState;

/// Most entries in one export.
pub const MAX_ROWS: usize = 50_000;
const PAGE: i64 = 1_000;

fn refuse(err: &AppError) -> Response {
    (err.status(), err.to_string()).into_response()
}

/// A cell as a spreadsheet will not run it: text that starts like a formula is quoted.
fn cell(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The handler.
pub async fn audit_csv(
    State(state): State<AppState>,
    session: Session,
    Query(filters): Query<AuditFilters>,
) -> Response {
    match export(&state, &session, &filters).await {
        Ok(csv) => {
            let name = format!(
                "attachment; filename=\"locksmith-audit-{}.csv\"",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            );
            let mut response = csv.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(value) = HeaderValue::from_str(&name) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(err) => refuse(&err),
    }
}

async fn export(
    state: &AppState,
    session: &Session,
    filters: &AuditFilters,
) -> Result<String, AppError> {
    let user = user_of(session, &state.sessions)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let actor = Actor::from(&user);
    let (filter, mut cursor) = parse(filters)?;
    let mut entries = Vec::new();
    loop {
        let page = state.audit.list(actor, &filter, cursor, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        cursor = page.last().map(|e| e.id);
        entries.extend(page);
        if !full || entries.len() >= MAX_ROWS {
            break;
        }
    }
    entries.truncate(MAX_ROWS);
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| {
        tracing::error!(error = %e, "audit export: CSV not written");
        AppError::Internal
    };
    out.write_record([
        "id",
        "at",
        "actor",
        "action",
        "target",
        "source_ip",
        "request_id",
        "client_request_id",
        "before",
        "after",
        "hash",
        "prev_hash",
    ])
    .map_err(failed)?;
    for row in rows(&state.audit, entries).await? {
        let compact = |v: Option<String>| {
            v.and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let (before, after) = (compact(row.before), compact(row.after));
        out.write_record([
            row.id.to_string().as_str(),
            &row.at.to_rfc3339(),
            &cell(&row.actor),
            &cell(&row.action),
            &cell(&row.target),
            &cell(row.source_ip.as_deref().unwrap_or_default()),
            &cell(row.request_id.as_deref().unwrap_or_default()),
            &cell(row.client_request_id.as_deref().unwrap_or_default()),
            &cell(&before),
            &cell(&after),
            &row.hash,
            &row.prev_hash,
        ])
        .map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| failed(e.into_error().into()))?;
    String::from_utf8(bytes).map_err(|_| AppError::Internal)
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formula_like_cells_are_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("user.login"), "user.login");
        assert_eq!(cell(""), "");
    }
}
