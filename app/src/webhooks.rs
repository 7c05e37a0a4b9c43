//! Webhooks in the portal: DTOs and thin server functions over
//! `locksmith_core::webhooks::WebhookService`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub response_status: Option<i32>,
    pub latency_ms: Option<i32>,
    /// The first KiB of the last answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub history: Vec<AttemptRow>,
}

/// An endpoint with its latest deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    /// `None`: every type.
    pub events: Option<Vec<String>>,
    /// `None`: an installation endpoint.
    pub owner_id: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The 20 newest deliveries.
    pub deliveries: Vec<DeliveryRow>,
}

/// The webhooks page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksView {
    pub endpoints: Vec<EndpointRow>,
    /// Whether the viewer creates and changes endpoints (admins, owners).
    pub may_change: bool,
    /// The event types the viewer may subscribe to.
    pub event_types: Vec<String>,
    /// The viewer is an owner: their endpoints receive their own keys' events only.
    pub owner_view: bool,
    /// Whether the viewer wants emails about their keys.
    pub email: bool,
    /// Whether this installation sends emails at all.
    pub email_available: bool,
}

/// A new endpoint, or one with a rotated secret: the secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    pub endpoint: EndpointRow,
    pub secret: String,
}

/// The endpoints the viewer may see, each with its 20 newest deliveries.
#[server(prefix = "/api", endpoint = "list_webhooks")]
pub async fn list_webhooks() -> Result<WebhooksView, AppError> {
    server::list().await.map_err(AppError::respond)
}

/// Creates an endpoint; `events` empty means every type.
#[server(prefix = "/api", endpoint = "create_webhook", input = Json)]
pub async fn create_webhook(
    url: String,
    description: String,
    events: Vec<String>,
) -> Result<EndpointSecret, AppError> {
    server::create(url, description, events)
        .await
        .map_err(AppError::respond)
}

/// Switches an endpoint on or off.
#[server(prefix = "/api", endpoint = "set_webhook_enabled")]
pub async fn set_webhook_enabled(id: String, enabled: bool) -> Result<(), AppError> {
    server::set_enabled(id, enabled)
        .await
        .map_err(AppError::respond)
}

/// Sends a test event to an endpoint.
#[server(prefix = "/api", endpoint = "test_webhook")]
pub async fn test_webhook(id: String) -> Result<(), AppError> {
    server::test(id).await.map_err(AppError::respond)
}

/// Replaces an endpoint's secret; the old one is still sent for a day.
#[server(prefix = "/api", endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(id: String) -> Result<EndpointSecret, AppError> {
    server::rotate(id).await.map_err(AppError::respond)
}

/// Deletes an endpoint and its log.
#[server(prefix = "/api", endpoint = "delete_webhook")]
pub async fn delete_webhook(id: String) -> Result<(), AppError> {
    server::delete(id).await.map_err(AppError::respond)
}

/// Turns the viewer's own email notifications on or off.
#[server(prefix = "/api", endpoint = "set_email_notifications")]
pub async fn set_email_notifications(email: bool) -> Result<bool, AppError> {
    server::set_email(email).await.map_err(AppError::respond)
}

