//! The delivery worker: every instance runs one. It fans the event log out into
//! deliveries (one instance at a time), claims due deliveries (never the same attempt as
//! another instance), sends them signed, and records each attempt with what follows from
//! it: delivered, retried later on the schedule, given up, or the endpoint switched off
//! (a 410 answer, or failures for longer than the configured time).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::schedule::RetrySchedule;
use super::sealing::SecretSealer;
use super::signature::{self, SigningSecret};
use super::store::{self, Claimed, Next, Outcome};
use super::transport::{ATTEMPT_TIMEOUT, Answer, Transport};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;
use crate::events::{self, Event};

/// How long a claim holds a delivery: longer than an attempt can take.
const LEASE_SECONDS: f64 = 60.0;
/// Most events fanned out in one transaction.
const FAN_OUT_BATCH: i64 = 500;
/// The longest a worker sleeps without looking (notifications can be lost).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// The shortest pause between two rounds.
const MIN_WAIT: Duration = Duration::from_millis(20);
/// How often the backlog figures in `/metrics` are refreshed.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Deliveries to loopback, private and link-local addresses are allowed.
    pub allow_private: bool,
    /// An endpoint whose every attempt failed for this long is switched off.
    pub disable_after: Duration,
    /// Attempts in flight at once from this instance (each endpoint has at most one).
    pub concurrency: usize,
    /// When failed attempts are made again.
    pub retries: RetrySchedule,
    /// Headers that carry the attempt's trace context (W3C `traceparent`), computed in
    /// the attempt's span; the server provides them when it exports traces.
    pub trace_headers: TraceHeaders,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            disable_after: Duration::from_secs(5 * 86_400),
            concurrency: 16,
            retries: RetrySchedule::default(),
            trace_headers: TraceHeaders::none(),
        }
    }
}

