//! Users, as every door reads and changes them: each change in one transaction with its
//! audit row and events. The REST API, the command line and the portal all come through
//! here.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::Actor;
use super::revocation;
use super::users::{self, NewUser, User, UserPatch};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::{Event, UserRef};

fn snapshot(user: &User) -> serde_json::Value {
    // `User` holds no secret (no password hash), so it can be recorded as is.
    serde_json::to_value(user).unwrap_or_else(|_| json!({ "id": user.id }))
}

/// The users of the installation.
#[derive(Clone, Debug)]
pub struct UserService {
    pool: PgPool,
}

impl UserService {
    /// The users in the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A page of users, oldest first; `after` is the last id of the previous page. Admins
    /// and auditors (who read everything) may list users, through every door alike.
    #[tracing::instrument(name = "users.list", skip_all, fields(db.system = "postgresql"))]
    pub async fn list(&self, actor: Actor, after: Option<Uuid>, limit: i64) -> Result<Vec<User>> {
        actor.check_reader()?;
        users::list(&self.pool, after, limit).await
    }

    /// One user: admins and auditors see anyone, everyone else only themselves; another
    /// user is `NotFound`, so that an owner learns nothing, not even that they exist.
    #[tracing::instrument(name = "users.get", skip_all, fields(db.system = "postgresql"))]
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<User> {
        actor.check_visible(id)?;
        users::find(&self.pool, id).await?.ok_or(Error::NotFound)
    }

    /// The emails of the users among `ids` that the caller may see (owners: themselves).
    pub async fn emails(&self, actor: Actor, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        let visible: Vec<Uuid> = ids.iter().copied().filter(|id| actor.sees(*id)).collect();
        users::emails(&self.pool, &visible).await
    }

    /// Whether any user exists (the start-up hint to create the first admin).
    pub async fn any_exists(&self, actor: Actor) -> Result<bool> {
        actor.check_reader()?;
        users::any_exists(&self.pool).await
    }

