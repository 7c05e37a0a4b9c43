//! `WebhookService`: subscriptions and their delivery logs. Admins manage installation
//! endpoints (every event) and may act on any endpoint; owners manage their own
//! endpoints, which receive only the events of their own keys; auditors read. Every
//! change is audited in its transaction.

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use secrecy::ExposeSecret as _;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{
    CreatedWebhook, Delivery, DeliveryStatus, Webhook, WebhookPolicy, parse_description,
    parse_event_types,
};
use super::sealing::SecretSealer;
use super::signature::SigningSecret;
use super::store::{self, Row};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::identity::{Actor, Role};

/// The default overlap of a rotated secret: a day.
pub const DEFAULT_OVERLAP: Duration = Duration::days(1);
/// Most endpoints an owner may have: each multiplies the deliveries of their events.
pub const MAX_OWNER_ENDPOINTS: i64 = 10;
/// The longest overlap of a rotated secret: a week.
const MAX_OVERLAP_SECONDS: i64 = 7 * 86_400;

/// A new endpoint.
#[derive(Debug, Clone, Default)]
pub struct NewWebhookInput {
    pub url: String,
    pub description: Option<String>,
    /// `None`: every type.
    pub events: Option<Vec<String>>,
    pub keyspace_id: Option<Uuid>,
}

/// A change of an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: every type.
    pub events: Option<Option<Vec<String>>>,
    /// `Some(None)`: every keyspace.
    pub keyspace_id: Option<Option<Uuid>>,
    /// Switching an endpoint on clears why Locksmith switched it off.
    pub enabled: Option<bool>,
}

/// Webhook subscriptions.
#[derive(Clone, Debug)]
pub struct WebhookService {
    pool: PgPool,
    sealer: SecretSealer,
    policy: WebhookPolicy,
}

fn snapshot(webhook: &Webhook) -> serde_json::Value {
    // A view holds no secret.
    serde_json::to_value(webhook).unwrap_or(serde_json::Value::Null)
}

/// `NotFound` unless `actor` may see the endpoint (readers see all, owners their own).
fn check_visible(actor: Actor, row: &Row) -> Result<()> {
    if actor.role.reads_everything() || row.owner_id == Some(actor.id) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// `Forbidden` unless `actor` may change the endpoint (after [`check_visible`]): admins
/// any, owners their own.
fn check_manage(actor: Actor, row: &Row) -> Result<()> {
    check_visible(actor, row)?;
    if actor.role.is_admin() || (actor.role == Role::Owner && row.owner_id == Some(actor.id)) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Auditors read webhooks; admins and the endpoint's owner change them.".into(),
        ))
    }
}

impl WebhookService {
    /// Subscriptions in the database behind `pool`, secrets sealed with `sealer`, URLs
    /// checked against `policy`.
    pub fn new(pool: PgPool, sealer: SecretSealer, policy: WebhookPolicy) -> Self {
        Self {
            pool,
            sealer,
            policy,
        }
    }

    /// Creates an endpoint: an admin's receives every event (of its types and keyspace),
    /// an owner's only those of the owner's keys. The secret is in this answer only.
    #[tracing::instrument(name = "webhooks.create", skip_all, fields(db.system = "postgresql"))]
    pub async fn create(
        &self,
        actor: Actor,
        input: NewWebhookInput,
        origin: &Origin,
    ) -> Result<CreatedWebhook> {
        let owner_id = match actor.role {
            Role::Admin => None,
            Role::Owner => Some(actor.id),
            Role::Auditor => {
                return Err(Error::Forbidden(
                    "Auditors read webhooks; they do not create them.".into(),
                ));
            }
        };
        let url = self.policy.parse_url(&input.url)?;
        let description = parse_description(input.description)?;
        let event_types = parse_event_types(input.events, owner_id.is_some())?;
        if let Some(keyspace) = input.keyspace_id {
            self.check_keyspace(keyspace).await?;
        }
        if let Some(owner) = owner_id
            && store::count_of_owner(&self.pool, owner).await? >= MAX_OWNER_ENDPOINTS
        {
            return Err(Error::Forbidden(format!(
                "An owner may have at most {MAX_OWNER_ENDPOINTS} endpoints; delete one first."
            )));
        }
        let (secret, text) = SigningSecret::generate();
        let id = Uuid::new_v4();
        let now = Utc::now().trunc_subsecs(6);
        let row = Row {
            id,
            url,
            description,
            event_types,
            keyspace_id: input.keyspace_id,
            owner_id,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            secret: self.sealer.seal(id, &secret),
            previous_secret: None,
            previous_secret_until: None,
            created_by: actor.recorded_id(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.pool.begin().await?;
        store::insert(&mut tx, &row).await?;
        let webhook = row.view();
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookCreate, id, origin).after(snapshot(&webhook)),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedWebhook {
            webhook,
            secret: text.into(),
        })
    }

