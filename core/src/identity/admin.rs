//! User administration: each change in one transaction with its audit row. The REST API,
//! the command line and the portal all come through here.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::users::{self, NewUser, User, UserPatch};
use crate::audit::{self, NewEntry, Origin};
use crate::error::{Error, Result};

fn snapshot(user: &User) -> serde_json::Value {
    // `User` holds no secret (no password hash), so it can be recorded as is.
    serde_json::to_value(user).unwrap_or_else(|_| json!({ "id": user.id }))
}

/// Creates a user; `actor` is `None` when created from the command line.
pub async fn create_user(
    pool: &PgPool,
    actor: Option<Uuid>,
    new: NewUser,
    origin: &Origin,
) -> Result<User> {
    let mut tx = pool.begin().await?;
    let user = users::create(&mut tx, new).await?;
    audit::append(
        &mut tx,
        NewEntry {
            actor_id: actor,
            action: "user.create",
            target_type: "user",
            target_id: Some(user.id.to_string()),
            origin: origin.clone(),
            before: None,
            after: Some(snapshot(&user)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes a user. An admin cannot disable or demote themselves, so an installation
/// cannot lose its last admin by accident.
pub async fn update_user(
    pool: &PgPool,
    actor: Uuid,
    id: Uuid,
    patch: UserPatch,
    origin: &Origin,
) -> Result<User> {
    if actor == id && (patch.disabled == Some(true) || patch.role.is_some_and(|r| !r.is_admin())) {
        return Err(Error::Conflict(
            "role: you cannot disable or demote your own account".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let (before, after) = users::update(&mut tx, id, patch).await?;
    if before != after {
        audit::append(
            &mut tx,
            NewEntry {
                actor_id: Some(actor),
                action: "user.update",
                target_type: "user",
                target_id: Some(id.to_string()),
                origin: origin.clone(),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}
