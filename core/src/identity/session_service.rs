//! Sessions, as every door opens and closes them: signing in (through the sign-in gate),
//! API token pairs and their refresh, portal sessions, signing out, and the checks that
//! a presented session still stands. Both doors (REST and the portal) come through here,
//! so a sign-out is recorded the same way whichever door it came through.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::gate::SignInGate;
use super::login::{self, LoginError};
use super::portal_sessions::{self, PortalSession};
use super::revocation::{self, Presented};
use super::tokens::{self, IssuedRefresh, RefreshError, RefreshLifetime};
use super::users::User;
use super::{Actor, lockout};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;
use sqlx::PgPool;

/// What the hourly purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired portal sessions.
    pub portal_sessions: u64,
    /// Expired refresh tokens and revoked access-token ids past their expiry.
    pub tokens: u64,
    /// Sign-in counters that no longer count anything.
    pub counters: u64,
}

/// Signing in and out, and the sessions in between.
#[derive(Clone, Debug)]
pub struct SessionService {
    pool: PgPool,
    gate: Arc<SignInGate>,
    refresh: RefreshLifetime,
}

impl SessionService {
    /// Sessions over `pool`: sign-ins pass `gate`, refresh tokens live `refresh`.
    pub fn new(pool: PgPool, gate: Arc<SignInGate>, refresh: RefreshLifetime) -> Self {
        Self {
            pool,
            gate,
            refresh,
        }
    }

    /// Checks a password sign-in and returns the user (audited either way).
    #[tracing::instrument(name = "sessions.sign_in", skip_all, fields(db.system = "postgresql"))]
    pub async fn sign_in(
        &self,
        email: &str,
        password: SecretString,
        origin: &Origin,
    ) -> Result<User, LoginError> {
        login::login(&self.pool, &self.gate, email, password, origin).await
    }

    /// Signs in for the API: the user and the first refresh token of a new family.
    #[tracing::instrument(name = "sessions.sign_in_for_tokens", skip_all, fields(db.system = "postgresql"))]
    pub async fn sign_in_for_tokens(
        &self,
        email: &str,
        password: SecretString,
        origin: &Origin,
    ) -> Result<(User, IssuedRefresh), LoginError> {
        let user = self.sign_in(email, password, origin).await?;
        let mut conn = self.pool.acquire().await?;
        let refresh = tokens::start_family(&mut conn, user.id, self.refresh).await?;
        Ok((user, refresh))
    }

    /// Trades a refresh token for the next one of its family; a reused token revokes the
    /// family (audited as `token.reuse`).
    #[tracing::instrument(name = "sessions.refresh", skip_all, fields(db.system = "postgresql"))]
    pub async fn refresh(
        &self,
        token: &SecretString,
        origin: &Origin,
    ) -> Result<(User, IssuedRefresh), RefreshError> {
        tokens::rotate_refresh(&self.pool, token, self.refresh, origin).await
    }

