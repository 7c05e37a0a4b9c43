//! Email notifications to people: a key's owner hears that it expires soon, expired, is
//! still used at the end of its rotation's grace, was revoked (by someone else) or used
//! 80% / 100% of its quota; admins (or the endpoint's owner) hear that a webhook endpoint
//! was switched off. Like webhooks, they consume the event log durably: one notification
//! per (event, recipient) in PostgreSQL, claimed by one instance at a time, retried on
//! the webhook schedule. Each user may turn them off ([`NotificationService`]); without
//! SMTP (`LOCKSMITH_SMTP_URL`) nothing is queued.

mod message;
mod store;

use std::time::Duration;

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::identity::Actor;
use crate::webhooks::schedule::RetrySchedule;

pub use message::{Message, render};

/// How long a claim holds a notification.
const LEASE_SECONDS: f64 = 60.0;
/// Most notifications sent at once by one instance.
const BATCH: i64 = 20;

/// A user's notification preference.
#[derive(Clone, Debug)]
pub struct NotificationService {
    pool: PgPool,
    /// Whether emails can be sent at all (SMTP configured).
    enabled: bool,
}

impl NotificationService {
    /// Preferences in the database behind `pool`; `enabled`: SMTP is configured.
    pub fn new(pool: PgPool, enabled: bool) -> Self {
        Self { pool, enabled }
    }

    /// Whether this installation sends emails at all.
    pub fn available(&self) -> bool {
        self.enabled
    }

    /// Whether the caller wants emails about their keys.
    pub async fn preference(&self, actor: Actor) -> Result<bool> {
        store::preference(&self.pool, actor.id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Sets the caller's own preference (audited as a change of their user).
    pub async fn set_preference(&self, actor: Actor, email: bool, origin: &Origin) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let before = store::set_preference(&mut tx, actor.id, email)
            .await?
            .ok_or(Error::NotFound)?;
        if before != email {
            audit::append(
                &mut tx,
                NewEntry::of(actor, Action::UserUpdate, actor.id, origin)
                    .before(json!({ "notify_email": before }))
                    .after(json!({ "notify_email": email })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(email)
    }
}

/// Where and how emails go.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `smtp://user:password@host:port` (STARTTLS when offered... see lettre's
    /// `from_url`: `smtps://` for TLS, `?tls=required`), never logged.
    pub url: SecretString,
    /// The sender, e.g. `Locksmith <locksmith@example.com>`.
    pub from: String,
    /// The portal's address, for links (`LOCKSMITH_PUBLIC_URL`).
    pub portal: Option<String>,
}

/// Sends notifications; every instance runs one when SMTP is configured.
#[derive(Clone)]
pub struct Notifier {
    pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    portal: Option<String>,
    retries: RetrySchedule,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier over `pool` sending through `settings`; the error says what is wrong
    /// with the settings (never the URL, which may hold a password).
    pub fn new(pool: PgPool, settings: &MailSettings) -> std::result::Result<Self, String> {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.url.expose_secret())
                .map_err(|e| format!("LOCKSMITH_SMTP_URL: not a usable SMTP URL ({})", kind(&e)))?
                .timeout(Some(Duration::from_secs(20)))
                .build();
        let from = settings.from.parse().map_err(|_| {
            "LOCKSMITH_SMTP_FROM: not an address such as Locksmith <locksmith@example.com>"
                .to_owned()
        })?;
        Ok(Self {
            pool,
            transport,
            from,
            portal: settings.portal.clone(),
            retries: RetrySchedule::default(),
        })
    }

    /// Sends until `stop` fires.
    pub async fn run(self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => l.listen(crate::events::CHANNEL).await.ok().map(|()| l),
            Err(_) => None,
        };
        let mut failing = false;
        loop {
            let wait = match self.step().await {
                Ok(next) => {
                    if failing {
                        failing = false;
                        tracing::info!("email notifications resumed");
                    }
                    next.map_or(Duration::from_secs(5), |due| {
                        (due - Utc::now())
                            .to_std()
                            .unwrap_or_default()
                            .min(Duration::from_secs(5))
                    })
                }
                Err(err) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(error = %err, "email notifications stalled; retrying");
                    }
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(wait) => {}
                () = async {
                    match listener.as_mut() {
                        Some(l) => { if l.recv().await.is_err() { tokio::time::sleep(Duration::from_secs(1)).await; } }
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }

    /// Fans out, sends what is due; when the next is due.
    pub async fn step(&self) -> Result<Option<chrono::DateTime<Utc>>> {
        while let Some(read) = store::fan_out(&self.pool, 500).await? {
            if read < 500 {
                break;
            }
        }
        loop {
            let claimed = store::claim(&self.pool, BATCH, LEASE_SECONDS).await?;
            let n = claimed.len();
            for c in claimed {
                self.send(c).await?;
            }
            if i64::try_from(n).unwrap_or(0) < BATCH {
                break;
            }
        }
        store::next_due(&self.pool).await
    }

    async fn send(&self, claimed: store::Claimed) -> Result<()> {
        let event: Option<Event> =
            serde_json::from_value(json!({ "type": claimed.event_type, "data": claimed.data }))
                .ok();
        let message = event
            .as_ref()
            .and_then(|e| render(e, claimed.display_name.as_deref(), self.portal.as_deref()));
        let outcome = match message {
            None => Err("nothing to say about this event".to_owned()),
            Some(message) => self.deliver(&claimed.email, message).await,
        };
        let result = match &outcome {
            Ok(()) => "sent",
            Err(_) => "failed",
        };
        metrics::counter!("notifications_total", "result" => result).increment(1);
        match outcome {
            Ok(()) => store::record(&self.pool, &claimed, true, None, None).await,
            Err(error) => {
                let failed = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
                let retry_at = self
                    .retries
                    .retry_after(failed, rand::random())
                    .and_then(|w| chrono::Duration::from_std(w).ok())
                    .map(|w| Utc::now() + w);
                tracing::warn!(%error, notification = %claimed.id, "an email notification was not sent");
                store::record(&self.pool, &claimed, false, retry_at, Some(&error)).await
            }
        }
    }

    async fn deliver(&self, to: &str, message: Message) -> std::result::Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| "the user's address is not a mailbox".to_owned())?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(message.body)
            .map_err(|e| format!("the message cannot be built: {e}"))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server refused or did not answer ({})", kind(&e)))
    }
}

/// Whether `text` is a sender address such as `Locksmith <locksmith@example.com>`.
pub fn is_sender(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// What kind of SMTP error it is, without its text (which may echo the URL).
fn kind(err: &lettre::transport::smtp::Error) -> &'static str {
    if err.is_transient() {
        "a temporary refusal"
    } else if err.is_permanent() {
        "a permanent refusal"
    } else if err.is_timeout() {
        "a timeout"
    } else if err.is_tls() {
        "TLS"
    } else if err.is_client() {
        "the settings"
    } else {
        "the connection"
    }
}
