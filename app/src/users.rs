//! Users administration for the portal: DTOs and thin server functions over
//! `locksmith_core::identity::admin`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A row of the users table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Owner policy: most keys.
    pub max_keys: Option<i32>,
    /// Owner policy: allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// Last sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Every user, oldest first (admin, auditor).
#[server(prefix = "/api", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    server::list().await.map_err(AppError::respond)
}

/// Creates a user (admin). Empty optional fields mean "none"; scopes are comma-separated.
#[server(prefix = "/api", endpoint = "create_user")]
pub async fn create_user(
    email: String,
    password: String,
    role: String,
    display_name: String,
    max_keys: String,
    allowed_scopes: String,
) -> Result<UserRow, AppError> {
    server::create(
        email,
        password,
        role,
        display_name,
        max_keys,
        allowed_scopes,
    )
    .await
    .map_err(AppError::respond)
}

/// Changes a user's role or access (admin). Absent fields stay as they are.
#[server(prefix = "/api", endpoint = "update_user")]
pub async fn update_user(
    id: String,
    role: Option<String>,
    disabled: Option<bool>,
) -> Result<UserRow, AppError> {
    server::update(id, role, disabled, None)
        .await
        .map_err(AppError::respond)
}

/// Sets an owner's policy (admin): an empty key limit means no limit, empty scopes any.
#[server(prefix = "/api", endpoint = "set_owner_policy")]
pub async fn set_owner_policy(
    id: String,
    max_keys: String,
    allowed_scopes: String,
) -> Result<UserRow, AppError> {
    server::update(id, None, None, Some((max_keys, allowed_scopes)))
        .await
        .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
mod server {
    use locksmith_core::identity::Actor;
    use locksmith_core::identity::Role;
    use locksmith_core::identity::admin::{self, NewUserInput, UserPatchInput};
    use locksmith_core::identity::users::User;
    use secrecy::SecretString;
    use uuid::Uuid;

    use super::UserRow;
    use crate::auth::server::{origin, pool, require};
    use crate::error::AppError;
    use crate::form::optional;

    fn row(u: User) -> UserRow {
        UserRow {
            id: u.id.to_string(),
            email: u.email,
            role: u.role.as_str().to_owned(),
            display_name: u.display_name,
            disabled: u.disabled,
            max_keys: u.max_keys,
            allowed_scopes: u.allowed_scopes,
            last_login_at: u.last_login_at,
        }
    }

    fn role(raw: &str) -> Result<Role, AppError> {
        Role::parse(raw)
            .ok_or_else(|| AppError::Invalid("role: must be admin, auditor or owner".into()))
    }

    fn max_keys(raw: &str) -> Result<Option<i64>, AppError> {
        optional(raw)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    AppError::Invalid(
                        "max_keys: must be a whole number, or empty for no limit".into(),
                    )
                })
            })
            .transpose()
    }

    fn scopes(raw: &str) -> Option<Vec<String>> {
        optional(raw).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    pub(super) async fn list() -> Result<Vec<UserRow>, AppError> {
        let caller = require(&[]).await?;
        Ok(
            admin::list_users(&pool()?, Actor::from(&caller), None, 1000)
                .await?
                .into_iter()
                .map(row)
                .collect(),
        )
    }

    pub(super) async fn create(
        email: String,
        password: String,
        role_name: String,
        display_name: String,
        max_keys_raw: String,
        scopes_raw: String,
    ) -> Result<UserRow, AppError> {
        let admin_user = require(&[Role::Admin]).await?;
        let new = NewUserInput {
            email,
            password: SecretString::from(password),
            role: role(&role_name)?,
            display_name: optional(&display_name),
            max_keys: max_keys(&max_keys_raw)?,
            allowed_scopes: scopes(&scopes_raw),
        }
        .validate()
        .await?;
        let user = admin::create_user(&pool()?, Some(admin_user.id), new, &origin().await).await?;
        Ok(row(user))
    }

    pub(super) async fn update(
        id: String,
        role_name: Option<String>,
        disabled: Option<bool>,
        policy: Option<(String, String)>,
    ) -> Result<UserRow, AppError> {
        let admin_user = require(&[Role::Admin]).await?;
        let id = Uuid::parse_str(&id).map_err(|_| AppError::Invalid("id: not a user id".into()))?;
        let patch = UserPatchInput {
            role: role_name.as_deref().map(role).transpose()?,
            disabled,
            display_name: None,
            max_keys: policy.as_ref().map(|(m, _)| max_keys(m)).transpose()?,
            allowed_scopes: policy.as_ref().map(|(_, s)| scopes(s)),
        }
        .validate()?;
        let user = admin::update_user(&pool()?, admin_user.id, id, patch, &origin().await).await?;
        Ok(row(user))
    }
}