/// Computes the trace-context headers of the current span (see
/// [`DeliverySettings::trace_headers`]).
#[derive(Clone)]
pub struct TraceHeaders(Arc<dyn Fn() -> Vec<(&'static str, String)> + Send + Sync>);

impl TraceHeaders {
    /// Headers from `compute`, called inside each attempt's span.
    pub fn new(compute: impl Fn() -> Vec<(&'static str, String)> + Send + Sync + 'static) -> Self {
        Self(Arc::new(compute))
    }

    /// No trace headers.
    pub fn none() -> Self {
        Self::new(Vec::new)
    }
}

impl std::fmt::Debug for TraceHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceHeaders")
    }
}

/// Delivers webhooks; see the module header.
#[derive(Clone, Debug)]
pub struct DeliveryWorker {
    pool: PgPool,
    sealer: SecretSealer,
    transport: Transport,
    settings: DeliverySettings,
}

impl DeliveryWorker {
    /// A worker on the database behind `pool`.
    pub fn new(pool: PgPool, sealer: SecretSealer, settings: DeliverySettings) -> Self {
        Self {
            pool,
            sealer,
            transport: Transport::new(settings.allow_private),
            settings,
        }
    }

    /// Delivers until `stop` fires, then lets the attempts in flight finish (at most one
    /// attempt's timeout): an attempt cut short is made again after its lease.
    pub async fn run(self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut listener = match self.listen().await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "webhook worker cannot listen for events; polling");
                None
            }
        };
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let done = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let mut failing = false;
        let mut metrics_at = tokio::time::Instant::now();
        loop {
            let step = self.step(&permits, &done, &mut tasks).await;
            match (&step, failing) {
                (Err(err), false) => {
                    failing = true;
                    tracing::warn!(error = %err, "webhook deliveries stalled; retrying");
                }
                (Ok(_), true) => {
                    failing = false;
                    tracing::info!("webhook deliveries resumed");
                }
                _ => {}
            }
            while tasks.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= metrics_at {
                metrics_at = tokio::time::Instant::now() + METRICS_EVERY;
                if let Ok((pending, oldest)) = store::backlog(&self.pool).await {
                    metrics::gauge!("webhook_deliveries_pending").set(pending as f64);
                    metrics::gauge!("webhook_oldest_pending_seconds").set(oldest);
                }
            }
            // With every permit taken, what is due waits for an attempt to finish (`done`);
            // otherwise for the next due time, never less than a moment (a due head that
            // another instance is claiming right now must not be polled in a tight loop).
            let wait = match step {
                _ if permits.available_permits() == 0 => IDLE_POLL,
                Ok(Some(due)) => (due - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .clamp(MIN_WAIT, IDLE_POLL),
                Ok(None) => IDLE_POLL,
                Err(_) => Duration::from_secs(1),
            };
            tokio::select! {
                _ = &mut stop => break,
                () = done.notified() => {}
                () = tokio::time::sleep(wait) => {}
                woken = wake(listener.as_mut()) => {
                    if !woken {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        let _ = tokio::time::timeout(ATTEMPT_TIMEOUT + Duration::from_secs(1), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    async fn listen(&self) -> Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener
            .listen_all([events::CHANNEL, store::CHANNEL])
            .await?;
        Ok(listener)
    }

    /// One round: fan out, claim what is due within the free permits and start sending
    /// it. When the next claimable delivery is due (`None`: nothing is pending).
    async fn step(
        &self,
        permits: &Arc<Semaphore>,
        done: &Arc<Notify>,
        tasks: &mut JoinSet<()>,
    ) -> Result<Option<chrono::DateTime<Utc>>> {
        self.fan_out().await?;
        let free = permits.available_permits();
        if free > 0 {
            for claimed in store::claim(&self.pool, free as i64, LEASE_SECONDS).await? {
                let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
                    break;
                };
                let worker = self.clone();
                let done = Arc::clone(done);
                tasks.spawn(async move {
                    worker.attempt(claimed).await;
                    drop(permit);
                    done.notify_one();
                });
            }
        }
        store::next_due(&self.pool).await
    }

    /// Fans out every event not fanned out yet (unless another instance is at it).
    pub async fn fan_out(&self) -> Result<()> {
        while let Some(read) = store::fan_out(&self.pool, FAN_OUT_BATCH).await? {
            if read < FAN_OUT_BATCH {
                break;
            }
        }
        Ok(())
    }

    /// Makes one attempt of a claimed delivery and records it, in a span of its own
    /// (whose trace context travels in the request's `traceparent`).
    async fn attempt(&self, claimed: Claimed) {
        let span = tracing::info_span!(
            "webhook.delivery",
            otel.name = "webhook delivery",
            otel.kind = "client",
            webhook_id = %claimed.webhook_id,
            delivery_id = %claimed.id,
            event_type = %claimed.event_type,
        );
        tracing::Instrument::instrument(self.attempt_in_span(claimed), span).await;
    }

    async fn attempt_in_span(&self, claimed: Claimed) {
        let answer = match self.secrets(&claimed) {
            Ok(secrets) => self.send(&claimed, &secrets).await,
            Err(err) => Answer {
                status: None,
                body: None,
                error: Some(err.to_string()),
                latency: Duration::ZERO,
            },
        };
        metrics::histogram!("webhook_delivery_duration_seconds")
            .record(answer.latency.as_secs_f64());
        let result = match self.record(&claimed, &answer).await {
            Ok(result) => result,
            Err(err) => {
                tracing::warn!(error = %err, delivery = %claimed.id, "cannot record a webhook attempt; it will be made again");
                "unrecorded"
            }
        };
        metrics::counter!("webhook_deliveries_total", "result" => result).increment(1);
    }

    /// The secrets to sign with: the current one, and the previous one during a
    /// rotation's overlap.
    fn secrets(&self, claimed: &Claimed) -> Result<Vec<SigningSecret>> {
        let mut secrets = vec![self.sealer.open(claimed.webhook_id, &claimed.secret)?];
        if let (Some(previous), Some(until)) =
            (&claimed.previous_secret, claimed.previous_secret_until)
            && until > Utc::now()
        {
            secrets.push(self.sealer.open(claimed.webhook_id, previous)?);
        }
        Ok(secrets)
    }

    async fn send(&self, claimed: &Claimed, secrets: &[SigningSecret]) -> Answer {
        let body = json!({
            "id": claimed.event_id,
            "type": claimed.event_type,
            "occurred_at": claimed.occurred_at,
            "position": claimed.position,
            "data": claimed.data,
        })
        .to_string()
        .into_bytes();
        let id = claimed.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let refs: Vec<&SigningSecret> = secrets.iter().collect();
        let signature = signature::header(&refs, &id, timestamp, &body);
        let mut headers = vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        headers.extend((self.settings.trace_headers.0)());
        self.transport.post(&claimed.url, &headers, body).await
    }

    /// Writes the attempt and its consequences in one transaction; the result label.
    async fn record(&self, claimed: &Claimed, answer: &Answer) -> Result<&'static str> {
        let now = Utc::now();
        let outcome = Outcome {
            at: now,
            response_status: answer.status.map(i32::from),
            latency_ms: i32::try_from(answer.latency.as_millis()).unwrap_or(i32::MAX),
            response_body: answer.body.clone(),
            error: answer.error.clone(),
        };
        let failed = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
        let (next, result) = match answer.status {
            Some(200..=299) => (Next::Delivered, "delivered"),
            Some(410) => (Next::GiveUp, "gone"),
            _ => match self.settings.retries.retry_after(failed, rand::random()) {
                Some(wait) => (
                    Next::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                    "retrying",
                ),
                None => (Next::GiveUp, "failed"),
            },
        };
        let mut tx = self.pool.begin().await?;
        if !store::record(&mut tx, claimed, &outcome, &next).await? {
            return Ok("superseded");
        }
        let ok = matches!(next, Next::Delivered);
        let failing_since = store::mark_health(&mut tx, claimed.webhook_id, ok, now).await?;
        let disable_after = chrono::Duration::from_std(self.settings.disable_after)
            .unwrap_or(chrono::Duration::MAX);
        let reason = if answer.status == Some(410) {
            Some("the endpoint answered 410 Gone".to_owned())
        } else {
            failing_since
                .filter(|since| now - *since >= disable_after)
                .map(|since| {
                    format!(
                        "every attempt failed since {}",
                        since.format("%Y-%m-%d %H:%M UTC")
                    )
                })
        };
        if let Some(reason) = reason
            && let Some((before, after)) =
                store::disable(&mut tx, claimed.webhook_id, &reason).await?
        {
            tracing::warn!(webhook = %claimed.webhook_id, %reason, "webhook endpoint disabled");
            let entry = NewEntry::new(
                None,
                Action::WebhookDisable,
                Some(claimed.webhook_id.to_string()),
                &Origin::default(),
            )
            .before(serde_json::to_value(&before).unwrap_or_default())
            .after(serde_json::to_value(&after).unwrap_or_default())
            .events([Event::WebhookDisabled {
                webhook_id: after.id,
                url: after.url.clone(),
                owner_id: after.owner_id,
                reason,
            }]);
            audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(result)
    }
}

/// Waits for a notification; false when the connection failed (it reconnects on the
/// next call). Without a listener, waits forever (the poll timer wakes the worker).
async fn wake(listener: Option<&mut PgListener>) -> bool {
    match listener {
        Some(listener) => listener.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}
