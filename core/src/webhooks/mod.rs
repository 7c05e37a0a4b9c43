//! Webhooks: endpoints subscribe to the event log ([`crate::events`]) and receive each
//! event they subscribe to as a signed HTTP POST (the Standard Webhooks scheme), durably:
//! a delivery row per (event, endpoint) in PostgreSQL, retried on a schedule of about
//! three days, claimed by one instance at a time.
//!
//! - [`WebhookService`]: subscriptions, their secrets and delivery logs (the API).
//! - [`DeliveryWorker`]: fan-out, claims, attempts; every instance runs one.
//! - [`signature`], [`destination`], [`schedule`], [`transport`]: how a delivery is
//!   signed, where it may go, when it is retried, how it is sent.

pub mod destination;
mod model;
pub mod schedule;
mod sealing;
mod service;
pub mod signature;
pub(crate) mod store;
pub mod transport;
mod worker;

pub use model::{
    Attempt, CreatedWebhook, Delivery, DeliveryStatus, Webhook, WebhookPolicy, parse_event_types,
};
pub use sealing::SecretSealer;
pub use service::{DEFAULT_OVERLAP, NewWebhookInput, WebhookPatch, WebhookService};
pub use worker::{DeliverySettings, DeliveryWorker, TraceHeaders};