    /// Creates a user (admins, and the system from the command line).
    #[tracing::instrument(name = "users.create", skip_all, fields(db.system = "postgresql"))]
    pub async fn create(&self, actor: Actor, input: NewUserInput, origin: &Origin) -> Result<User> {
        actor.check_admin()?;
        let new = input.validate().await?;
        let mut tx = self.pool.begin().await?;
        let user = users::create(&mut tx, new).await?;
        let entry = NewEntry::of(actor, Action::UserCreate, user.id, origin)
            .after(snapshot(&user))
            .events([Event::UserCreated {
                user: UserRef::from(&user),
            }]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes a user (admins). An admin cannot disable or demote themselves, so an
    /// installation cannot lose its last admin by accident. Disabling a user ends every
    /// session they have (see [`super::revocation`]), recorded as its own
    /// `user.sessions_end` entry.
    #[tracing::instrument(name = "users.update", skip_all, fields(db.system = "postgresql"))]
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        input: UserPatchInput,
        origin: &Origin,
    ) -> Result<User> {
        actor.check_admin()?;
        let patch = input.validate()?;
        if actor.id == id
            && (patch.disabled == Some(true) || patch.role.is_some_and(|r| !r.is_admin()))
        {
            return Err(Error::Conflict(
                "role: you cannot disable or demote your own account".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let (before, after) = users::update(&mut tx, id, patch).await?;
        let mut entries = Vec::new();
        if before != after {
            entries.push(
                NewEntry::of(actor, Action::UserUpdate, id, origin)
                    .before(snapshot(&before))
                    .after(snapshot(&after))
                    .events(Event::user_changed(&before, &after)),
            );
        }
        if !before.disabled && after.disabled {
            let ended = revocation::end_all_sessions(&mut tx, id, chrono::Utc::now()).await?;
            entries.push(
                NewEntry::of(actor, Action::UserSessionsEnd, id, origin).after(json!({
                    "reason": "disabled",
                    "refresh_families": ended.refresh_families,
                    "portal_sessions": ended.portal_sessions,
                })),
            );
        }
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(after)
    }
}

/// A user to create, as typed by an admin (REST body, portal form).
#[derive(Debug)]
pub struct NewUserInput {
    /// Sign-in email.
    pub email: String,
    /// Initial password.
    pub password: secrecy::SecretString,
    pub role: super::Role,
    /// Name to show.
    pub display_name: Option<String>,
    /// Owner policy: most keys.
    pub max_keys: Option<i64>,
    /// Owner policy: allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// Owner policy: whether the owner may change their keys' limits.
    pub may_change_limits: Option<bool>,
    /// Owner policy: largest quota.
    pub max_quota: Option<crate::key_limits::QuotaSpec>,
    /// Owner policy: largest rate limit.
    pub max_rate_limit: Option<crate::key_limits::RateLimit>,
    /// Owner policy: longest key lifetime, in seconds.
    pub max_key_lifetime_seconds: Option<i64>,
}

impl NewUserInput {
    /// A user with an email, a password and a role, and no name or owner policy.
    pub fn new(
        email: impl Into<String>,
        password: secrecy::SecretString,
        role: super::Role,
    ) -> Self {
        Self {
            email: email.into(),
            password,
            role,
            display_name: None,
            max_keys: None,
            allowed_scopes: None,
            may_change_limits: None,
            max_quota: None,
            max_rate_limit: None,
            max_key_lifetime_seconds: None,
        }
    }

    /// Checks the email and the password without touching the database or hashing: the
    /// command line refuses a weak password before it starts a database.
    pub fn precheck(&self) -> Result<()> {
        let email = super::Email::parse(&self.email)?;
        super::Password::parse(self.password.clone(), Some(&email))?;
        Ok(())
    }

    /// Validates every field (errors name the field) and hashes the password.
    async fn validate(self) -> Result<NewUser> {
        use super::users::{DisplayName, parse_max_keys};
        use super::{Email, Password};
        use crate::scope::Scope;
        let email = Email::parse(&self.email)?;
        let password = Password::parse(self.password, Some(&email))?;
        let display_name = self
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?;
        let max_keys = self.max_keys.map(parse_max_keys).transpose()?;
        let allowed_scopes = self
            .allowed_scopes
            .as_deref()
            .map(|s| Scope::parse_list("allowed_scopes", s))
            .transpose()?;
        let key_limits = crate::key_limits::OwnerKeyLimits {
            may_change: self.may_change_limits.unwrap_or(false),
            max_quota: self
                .max_quota
                .map(|q| q.validate_as("max_quota"))
                .transpose()?,
            max_rate_limit: self
                .max_rate_limit
                .map(|r| r.validate_as("max_rate_limit"))
                .transpose()?,
            max_lifetime_seconds: self
                .max_key_lifetime_seconds
                .map(|s| crate::key_limits::parse_lifetime("max_key_lifetime_seconds", s))
                .transpose()?,
        };
        Ok(NewUser {
            email,
            password: password.hash().await,
            role: self.role,
            display_name,
            max_keys,
            allowed_scopes,
            key_limits,
        })
    }
}

/// Changes to a user as typed: `None` leaves a field, `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct UserPatchInput {
    /// New role.
    pub role: Option<super::Role>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
    /// New name, or cleared.
    pub display_name: Option<Option<String>>,
    /// New key limit, or no limit.
    pub max_keys: Option<Option<i64>>,
    /// New allowed scopes, or any.
    pub allowed_scopes: Option<Option<Vec<String>>>,
    /// Whether the owner may change their keys' limits.
    pub may_change_limits: Option<bool>,
    /// New largest quota, or none.
    pub max_quota: Option<Option<crate::key_limits::QuotaSpec>>,
    /// New largest rate limit, or none.
    pub max_rate_limit: Option<Option<crate::key_limits::RateLimit>>,
    /// New longest key lifetime in seconds, or none.
    pub max_key_lifetime_seconds: Option<Option<i64>>,
}

impl UserPatchInput {
    /// Validates every given field.
    fn validate(self) -> Result<UserPatch> {
        use super::users::{DisplayName, parse_max_keys};
        use crate::scope::Scope;
        Ok(UserPatch {
            role: self.role,
            disabled: self.disabled,
            display_name: self
                .display_name
                .map(|d| d.as_deref().map(DisplayName::parse).transpose())
                .transpose()?,
            max_keys: self
                .max_keys
                .map(|m| m.map(parse_max_keys).transpose())
                .transpose()?,
            allowed_scopes: self
                .allowed_scopes
                .map(|s| {
                    s.as_deref()
                        .map(|s| Scope::parse_list("allowed_scopes", s))
                        .transpose()
                })
                .transpose()?,
            may_change_limits: self.may_change_limits,
            max_quota: self
                .max_quota
                .map(|q| q.map(|q| q.validate_as("max_quota")).transpose())
                .transpose()?,
            max_rate_limit: self
                .max_rate_limit
                .map(|r| r.map(|r| r.validate_as("max_rate_limit")).transpose())
                .transpose()?,
            max_key_lifetime_seconds: self
                .max_key_lifetime_seconds
                .map(|l| {
                    l.map(|s| crate::key_limits::parse_lifetime("max_key_lifetime_seconds", s))
                        .transpose()
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;
    use crate::identity::Role;
    use crate::test_support::{head, kinds_after, trail, user};

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_users_life_is_read_back_in_order_and_refusals_write_nothing(pool: PgPool) {
        let users = UserService::new(pool.clone());
        let origin = Origin::default();
        let admin = Actor::from(&user(&pool, "admin@example.com", Role::Admin).await);
        let start = head(&pool).await;
        let ada = user(&pool, "ada@example.com", Role::Owner).await;
        let promote = UserPatchInput {
            role: Some(Role::Auditor),
            display_name: Some(Some("Ada".into())),
            ..UserPatchInput::default()
        };
        users
            .update(admin, ada.id, promote, &origin)
            .await
            .expect("promoted");
        let disable = UserPatchInput {
            disabled: Some(true),
            ..UserPatchInput::default()
        };
        users
            .update(admin, ada.id, disable, &origin)
            .await
            .expect("disabled");
        assert_eq!(
            kinds_after(&pool, start).await,
            [
                "user.created",
                "user.role_changed",
                "user.updated",
                "user.disabled"
            ]
        );

        let owner = Actor::from(&user(&pool, "owner@example.com", Role::Owner).await);
        let start = head(&pool).await;
        let rows = trail(&pool).await.len();
        // An admin cannot demote themselves; an owner administers nobody.
        let demote = UserPatchInput {
            role: Some(Role::Owner),
            ..UserPatchInput::default()
        };
        let err = users
            .update(admin, admin.id, demote, &origin)
            .await
            .expect_err("self");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        let err = users
            .update(owner, ada.id, UserPatchInput::default(), &origin)
            .await
            .expect_err("owner");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        // The same change again changes nothing.
        let again = UserPatchInput {
            disabled: Some(true),
            ..UserPatchInput::default()
        };
        users
            .update(admin, ada.id, again, &origin)
            .await
            .expect("no-op");
        assert!(kinds_after(&pool, start).await.is_empty());
        assert_eq!(trail(&pool).await.len(), rows);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn owners_see_only_themselves_and_list_nobody(pool: PgPool) {
        let users = UserService::new(pool.clone());
        let owner = Actor::from(&user(&pool, "owner@example.com", Role::Owner).await);
        let other = user(&pool, "other@example.com", Role::Owner).await;
        let auditor = Actor::from(&user(&pool, "auditor@example.com", Role::Auditor).await);
        assert_eq!(users.get(owner, owner.id).await.expect("me").id, owner.id);
        assert!(matches!(
            users.get(owner, other.id).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            users.list(owner, None, 10).await,
            Err(Error::Forbidden(_))
        ));
        assert_eq!(users.list(auditor, None, 10).await.expect("list").len(), 3);
        assert_eq!(
            users
                .emails(owner, &[owner.id, other.id])
                .await
                .expect("emails"),
            [(owner.id, "owner@example.com".to_owned())]
        );
        // Auditors read; they change nothing.
        let err = users
            .create(
                auditor,
                NewUserInput::new(
                    "new@example.com",
                    secrecy::SecretString::from(crate::test_support::PASSWORD),
                    Role::Owner,
                ),
                &Origin::default(),
            )
            .await
            .expect_err("auditor");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    }
}