    /// `NotFound` for a keyspace that does not exist (as for a key's).
    async fn check_keyspace(&self, id: Uuid) -> Result<()> {
        if store::keyspace_exists(&self.pool, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// A page of the endpoints the caller may see, oldest first; `after` is the last id
    /// of the previous page.
    #[tracing::instrument(name = "webhooks.list", skip_all, fields(db.system = "postgresql"))]
    pub async fn list(
        &self,
        actor: Actor,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Webhook>> {
        let owner = (!actor.role.reads_everything()).then_some(actor.id);
        Ok(store::list(&self.pool, owner, after, limit)
            .await?
            .iter()
            .map(Row::view)
            .collect())
    }

    /// One endpoint.
    #[tracing::instrument(name = "webhooks.get", skip_all, fields(db.system = "postgresql"))]
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<Webhook> {
        let mut conn = self.pool.acquire().await?;
        let row = store::find(&mut conn, id, false)
            .await?
            .ok_or(Error::NotFound)?;
        check_visible(actor, &row)?;
        Ok(row.view())
    }

    /// Changes an endpoint.
    #[tracing::instrument(name = "webhooks.update", skip_all, fields(db.system = "postgresql"))]
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        patch: WebhookPatch,
        origin: &Origin,
    ) -> Result<Webhook> {
        let mut tx = self.pool.begin().await?;
        let mut row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        let before = row.view();
        if let Some(url) = patch.url {
            row.url = self.policy.parse_url(&url)?;
        }
        if let Some(description) = patch.description {
            row.description = parse_description(Some(description))?;
        }
        if let Some(events) = patch.events {
            row.event_types = parse_event_types(events, row.owner_id.is_some())?;
        }
        if let Some(keyspace) = patch.keyspace_id {
            if let Some(k) = keyspace {
                self.check_keyspace(k).await?;
            }
            row.keyspace_id = keyspace;
        }
        if let Some(enabled) = patch.enabled {
            if enabled && !row.enabled {
                row.disabled_reason = None;
                row.failing_since = None;
            }
            row.enabled = enabled;
        }
        let after = row.view();
        if after == before {
            return Ok(before);
        }
        row.updated_at = Utc::now().trunc_subsecs(6);
        store::update(&mut tx, &row).await?;
        let after = row.view();
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookUpdate, id, origin)
                .before(snapshot(&before))
                .after(snapshot(&after)),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes an endpoint and its delivery log.
    #[tracing::instrument(name = "webhooks.delete", skip_all, fields(db.system = "postgresql"))]
    pub async fn delete(&self, actor: Actor, id: Uuid, origin: &Origin) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        store::delete(&mut tx, id).await?;
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookDelete, id, origin).before(snapshot(&row.view())),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new signing secret (in this answer only). For `overlap` (default a day, at most
    /// a week; zero ends the old one at once) deliveries carry both signatures, so
    /// receivers can switch without losing one.
    #[tracing::instrument(name = "webhooks.rotate_secret", skip_all, fields(db.system = "postgresql"))]
    pub async fn rotate_secret(
        &self,
        actor: Actor,
        id: Uuid,
        overlap_seconds: Option<i64>,
        origin: &Origin,
    ) -> Result<CreatedWebhook> {
        let overlap = overlap_seconds.unwrap_or(DEFAULT_OVERLAP.num_seconds());
        if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
            return Err(Error::invalid(
                "overlap_seconds",
                "must be between 0 and 604800 (a week)",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let mut row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        let before = row.view();
        let (secret, text) = SigningSecret::generate();
        let now = Utc::now().trunc_subsecs(6);
        let sealed = self.sealer.seal(id, &secret);
        if overlap > 0 {
            row.previous_secret = Some(std::mem::replace(&mut row.secret, sealed));
            row.previous_secret_until = Some(now + Duration::seconds(overlap));
        } else {
            row.secret = sealed;
            row.previous_secret = None;
            row.previous_secret_until = None;
        }
        row.updated_at = now;
        store::update(&mut tx, &row).await?;
        let webhook = row.view();
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookRotateSecret, id, origin)
                .before(snapshot(&before))
                .after(snapshot(&webhook)),
        )
        .await?;
        tx.commit().await?;
        debug_assert!(
            text.expose_secret()
                .starts_with(super::signature::SECRET_PREFIX)
        );
        Ok(CreatedWebhook {
            webhook,
            secret: text.into(),
        })
    }

    /// Sends a `webhook.test` event to this endpoint alone; its id, to find the delivery.
    #[tracing::instrument(name = "webhooks.test", skip_all, fields(db.system = "postgresql"))]
    pub async fn test(&self, actor: Actor, id: Uuid, origin: &Origin) -> Result<Uuid> {
        let mut tx = self.pool.begin().await?;
        let row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        if !row.enabled {
            return Err(Error::Conflict(
                "The endpoint is disabled: enable it to send it a test event.".into(),
            ));
        }
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookTest, id, origin).events([Event::WebhookTest {
                webhook_id: id,
                url: row.url.clone(),
            }]),
        )
        .await?;
        let event_id = crate::events::store::latest_of_webhook(&mut tx, id).await?;
        tx.commit().await?;
        event_id.ok_or(Error::NotFound)
    }

