//! Liveness and readiness probes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use locksmith_core::db::Schema;
use serde::Serialize;
use serde_json::{Value, json};

use super::problem::Problem;

/// How long readiness waits for the database before answering 503.
const READINESS_BUDGET: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The readiness answer when ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// The last applied migration.
    schema_version: Option<i64>,
}

/// `GET /readyz`: 200 when the database answers and the schema is exactly the one this
/// binary expects; 503 (problem details naming the failing check) otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Database unreachable or schema not current", body = crate::http::problem::ProblemBody),
    ))]
pub async fn readyz(State(schema): State<Schema>) -> Result<Json<Ready>, Problem> {
    let ready = check(&schema).await;
    metrics::gauge!("readiness_ok").set(if ready.is_ok() { 1.0 } else { 0.0 });
    ready
}

/// Checks readiness every 15 s, so that `readiness_ok` is current for the operator's
/// alerts whether or not anything polls `/readyz`.
pub async fn watch_readiness(schema: Schema) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
    loop {
        every.tick().await;
        let ready = check(&schema).await;
        metrics::gauge!("readiness_ok").set(if ready.is_ok() { 1.0 } else { 0.0 });
    }
}

async fn check(schema: &Schema) -> Result<Json<Ready>, Problem> {
    let not_ready = |detail: &str| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            detail.to_owned(),
        )
    };
    let status = tokio::time::timeout(READINESS_BUDGET, schema.status())
        .await
        .map_err(|_| not_ready("database: no answer within 2 s"))?
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            not_ready("database: unreachable")
        })?;
    if !status.is_current() {
        return Err(not_ready(&format!(
            "schema: database at migration {:?}, this binary expects {:?} ({} pending{})",
            status.applied,
            status.expected,
            status.pending,
            if status.diverged { ", diverged" } else { "" }
        )));
    }
    Ok(Json(Ready {
        status: "ready",
        schema_version: status.applied,
    }))
}
