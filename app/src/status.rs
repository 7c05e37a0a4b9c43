//! The system status shown on the overview: a DTO and the server function that reads it.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the overview shows about this installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatusView {
    /// The installation id.
    pub instance_id: String,
    /// When the database schema was created.
    pub installed_at: DateTime<Utc>,
    /// PostgreSQL's version.
    pub postgres_version: String,
    /// The newest applied migration.
    pub schema_version: Option<i64>,
    /// Whether the schema matches the running binary.
    pub schema_current: bool,
    /// When the server answered.
    pub checked_at: DateTime<Utc>,
}

/// Reads the status from the database (admins and auditors: owners see their keys, not
/// the installation's internals).
#[server(prefix = "/api", endpoint = "system_status")]
pub async fn system_status() -> Result<SystemStatusView, AppError> {
    use locksmith_core::dashboard::Dashboard;
    use locksmith_core::identity::Actor;
    use locksmith_core::identity::Role;
    let user = crate::auth::server::require(&[Role::Admin, Role::Auditor])
        .await
        .map_err(AppError::respond)?;
    let status = crate::auth::server::service::<Dashboard>()
        .map_err(AppError::respond)?
        .system_status(Actor::from(&user))
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(SystemStatusView {
        instance_id: status.instance_id.to_string(),
        installed_at: status.installed_at,
        postgres_version: status.postgres_version,
        schema_version: status.schema_version,
        schema_current: status.schema_current,
        checked_at: Utc::now(),
    })
}