/// Sends a delivery again.
#[server(prefix = "/api", endpoint = "redeliver_webhook")]
pub async fn redeliver_webhook(id: String, delivery_id: String) -> Result<(), AppError> {
    server::redeliver(id, delivery_id)
        .await
        .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
mod server {
    use locksmith_core::events::{TYPES, is_key_type};
    use locksmith_core::identity::{Actor, Role};
    use locksmith_core::notify::NotificationService;
    use locksmith_core::webhooks::{
        Delivery, NewWebhookInput, Webhook, WebhookPatch, WebhookService,
    };

    use super::{AttemptRow, DeliveryRow, EndpointRow, EndpointSecret, WebhooksView};
    use crate::auth::server::{origin, require, service};
    use crate::error::AppError;
    use crate::form::id;

    const EVERYONE: &[Role] = &[Role::Admin, Role::Auditor, Role::Owner];
    const CHANGERS: &[Role] = &[Role::Admin, Role::Owner];

    fn delivery_row(d: Delivery) -> DeliveryRow {
        DeliveryRow {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            response_status: d.response_status,
            latency_ms: d.latency_ms,
            response_body: d.response_body,
            error: d.error,
            created_at: d.created_at,
            history: d
                .history
                .into_iter()
                .map(|a| AttemptRow {
                    attempt: a.attempt,
                    at: a.at,
                    response_status: a.response_status,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }
    }

    fn endpoint_row(w: Webhook, deliveries: Vec<Delivery>) -> EndpointRow {
        EndpointRow {
            id: w.id.to_string(),
            url: w.url,
            description: w.description,
            events: w.events,
            owner_id: w.owner_id.map(|o| o.to_string()),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            failing_since: w.failing_since,
            previous_secret_until: w.previous_secret_until,
            created_at: w.created_at,
            deliveries: deliveries.into_iter().map(delivery_row).collect(),
        }
    }

    pub(super) async fn list() -> Result<WebhooksView, AppError> {
        let user = require(EVERYONE).await?;
        let webhooks: WebhookService = service()?;
        let actor = Actor::from(&user);
        let mut endpoints = Vec::new();
        for w in webhooks.list(actor, None, 200).await? {
            let deliveries = webhooks.deliveries(actor, w.id, None, None, 20).await?;
            endpoints.push(endpoint_row(w, deliveries));
        }
        let owner = user.role == Role::Owner;
        let notifications: NotificationService = service()?;
        Ok(WebhooksView {
            email: notifications.preference(actor).await?,
            email_available: notifications.available(),
            endpoints,
            may_change: user.role != Role::Auditor,
            event_types: TYPES
                .iter()
                .filter(|t| !owner || is_key_type(t))
                .map(|t| (*t).to_owned())
                .collect(),
            owner_view: owner,
        })
    }

    pub(super) async fn create(
        url: String,
        description: String,
        events: Vec<String>,
    ) -> Result<EndpointSecret, AppError> {
        let user = require(CHANGERS).await?;
        let input = NewWebhookInput {
            url: url.trim().to_owned(),
            description: Some(description.trim().to_owned()),
            events: (!events.is_empty()).then_some(events),
            keyspace_id: None,
        };
        let created = service::<WebhookService>()?
            .create(Actor::from(&user), input, &origin().await)
            .await?;
        Ok(EndpointSecret {
            secret: created.secret.expose().to_owned(),
            endpoint: endpoint_row(created.webhook, Vec::new()),
        })
    }

    pub(super) async fn set_enabled(webhook: String, enabled: bool) -> Result<(), AppError> {
        let user = require(CHANGERS).await?;
        let patch = WebhookPatch {
            enabled: Some(enabled),
            ..WebhookPatch::default()
        };
        service::<WebhookService>()?
            .update(
                Actor::from(&user),
                id("id", &webhook)?,
                patch,
                &origin().await,
            )
            .await?;
        Ok(())
    }

    pub(super) async fn test(webhook: String) -> Result<(), AppError> {
        let user = require(CHANGERS).await?;
        service::<WebhookService>()?
            .test(Actor::from(&user), id("id", &webhook)?, &origin().await)
            .await?;
        Ok(())
    }

    pub(super) async fn rotate(webhook: String) -> Result<EndpointSecret, AppError> {
        let user = require(CHANGERS).await?;
        let rotated = service::<WebhookService>()?
            .rotate_secret(
                Actor::from(&user),
                id("id", &webhook)?,
                None,
                &origin().await,
            )
            .await?;
        Ok(EndpointSecret {
            secret: rotated.secret.expose().to_owned(),
            endpoint: endpoint_row(rotated.webhook, Vec::new()),
        })
    }

    pub(super) async fn delete(webhook: String) -> Result<(), AppError> {
        let user = require(CHANGERS).await?;
        service::<WebhookService>()?
            .delete(Actor::from(&user), id("id", &webhook)?, &origin().await)
            .await?;
        Ok(())
    }

    pub(super) async fn set_email(email: bool) -> Result<bool, AppError> {
        let user = require(EVERYONE).await?;
        Ok(service::<NotificationService>()?
            .set_preference(Actor::from(&user), email, &origin().await)
            .await?)
    }

    pub(super) async fn redeliver(webhook: String, delivery: String) -> Result<(), AppError> {
        let user = require(CHANGERS).await?;
        service::<WebhookService>()?
            .retry(
                Actor::from(&user),
                id("id", &webhook)?,
                id("delivery_id", &delivery)?,
                &origin().await,
            )
            .await?;
        Ok(())
    }
}
