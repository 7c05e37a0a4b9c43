//! Keyspaces and their verifier tokens in the portal: DTOs and thin server functions over
//! `locksmith_core::keys::keyspaces`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A verifier as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierRow {
    pub id: String,
    /// Keyspace id.
    pub keyspace_id: String,
    /// Name (the calling service).
    pub name: String,
    /// The first characters of the token.
    pub start: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests in the last 24 hours.
    pub requests_24h: i64,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A keyspace with its verifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyspaceRow {
    pub id: String,
    pub name: String,
    /// Every key of it starts with `<prefix>_`.
    pub prefix: String,
    /// The header a proxy finds its keys in (`authorization`: `Bearer <key>`).
    pub key_header: String,
    /// What happens to a key reported as leaked: `notify`, `disable`, `revoke`.
    pub leak_action: String,
    /// What happens to a key with a high-severity unusual-use finding: `notify`,
    /// `disable`.
    pub anomaly_action: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Its verifiers, newest first.
    pub verifiers: Vec<VerifierRow>,
}

/// The keyspaces page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyspacesView {
    /// Keyspaces, oldest first.
    pub keyspaces: Vec<KeyspaceRow>,
    /// Where services reach this server (for the curl example).
    pub base_url: String,
    /// Whether the viewer may change them (admins).
    pub may_change: bool,
    /// Leak-reporter tokens and GitHub secret scanning.
    pub leaks: crate::leaks::LeakIntake,
}

/// A new verifier with its token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVerifier {
    /// The token. Never stored, never shown again.
    pub token: String,
    /// The verifier.
    pub verifier: VerifierRow,
}

/// Every keyspace with its verifiers (admin, auditor).
#[server(prefix = "/api", endpoint = "list_keyspaces")]
pub async fn list_keyspaces() -> Result<KeyspacesView, AppError> {
    server::list().await.map_err(AppError::respond)
}

/// Creates a keyspace (admin).
#[server(prefix = "/api", endpoint = "create_keyspace")]
pub async fn create_keyspace(name: String, prefix: String) -> Result<KeyspaceRow, AppError> {
    server::create(name, prefix)
        .await
        .map_err(AppError::respond)
}

/// Sets the header proxies find a keyspace's keys in (admin).
#[server(prefix = "/api", endpoint = "set_key_header")]
pub async fn set_key_header(
    keyspace_id: String,
    key_header: String,
) -> Result<KeyspaceRow, AppError> {
    server::set_key_header(keyspace_id, key_header)
        .await
        .map_err(AppError::respond)
}

/// Sets what happens to a keyspace's keys when they leak or are used unusually (admin).
#[server(prefix = "/api", endpoint = "set_keyspace_policies")]
pub async fn set_keyspace_policies(
    keyspace_id: String,
    leak_action: String,
    anomaly_action: String,
) -> Result<KeyspaceRow, AppError> {
    server::set_policies(keyspace_id, leak_action, anomaly_action)
        .await
        .map_err(AppError::respond)
}

/// Issues a verifier token for a keyspace (admin); the answer holds the token, once.
#[server(prefix = "/api", endpoint = "create_verifier")]
pub async fn create_verifier(keyspace_id: String, name: String) -> Result<NewVerifier, AppError> {
    server::create_verifier(keyspace_id, name)
        .await
        .map_err(AppError::respond)
}

