//! tower-sessions' store over the core's [`SessionService`] (records as JSON in PostgreSQL).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use locksmith_core::identity::{PortalSession, SessionService};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

/// Sessions in `tower_sessions.session`; every instance shares them.
#[derive(Debug, Clone)]
pub struct PgSessionStore {
    sessions: SessionService,
}

impl PgSessionStore {
    /// A store over the core's sessions.
    pub fn new(sessions: SessionService) -> Self {
        Self { sessions }
    }
}

fn expiry(record: &Record) -> DateTime<Utc> {
    DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0).unwrap_or_else(Utc::now)
}

fn backend(e: &locksmith_core::Error) -> Error {
    Error::Backend(e.to_string())
}

/// The signed-in user a record holds (the portal stores it under `USER_ID_KEY`).
fn user_id(record: &Record) -> Option<uuid::Uuid> {
    record
        .data
        .get(locksmith_app::auth::USER_ID_KEY)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// A record as the core stores it.
fn stored(record: &Record) -> Result<PortalSession> {
    Ok(PortalSession {
        id: record.id.to_string(),
        user_id: user_id(record),
        data: serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?,
        expires_at: expiry(record),
    })
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // A 128-bit random id practically never collides; if it does, draw again.
        loop {
            let session = stored(record)?;
            if self
                .sessions
                .create_portal_session(&session)
                .await
                .map_err(|e| backend(&e))?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.sessions
            .save_portal_session(&stored(record)?)
            .await
            .map_err(|e| backend(&e))
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some(data) = self
            .sessions
            .load_portal_session(&id.to_string())
            .await
            .map_err(|e| backend(&e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.sessions
            .delete_portal_session(&id.to_string())
            .await
            .map_err(|e| backend(&e))
    }
}
