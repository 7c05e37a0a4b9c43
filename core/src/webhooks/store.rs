//! The webhook repository: endpoints, deliveries and their attempts, the fan-out of the
//! event log into deliveries, and the claim of due deliveries.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Attempt, Delivery, DeliveryStatus, Webhook};
use crate::error::{Error, Result};
use crate::events::store as event_store;

/// This consumer's name in `event_consumers`.
const CONSUMER: &str = "webhooks";

/// Where pending deliveries are announced (retries, replays), so idle workers wake.
pub(crate) const CHANNEL: &str = "locksmith_webhooks";

/// An endpoint as stored, its sealed secrets included.
pub(crate) struct Row {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub keyspace_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Row {
    pub(crate) fn view(&self) -> Webhook {
        let overlap = self
            .previous_secret_until
            .filter(|until| *until > Utc::now());
        Webhook {
            id: self.id,
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.event_types.clone(),
            keyspace_id: self.keyspace_id,
            owner_id: self.owner_id,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            failing_since: self.failing_since,
            previous_secret_until: overlap,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

pub(crate) async fn insert(conn: &mut PgConnection, row: &Row) -> Result<()> {
    sqlx::query!(
        r#"INSERT INTO webhooks (id, url, description, event_types, keyspace_id, owner_id,
               enabled, secret, created_by, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $9)"#,
        row.id,
        row.url,
        row.description,
        row.event_types.as_deref(),
        row.keyspace_id,
        row.owner_id,
        row.secret,
        row.created_by,
        row.created_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn find(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<Row>> {
    let row = if lock {
        sqlx::query_as!(Row, "SELECT id, url, description, event_types, keyspace_id, owner_id, enabled, disabled_reason, failing_since, secret, previous_secret, previous_secret_until, created_by, created_at, updated_at FROM webhooks WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(conn)
            .await?
    } else {
        sqlx::query_as!(Row, "SELECT id, url, description, event_types, keyspace_id, owner_id, enabled, disabled_reason, failing_since, secret, previous_secret, previous_secret_until, created_by, created_at, updated_at FROM webhooks WHERE id = $1", id)
            .fetch_optional(conn)
            .await?
    };
    Ok(row)
}

/// A page of endpoints, oldest first; `owner` keeps only that owner's.
pub(crate) async fn list(
    pool: &PgPool,
    owner: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id, url, description, event_types, keyspace_id, owner_id, enabled,
                  disabled_reason, failing_since, secret, previous_secret,
                  previous_secret_until, created_by, created_at, updated_at
           FROM webhooks
           WHERE ($1::uuid IS NULL OR owner_id = $1)
             AND ($2::uuid IS NULL OR (created_at, id) >
                  (SELECT created_at, id FROM webhooks WHERE id = $2))
           ORDER BY created_at, id
           LIMIT $3"#,
        owner,
        after,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// How many endpoints the owner has.
pub(crate) async fn count_of_owner(pool: &PgPool, owner: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM webhooks WHERE owner_id = $1"#,
        owner
    )
    .fetch_one(pool)
    .await?)
}

/// Writes the changeable fields of `row`.
pub(crate) async fn update(conn: &mut PgConnection, row: &Row) -> Result<()> {
    sqlx::query!(
        r#"UPDATE webhooks SET url = $2, description = $3, event_types = $4,
               keyspace_id = $5, enabled = $6, disabled_reason = $7, failing_since = $8,
               secret = $9, previous_secret = $10, previous_secret_until = $11,
               updated_at = $12
           WHERE id = $1"#,
        row.id,
        row.url,
        row.description,
        row.event_types.as_deref(),
        row.keyspace_id,
        row.enabled,
        row.disabled_reason,
        row.failing_since,
        row.secret,
        row.previous_secret,
        row.previous_secret_until,
        row.updated_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    sqlx::query!("DELETE FROM webhooks WHERE id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the keyspace exists.
pub(crate) async fn keyspace_exists(pool: &PgPool, id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM keyspaces WHERE id = $1) AS "exists!""#,
        id
    )
    .fetch_one(pool)
    .await?)
}

// ---- fan-out -------------------------------------------------------------------------

/// Turns the events after the fan-out's position (up to `batch` of them) into deliveries
/// for the endpoints that subscribe to them, and moves the position on, in one
/// transaction. `None` when another instance is fanning out now; otherwise how many
/// events were read.
pub(crate) async fn fan_out(pool: &PgPool, batch: i64) -> Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let Some(turn) = event_store::take_turn(&mut tx, CONSUMER, batch).await? else {
        return Ok(None);
    };
    if turn.read == 0 {
        return Ok(Some(0));
    }
    // Who receives what: a test goes to its endpoint alone; everything else to the
    // enabled endpoints whose types and keyspace match, created before the event, an
    // owner's endpoint only for key events of that (enabled) owner's keys, and never the
    // endpoint a `webhook.*` event is about.
    sqlx::query!(
        r#"INSERT INTO webhook_deliveries
               (id, webhook_id, event_position, event_id, event_type, next_attempt_at,
                created_at)
           SELECT gen_random_uuid(), w.id, e.position, e.id, e.type, now(), now()
           FROM events e
           JOIN webhooks w ON w.enabled AND (
               CASE WHEN e.type = 'webhook.test' THEN w.id = e.webhook_id
               ELSE (w.event_types IS NULL OR e.type = ANY (w.event_types))
                AND (w.keyspace_id IS NULL OR w.keyspace_id = e.keyspace_id)
                AND (w.owner_id IS NULL OR (w.owner_id = e.owner_id AND e.type LIKE 'key.%'))
                AND (e.webhook_id IS NULL OR e.webhook_id <> w.id)
                AND w.created_at <= e.occurred_at
               END)
           LEFT JOIN users u ON u.id = w.owner_id
           WHERE e.position > $1 AND e.position <= $2
             AND (w.owner_id IS NULL OR NOT u.disabled)
           ORDER BY e.position
           ON CONFLICT (webhook_id, event_id) DO NOTHING"#,
        turn.from,
        turn.upto
    )
    .execute(&mut *tx)
    .await?;
    event_store::end_turn(&mut tx, CONSUMER, &turn).await?;
    tx.commit().await?;
    Ok(Some(turn.read))
}

// ---- delivery ------------------------------------------------------------------------

/// A delivery claimed for one attempt, with what sending it takes.
pub(crate) struct Claimed {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The attempt this claim makes (1 for the first).
    pub attempt: i32,
    pub url: String,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub event_id: Uuid,
    pub event_type: String,
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// Claims up to `limit` due deliveries, at most one per endpoint and always the oldest
/// pending one of its endpoint (so an endpoint receives its events in position order,
/// one at a time). Each claim counts its attempt and leases the delivery for `lease`
/// seconds: an instance that dies mid-attempt leaves it to be taken up again then.
/// Concurrent claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`), so no attempt
/// is made twice.
pub(crate) async fn claim(pool: &PgPool, limit: i64, lease: f64) -> Result<Vec<Claimed>> {
    Ok(sqlx::query_as!(
        Claimed,
        r#"WITH heads AS (
               SELECT h.id
               FROM webhooks w
               CROSS JOIN LATERAL (
                   SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                   WHERE d.webhook_id = w.id AND d.status = 'pending'
                   ORDER BY d.event_position LIMIT 1) h
               WHERE w.enabled AND h.next_attempt_at <= now()
               ORDER BY h.next_attempt_at
               LIMIT $1
           ), locked AS (
               SELECT d.id FROM webhook_deliveries d
               WHERE d.id IN (SELECT id FROM heads)
                 AND d.status = 'pending' AND d.next_attempt_at <= now()
               FOR UPDATE SKIP LOCKED
           ), claimed AS (
               UPDATE webhook_deliveries d
               SET attempts = d.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
               FROM locked WHERE d.id = locked.id
               RETURNING d.id, d.webhook_id, d.attempts, d.event_id, d.event_type,
                         d.event_position
           )
           SELECT c.id AS "id!", c.webhook_id AS "webhook_id!", c.attempts AS "attempt!",
                  w.url, w.secret, w.previous_secret, w.previous_secret_until,
                  c.event_id AS "event_id!", c.event_type AS "event_type!",
                  c.event_position AS "position!", e.occurred_at, e.data
           FROM claimed c
           JOIN webhooks w ON w.id = c.webhook_id
           JOIN events e ON e.position = c.event_position"#,
        limit,
        lease,
    )
    .fetch_all(pool)
    .await?)
}

/// What an attempt found.
pub(crate) struct Outcome {
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub latency_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What becomes of the delivery after an attempt.
pub(crate) enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Records an attempt and its consequence, in the caller's transaction. False when the
/// claim was lost (its lease ran out and another instance took the delivery up) or the
/// endpoint was deleted: then nothing is written.
pub(crate) async fn record(
    conn: &mut PgConnection,
    claimed: &Claimed,
    outcome: &Outcome,
    next: &Next,
) -> Result<bool> {
    // The endpoint first, as every change of an endpoint (a deletion cascading to its
    // deliveries, a replay) locks it before its deliveries: one order, no deadlock.
    let endpoint = sqlx::query_scalar!(
        "SELECT id FROM webhooks WHERE id = $1 FOR UPDATE",
        claimed.webhook_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if endpoint.is_none() {
        return Ok(false);
    }
    let (status, next_at) = match next {
        Next::Delivered => (DeliveryStatus::Delivered, None),
        Next::RetryAt(at) => (DeliveryStatus::Pending, Some(*at)),
        Next::GiveUp => (DeliveryStatus::Failed, None),
    };
    let updated = sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET status = $3, next_attempt_at = $4, last_attempt_at = $5,
               response_status = $6, latency_ms = $7, response_body = $8, error = $9
           WHERE id = $1 AND attempts = $2 AND status = 'pending'"#,
        claimed.id,
        claimed.attempt,
        status.as_str(),
        next_at,
        outcome.at,
        outcome.response_status,
        outcome.latency_ms,
        outcome.response_body,
        outcome.error,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query!(
        r#"INSERT INTO webhook_attempts
               (delivery_id, attempt, at, response_status, latency_ms, error)
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        claimed.id,
        claimed.attempt,
        outcome.at,
        outcome.response_status,
        outcome.latency_ms,
        outcome.error,
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Marks the endpoint healthy (a success) or failing since `at` (kept if earlier), and
/// returns since when it has been failing.
pub(crate) async fn mark_health(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    ok: bool,
    at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar!(
        r#"UPDATE webhooks
           SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, $3) END
           WHERE id = $1
           RETURNING failing_since"#,
        webhook_id,
        ok,
        at
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// When the next claimable delivery (the head of an enabled endpoint's queue) is due.
pub(crate) async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT min(h.next_attempt_at)
           FROM webhooks w
           CROSS JOIN LATERAL (
               SELECT d.next_attempt_at FROM webhook_deliveries d
               WHERE d.webhook_id = w.id AND d.status = 'pending'
               ORDER BY d.event_position LIMIT 1) h
           WHERE w.enabled"#
    )
    .fetch_one(pool)
    .await?)
}

/// Switches an enabled endpoint off for `reason`; its state before and after, or `None`
/// when it was off already (or is gone).
pub(crate) async fn disable(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
) -> Result<Option<(Webhook, Webhook)>> {
    let Some(mut row) = find(&mut *conn, id, true).await? else {
        return Ok(None);
    };
    if !row.enabled {
        return Ok(None);
    }
    let before = row.view();
    row.enabled = false;
    row.disabled_reason = Some(reason.to_owned());
    row.updated_at = Utc::now();
    update(conn, &row).await?;
    Ok(Some((before, row.view())))
}

/// Pending deliveries and the age of the oldest, in seconds (for `/metrics`).
pub(crate) async fn backlog(pool: &PgPool) -> Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "pending!",
                  coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS "oldest!"
           FROM webhook_deliveries WHERE status = 'pending'"#
    )
    .fetch_one(pool)
    .await?;
    Ok((row.pending, row.oldest))
}

/// Announces on commit that deliveries are due (a retry, a replay).
pub(crate) async fn announce(conn: &mut PgConnection) -> Result<()> {
    sqlx::query!("SELECT pg_notify($1, '')", CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- the delivery log ----------------------------------------------------------------

struct DeliveryRow {
    id: Uuid,
    webhook_id: Uuid,
    event_id: Uuid,
    event_type: String,
    event_position: i64,
    status: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
    response_status: Option<i32>,
    latency_ms: Option<i32>,
    response_body: Option<String>,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

/// A page of an endpoint's deliveries, newest first, with their attempts; `before` is
/// the last id of the previous page.
pub(crate) async fn deliveries(
    pool: &PgPool,
    webhook_id: Uuid,
    status: Option<DeliveryStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>> {
    let rows = sqlx::query_as!(
        DeliveryRow,
        r#"SELECT id, webhook_id, event_id, event_type, event_position, status, attempts,
                  next_attempt_at, last_attempt_at, response_status, latency_ms,
                  response_body, error, created_at
           FROM webhook_deliveries
           WHERE webhook_id = $1
             AND ($2::text IS NULL OR status = $2)
             AND ($3::uuid IS NULL OR (created_at, id) <
                  (SELECT created_at, id FROM webhook_deliveries WHERE id = $3))
           ORDER BY created_at DESC, id DESC
           LIMIT $4"#,
        webhook_id,
        status.map(DeliveryStatus::as_str),
        before,
        limit
    )
    .fetch_all(pool)
    .await?;
    with_history(pool, rows).await
}

/// One delivery of an endpoint.
pub(crate) async fn delivery(
    pool: &PgPool,
    webhook_id: Uuid,
    id: Uuid,
) -> Result<Option<Delivery>> {
    let rows = sqlx::query_as!(
        DeliveryRow,
        r#"SELECT id, webhook_id, event_id, event_type, event_position, status, attempts,
                  next_attempt_at, last_attempt_at, response_status, latency_ms,
                  response_body, error, created_at
           FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2"#,
        webhook_id,
        id
    )
    .fetch_all(pool)
    .await?;
    Ok(with_history(pool, rows).await?.pop())
}

async fn with_history(pool: &PgPool, rows: Vec<DeliveryRow>) -> Result<Vec<Delivery>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = sqlx::query!(
        r#"SELECT delivery_id, attempt, at, response_status, latency_ms, error
           FROM webhook_attempts WHERE delivery_id = ANY($1)
           ORDER BY delivery_id, attempt"#,
        &ids
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let status = DeliveryStatus::parse(&r.status).ok_or_else(|| {
                Error::Database(sqlx::Error::Decode(
                    format!("delivery status {:?}", r.status).into(),
                ))
            })?;
            Ok(Delivery {
                history: attempts
                    .iter()
                    .filter(|a| a.delivery_id == r.id)
                    .map(|a| Attempt {
                        attempt: a.attempt,
                        at: a.at,
                        response_status: a.response_status,
                        latency_ms: a.latency_ms,
                        error: a.error.clone(),
                    })
                    .collect(),
                id: r.id,
                webhook_id: r.webhook_id,
                event_id: r.event_id,
                event_type: r.event_type,
                position: r.event_position,
                status,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_attempt_at: r.last_attempt_at,
                response_status: r.response_status,
                latency_ms: r.latency_ms,
                response_body: r.response_body,
                error: r.error,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// Makes a delivery pending and due now (a redelivery asked for). False when there is
/// no such delivery of the endpoint.
pub(crate) async fn retry(conn: &mut PgConnection, webhook_id: Uuid, id: Uuid) -> Result<bool> {
    let updated = sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET status = 'pending', next_attempt_at = now()
           WHERE webhook_id = $1 AND id = $2
             AND (status <> 'pending' OR next_attempt_at > now() + interval '1 minute'
                  OR next_attempt_at <= now())"#,
        webhook_id,
        id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated > 0 {
        return Ok(true);
    }
    // Pending and being attempted right now (leased): nothing to do, but it exists.
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2) AS "exists!""#,
        webhook_id,
        id
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Queues every event since `since` that the endpoint subscribes to again (those already
/// queued or delivered are sent once more); how many.
pub(crate) async fn replay(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query!(
        r#"INSERT INTO webhook_deliveries
               (id, webhook_id, event_position, event_id, event_type, next_attempt_at,
                created_at)
           SELECT gen_random_uuid(), w.id, e.position, e.id, e.type, now(), now()
           FROM webhooks w
           JOIN events e ON e.occurred_at >= $2 AND e.type <> 'webhook.test'
                AND (w.event_types IS NULL OR e.type = ANY (w.event_types))
                AND (w.keyspace_id IS NULL OR w.keyspace_id = e.keyspace_id)
                AND (w.owner_id IS NULL OR (w.owner_id = e.owner_id AND e.type LIKE 'key.%'))
                AND (e.webhook_id IS NULL OR e.webhook_id <> w.id)
           WHERE w.id = $1
           ORDER BY e.position
           ON CONFLICT (webhook_id, event_id) DO UPDATE
               SET status = 'pending', next_attempt_at = now()
               WHERE webhook_deliveries.status <> 'pending'"#,
        webhook_id,
        since
    )
    .execute(conn)
    .await?
    .rows_affected())
}