    /// A page of the endpoint's deliveries, newest first, optionally of one status;
    /// `before` is the last id of the previous page.
    #[tracing::instrument(name = "webhooks.deliveries", skip_all, fields(db.system = "postgresql"))]
    pub async fn deliveries(
        &self,
        actor: Actor,
        id: Uuid,
        status: Option<DeliveryStatus>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        self.get(actor, id).await?;
        store::deliveries(&self.pool, id, status, before, limit).await
    }

    /// Sends a delivery again now (whatever its status; a delivery being attempted right
    /// now is left to finish).
    #[tracing::instrument(name = "webhooks.retry", skip_all, fields(db.system = "postgresql"))]
    pub async fn retry(
        &self,
        actor: Actor,
        id: Uuid,
        delivery_id: Uuid,
        origin: &Origin,
    ) -> Result<Delivery> {
        let mut tx = self.pool.begin().await?;
        let row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        if !store::retry(&mut tx, id, delivery_id).await? {
            return Err(Error::NotFound);
        }
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookRetry, id, origin)
                .after(json!({ "delivery_id": delivery_id })),
        )
        .await?;
        store::announce(&mut tx).await?;
        tx.commit().await?;
        store::delivery(&self.pool, id, delivery_id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Queues again every event since `since` that the endpoint subscribes to (those
    /// delivered already are sent once more, with their ids: receivers that keep the ids
    /// they saw skip them). How many were queued.
    #[tracing::instrument(name = "webhooks.replay", skip_all, fields(db.system = "postgresql"))]
    pub async fn replay(
        &self,
        actor: Actor,
        id: Uuid,
        since: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let row = store::find(&mut tx, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        check_manage(actor, &row)?;
        let queued = store::replay(&mut tx, id, since).await?;
        audit::append(
            &mut tx,
            NewEntry::of(actor, Action::WebhookReplay, id, origin)
                .after(json!({ "since": since, "queued": queued })),
        )
        .await?;
        store::announce(&mut tx).await?;
        tx.commit().await?;
        Ok(queued)
    }
}
