//! The system status repository: which installation this is and what it runs on (read
//! through [`crate::dashboard::Dashboard::system_status`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::error::Result;

/// What the portal's overview shows about this installation, all read from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// The installation id, written when the schema was first created.
    pub instance_id: Uuid,
    /// When the schema was first created.
    pub installed_at: DateTime<Utc>,
    /// PostgreSQL's `server_version`.
    pub postgres_version: String,
    /// The newest applied migration.
    pub schema_version: Option<i64>,
    /// Whether the schema matches this binary.
    pub schema_current: bool,
}

/// Reads the status in two round trips: the instance row and the migrations table.
pub(crate) async fn status(pool: &PgPool) -> Result<SystemStatus> {
    let row = sqlx::query!(
        r#"SELECT id, created_at, current_setting('server_version') AS "postgres_version!"
           FROM instance"#
    )
    .fetch_one(pool)
    .await?;
    let schema = db::schema_status(pool).await?;
    Ok(SystemStatus {
        instance_id: row.id,
        installed_at: row.created_at,
        postgres_version: row.postgres_version,
        schema_version: schema.applied,
        schema_current: schema.is_current(),
    })
}