    /// Signs out of the API: the access token `token_id` (valid until `expires_at`) and
    /// its refresh family are revoked on every instance.
    #[tracing::instrument(name = "sessions.sign_out_api", skip_all, fields(db.system = "postgresql"))]
    pub async fn sign_out_api(
        &self,
        actor: Actor,
        token_id: Uuid,
        expires_at: DateTime<Utc>,
        family_id: Option<Uuid>,
        origin: &Origin,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        tokens::revoke_session(&mut tx, token_id, expires_at, family_id).await?;
        audit::append(&mut tx, sign_out(actor, origin)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a sign-out of the portal (the session itself is deleted by the session
    /// layer, through [`SessionService::delete_portal_session`]).
    #[tracing::instrument(name = "sessions.sign_out_portal", skip_all, fields(db.system = "postgresql"))]
    pub async fn sign_out_portal(&self, actor: Actor, origin: &Origin) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        audit::append(&mut tx, sign_out(actor, origin)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user an access token speaks for, if it still stands (see
    /// [`super::revocation`]).
    pub async fn bearer_holder(&self, token: &Presented) -> Result<Option<User>> {
        revocation::bearer_holder(&self.pool, token).await
    }

    /// The user of a portal session signed in at `since`, if it still stands.
    pub async fn portal_holder(&self, user_id: Uuid, since: DateTime<Utc>) -> Result<Option<User>> {
        revocation::portal_holder(&self.pool, user_id, since).await
    }

    /// Stores a new portal session; `false` if the id is taken (draw another).
    pub async fn create_portal_session(&self, session: &PortalSession) -> Result<bool> {
        portal_sessions::create(&self.pool, session).await
    }

    /// Writes a portal session.
    pub async fn save_portal_session(&self, session: &PortalSession) -> Result<()> {
        portal_sessions::save(&self.pool, session).await
    }

    /// Reads a portal session that has not expired.
    pub async fn load_portal_session(&self, id: &str) -> Result<Option<Vec<u8>>> {
        portal_sessions::load(&self.pool, id).await
    }

    /// Deletes a portal session.
    pub async fn delete_portal_session(&self, id: &str) -> Result<()> {
        portal_sessions::delete(&self.pool, id).await
    }

    /// Removes what has expired: portal sessions, tokens and idle sign-in counters (run
    /// hourly by the server).
    #[tracing::instrument(name = "sessions.purge", skip_all, fields(db.system = "postgresql"))]
    pub async fn purge(&self) -> Result<Purged> {
        Ok(Purged {
            portal_sessions: portal_sessions::purge_expired(&self.pool).await?,
            tokens: tokens::purge_expired(&self.pool).await?,
            counters: lockout::purge_stale(&self.pool, self.gate.lockout(), Utc::now()).await?,
        })
    }
}

/// The audit row of a sign-out, through either door.
fn sign_out(actor: Actor, origin: &Origin) -> NewEntry {
    NewEntry::of(actor, Action::UserLogout, actor.id, origin)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::PgPool;

    use super::*;
    use crate::audit::Action;
    use crate::identity::Role;
    use crate::identity::gate::HashingLimit;
    use crate::identity::lockout::LockoutPolicy;
    use crate::limits::Rate;
    use crate::test_support::{PASSWORD, head, trail, user};

    fn sessions(pool: &PgPool) -> SessionService {
        SessionService::new(
            pool.clone(),
            Arc::new(SignInGate::new(
                LockoutPolicy::default(),
                Rate::OFF,
                HashingLimit::for_this_machine(),
            )),
            RefreshLifetime {
                token: Duration::from_secs(3600),
                family: Duration::from_secs(86_400),
            },
        )
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn signing_in_and_out_is_audited_the_same_through_either_door_and_makes_no_event(
        pool: PgPool,
    ) {
        let service = sessions(&pool);
        let ada = user(&pool, "ada@example.com", Role::Owner).await;
        let start = head(&pool).await;
        let origin = Origin::default();
        let wrong = service
            .sign_in(
                "ada@example.com",
                SecretString::from("not the password"),
                &origin,
            )
            .await;
        assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
        let (signed_in, refresh) = service
            .sign_in_for_tokens("ada@example.com", SecretString::from(PASSWORD), &origin)
            .await
            .expect("signed in");
        assert_eq!(signed_in.id, ada.id);
        let token = Presented {
            user_id: ada.id,
            token_id: Uuid::new_v4(),
            family_id: Some(refresh.family_id),
            issued_at: Utc::now().timestamp(),
        };
        assert!(
            service
                .bearer_holder(&token)
                .await
                .expect("holder")
                .is_some()
        );
        let actor = Actor::from(&ada);
        let expires = Utc::now() + chrono::Duration::minutes(15);
        service
            .sign_out_api(actor, token.token_id, expires, token.family_id, &origin)
            .await
            .expect("signed out");
        assert!(
            service
                .bearer_holder(&token)
                .await
                .expect("holder")
                .is_none()
        );
        service
            .sign_out_portal(actor, &origin)
            .await
            .expect("portal");

        let actions: Vec<String> = trail(&pool)
            .await
            .into_iter()
            .rev()
            .filter(|e| e.actor_id == Some(ada.id))
            .map(|e| e.action)
            .collect();
        let logout = Action::UserLogout.as_str();
        assert_eq!(actions, [Action::UserLogin.as_str(), logout, logout]);
        assert_eq!(
            head(&pool).await,
            start,
            "session bookkeeping makes no event"
        );
    }
}
