//! What the core's database tests share: users made through the service, a hasher, and
//! the event log and audit trail read back through their services.

use secrecy::SecretString;
use sqlx::PgPool;

use crate::audit::{AuditFilter, AuditService, Entry};
use crate::events::{EventLog, RecordedEvent};
use crate::identity::users::User;
use crate::identity::{Actor, NewUserInput, Role, UserService};
use crate::keys::KeyHasher;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A user of `role`, created by the system.
pub(crate) async fn user(pool: &PgPool, email: &str, role: Role) -> User {
    UserService::new(pool.clone())
        .create(
            Actor::SYSTEM,
            NewUserInput::new(email, SecretString::from(PASSWORD), role),
            &Default::default(),
        )
        .await
        .expect("user created")
}

pub(crate) fn hasher() -> KeyHasher {
    KeyHasher::new(&SecretString::from("a pepper for tests, 32 bytes long"))
}

/// Every event, oldest first.
pub(crate) async fn events(pool: &PgPool) -> Vec<RecordedEvent> {
    EventLog::new(pool.clone())
        .after(0, 1000)
        .await
        .expect("events")
}

/// The types of the events after `position`, oldest first.
pub(crate) async fn kinds_after(pool: &PgPool, position: i64) -> Vec<&'static str> {
    events(pool)
        .await
        .into_iter()
        .filter(|e| e.position > position)
        .map(|e| e.event.kind())
        .collect()
}

/// The newest position.
pub(crate) async fn head(pool: &PgPool) -> i64 {
    EventLog::new(pool.clone()).head().await.expect("head")
}

/// Every audit row, newest first.
pub(crate) async fn trail(pool: &PgPool) -> Vec<Entry> {
    AuditService::new(pool.clone())
        .list(Actor::SYSTEM, &AuditFilter::default(), None, 1000)
        .await
        .expect("trail")
}
