//! Leak reporting in the portal: the leak-reporter tokens scanners present to
//! `POST /v1/leaks` (admins issue and revoke them), and whether GitHub secret scanning
//! can report here.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A leak reporter as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakReporterRow {
    pub id: String,
    pub name: String,
    pub start: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Leak intake as the keyspaces page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakIntake {
    /// Leak reporters, oldest first.
    pub reporters: Vec<LeakReporterRow>,
    /// Whether GitHub secret scanning's keys are configured (`POST /v1/leaks/github`).
    pub github: bool,
}

/// A new leak reporter with its token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLeakReporter {
    pub token: String,
    pub reporter: LeakReporterRow,
}

/// Issues a leak-reporter token (admin); the answer holds the token, once.
#[server(prefix = "/api", endpoint = "create_leak_reporter")]
pub async fn create_leak_reporter(name: String) -> Result<NewLeakReporter, AppError> {
    server::create(name).await.map_err(AppError::respond)
}

/// Revokes a leak-reporter token (admin).
#[server(prefix = "/api", endpoint = "revoke_leak_reporter")]
pub async fn revoke_leak_reporter(id: String) -> Result<LeakReporterRow, AppError> {
    server::revoke(id).await.map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
pub(crate) mod server {
    use locksmith_core::identity::Role;
    use locksmith_core::keys::Actor;
    use locksmith_core::leaks::{LeakReporter, LeakService};

    use super::{LeakIntake, LeakReporterRow, NewLeakReporter};
    use crate::auth::server::{origin, require, service};
    use crate::error::AppError;
    use crate::form::id;

    fn row(r: LeakReporter) -> LeakReporterRow {
        LeakReporterRow {
            id: r.id.to_string(),
            name: r.name,
            start: r.start,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }

    /// The leak intake the actor may read (admins, auditors).
    pub(crate) async fn intake(actor: Actor) -> Result<LeakIntake, AppError> {
        let leaks: LeakService = service()?;
        Ok(LeakIntake {
            reporters: leaks
                .list_reporters(actor)
                .await?
                .into_iter()
                .map(row)
                .collect(),
            github: leaks.github().is_some(),
        })
    }

    pub(super) async fn create(name: String) -> Result<NewLeakReporter, AppError> {
        let user = require(&[Role::Admin]).await?;
        let created = service::<LeakService>()?
            .create_reporter(Actor::from(&user), name.trim(), &origin().await)
            .await?;
        Ok(NewLeakReporter {
            token: created.token.expose().to_owned(),
            reporter: row(created.reporter),
        })
    }

    pub(super) async fn revoke(reporter_id: String) -> Result<LeakReporterRow, AppError> {
        let user = require(&[Role::Admin]).await?;
        let reporter = service::<LeakService>()?
            .revoke_reporter(Actor::from(&user), id("id", &reporter_id)?, &origin().await)
            .await?;
        Ok(row(reporter))
    }
}