/// Revokes a verifier token (admin).
#[server(prefix = "/api", endpoint = "revoke_verifier")]
pub async fn revoke_verifier(keyspace_id: String, id: String) -> Result<VerifierRow, AppError> {
    server::revoke_verifier(keyspace_id, id)
        .await
        .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
mod server {
    use locksmith_core::identity::Role;
    use locksmith_core::keys::{Actor, Keyspace, KeyspaceChanges, KeyspaceService, VerifierView};

    use super::{KeyspaceRow, KeyspacesView, NewVerifier, VerifierRow};
    use crate::auth::server::{origin, require, service};
    use crate::error::AppError;
    use crate::form::id;

    fn verifier_row(v: VerifierView) -> VerifierRow {
        let requests_24h = v.requests_24h;
        let v = v.verifier;
        VerifierRow {
            requests_24h,
            id: v.id.to_string(),
            keyspace_id: v.keyspace_id.to_string(),
            name: v.name,
            start: v.start,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
            revoked_at: v.revoked_at,
        }
    }

    fn keyspace_row(k: Keyspace, verifiers: Vec<VerifierView>) -> KeyspaceRow {
        let mut verifiers: Vec<VerifierRow> = verifiers.into_iter().map(verifier_row).collect();
        verifiers.sort_by_key(|v| std::cmp::Reverse(v.created_at));
        KeyspaceRow {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            key_header: k.key_header,
            leak_action: k.leak_action.as_str().to_owned(),
            anomaly_action: k.anomaly_action.as_str().to_owned(),
            created_at: k.created_at,
            verifiers,
        }
    }

    pub(super) async fn list() -> Result<KeyspacesView, AppError> {
        let user = require(&[Role::Admin, Role::Auditor]).await?;
        let service: KeyspaceService = service()?;
        let actor = Actor::from(&user);
        let mut keyspaces = Vec::new();
        for k in service.list(actor, None, 1000).await? {
            let verifiers = service.list_verifiers(actor, k.id).await?;
            keyspaces.push(keyspace_row(k, verifiers));
        }
        Ok(KeyspacesView {
            keyspaces,
            base_url: crate::auth::server::base_url(),
            may_change: user.role.is_admin(),
            leaks: crate::leaks::server::intake(actor).await?,
        })
    }

    pub(super) async fn create(name: String, prefix: String) -> Result<KeyspaceRow, AppError> {
        let user = require(&[Role::Admin]).await?;
        let keyspace = service::<KeyspaceService>()?
            .create(
                Actor::from(&user),
                name.trim(),
                prefix.trim(),
                None,
                &origin().await,
            )
            .await?;
        Ok(keyspace_row(keyspace, Vec::new()))
    }

    pub(super) async fn set_key_header(
        keyspace_id: String,
        key_header: String,
    ) -> Result<KeyspaceRow, AppError> {
        let changes = KeyspaceChanges {
            key_header: Some(key_header),
            ..KeyspaceChanges::default()
        };
        update(keyspace_id, changes).await
    }

    pub(super) async fn set_policies(
        keyspace_id: String,
        leak_action: String,
        anomaly_action: String,
    ) -> Result<KeyspaceRow, AppError> {
        use locksmith_core::findings::{AnomalyAction, LeakAction};
        let changes = KeyspaceChanges {
            leak_action: Some(LeakAction::parse(leak_action.trim()).ok_or_else(|| {
                AppError::Invalid("leak_action: must be notify, disable or revoke".into())
            })?),
            anomaly_action: Some(AnomalyAction::parse(anomaly_action.trim()).ok_or_else(|| {
                AppError::Invalid("anomaly_action: must be notify or disable".into())
            })?),
            ..KeyspaceChanges::default()
        };
        update(keyspace_id, changes).await
    }

    async fn update(
        keyspace_id: String,
        changes: KeyspaceChanges,
    ) -> Result<KeyspaceRow, AppError> {
        let user = require(&[Role::Admin]).await?;
        let service: KeyspaceService = service()?;
        let actor = Actor::from(&user);
        let keyspace = service
            .update(
                actor,
                id("keyspace_id", &keyspace_id)?,
                &changes,
                &origin().await,
            )
            .await?;
        let verifiers = service.list_verifiers(actor, keyspace.id).await?;
        Ok(keyspace_row(keyspace, verifiers))
    }

    pub(super) async fn create_verifier(
        keyspace_id: String,
        name: String,
    ) -> Result<NewVerifier, AppError> {
        let user = require(&[Role::Admin]).await?;
        let created = service::<KeyspaceService>()?
            .create_verifier(
                Actor::from(&user),
                id("keyspace_id", &keyspace_id)?,
                name.trim(),
                &origin().await,
            )
            .await?;
        Ok(NewVerifier {
            token: created.token.expose().to_owned(),
            verifier: verifier_row(VerifierView {
                verifier: created.verifier,
                requests_24h: 0,
            }),
        })
    }

    pub(super) async fn revoke_verifier(
        keyspace_id: String,
        verifier_id: String,
    ) -> Result<VerifierRow, AppError> {
        let user = require(&[Role::Admin]).await?;
        let verifier = service::<KeyspaceService>()?
            .revoke_verifier(
                Actor::from(&user),
                id("keyspace_id", &keyspace_id)?,
                id("id", &verifier_id)?,
                &origin().await,
            )
            .await?;
        Ok(verifier_row(VerifierView {
            verifier,
            requests_24h: 0,
        }))
    }
}
