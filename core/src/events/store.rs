//! The event repository: append in the change's transaction, read after a position.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{CHANNEL, Event, RecordedEvent};
use crate::error::{Error, Result};

/// An event about to be written, with the audit row of its change.
pub(crate) struct Pending {
    /// `None` for an event no change caused.
    pub audit_id: Option<i64>,
    pub actor_id: Option<Uuid>,
    pub event: Event,
}

/// Writes `events` in the caller's transaction, which must hold the audit chain's lock
/// (see the module header: that lock is what orders the positions), and announces the
/// last position on commit.
pub(crate) async fn append(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
    events: Vec<Pending>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut audit_ids = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut keyspaces = Vec::with_capacity(n);
    let mut webhooks = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    for p in events {
        ids.push(Uuid::new_v4());
        types.push(p.event.kind().to_owned());
        actors.push(p.actor_id);
        audit_ids.push(p.audit_id);
        keys.push(p.event.key().map(|k| k.key_id));
        owners.push(p.event.key().map(|k| k.owner_id));
        keyspaces.push(p.event.keyspace_id());
        webhooks.push(p.event.webhook_id());
        let mut value = serde_json::to_value(&p.event)
            .map_err(|e| Error::Database(sqlx::Error::Encode(Box::new(e))))?;
        data.push(value["data"].take());
    }
    let last = sqlx::query_scalar!(
        r#"INSERT INTO events
               (position, id, type, occurred_at, actor_id, audit_id, key_id, owner_id,
                keyspace_id, webhook_id, data)
           SELECT nextval('event_position'), id, type, $1, actor_id, audit_id, key_id,
                  owner_id, keyspace_id, webhook_id, data
           FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::int8[], $6::uuid[],
                       $7::uuid[], $8::uuid[], $9::uuid[], $10::jsonb[])
                WITH ORDINALITY AS e(id, type, actor_id, audit_id, key_id, owner_id,
                                     keyspace_id, webhook_id, data, n)
           ORDER BY n
           RETURNING position"#,
        at,
        &ids,
        &types,
        &actors as &[Option<Uuid>],
        &audit_ids as &[Option<i64>],
        &keys as &[Option<Uuid>],
        &owners as &[Option<Uuid>],
        &keyspaces as &[Option<Uuid>],
        &webhooks as &[Option<Uuid>],
        &data,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .max()
    .unwrap_or_default();
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, last.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Serialises writers of the audit chain and of events for the rest of their
/// transaction (an arbitrary constant, Locksmith's own advisory-lock key): the chain never
/// forks, and event positions are drawn in commit order (see the module header).
const CHAIN_LOCK: i64 = 0x4c6f_636b_5f41_7564; // "Lock_Aud"

/// Takes the chain's transaction-scoped lock: every writer of the trail, and of events,
/// holds it until commit.
pub(crate) async fn lock_chain(conn: &mut PgConnection) -> Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes events that no change caused (a reminder, an endpoint switched off) in the
/// caller's transaction, taking the audit chain's lock that orders positions.
pub(crate) async fn append_observed(conn: &mut PgConnection, events: Vec<Event>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    lock_chain(conn).await?;
    let pending = events
        .into_iter()
        .map(|event| Pending {
            audit_id: None,
            actor_id: None,
            event,
        })
        .collect();
    append(conn, Utc::now().trunc_subsecs(6), pending).await
}

/// A consumer's turn at the log: the positions after `from` up to `upto` (`read`
/// events; none when `read` is 0).
pub(crate) struct Turn {
    pub from: i64,
    pub upto: i64,
    pub read: i64,
}

/// Takes the turn of `consumer` (a row of `event_consumers`) in the caller's
/// transaction, which keeps it until it ends: `None` when another instance holds it now.
/// The turn covers up to `batch` events; positions become visible in increasing order
/// (see the module header), so nothing below the newest one read can still appear.
pub(crate) async fn take_turn(
    conn: &mut PgConnection,
    consumer: &str,
    batch: i64,
) -> Result<Option<Turn>> {
    let Some(from) = sqlx::query_scalar!(
        "SELECT position FROM event_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED",
        consumer
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let read = sqlx::query!(
        r#"SELECT count(*) AS "n!", max(position) AS upto
           FROM (SELECT position FROM events WHERE position > $1
                 ORDER BY position LIMIT $2) e"#,
        from,
        batch
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(Turn {
        from,
        upto: read.upto.unwrap_or(from),
        read: read.n,
    }))
}

/// Moves `consumer` on past its turn, in the turn's transaction.
pub(crate) async fn end_turn(conn: &mut PgConnection, consumer: &str, turn: &Turn) -> Result<()> {
    sqlx::query!(
        "UPDATE event_consumers SET position = $2 WHERE name = $1",
        consumer,
        turn.upto
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` events after `position`, oldest first.
pub(crate) async fn after(pool: &PgPool, position: i64, limit: i64) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query!(
        r#"SELECT position, id, type, occurred_at, actor_id, audit_id, data
           FROM events WHERE position > $1 ORDER BY position LIMIT $2"#,
        position,
        limit
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let event =
                serde_json::from_value(serde_json::json!({ "type": r.r#type, "data": r.data }))
                    .map_err(|e| {
                        Error::Database(sqlx::Error::Decode(
                            format!("event {} ({}): {e}", r.position, r.r#type).into(),
                        ))
                    })?;
            Ok(RecordedEvent {
                position: r.position,
                id: r.id,
                occurred_at: r.occurred_at,
                actor_id: r.actor_id,
                audit_id: r.audit_id,
                event,
            })
        })
        .collect()
}

/// The position of the newest event (0 before the first).
pub(crate) async fn head(pool: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar!(r#"SELECT coalesce(max(position), 0) AS "head!" FROM events"#)
            .fetch_one(pool)
            .await?,
    )
}

/// The id of the newest event about the endpoint `webhook_id` (in the caller's
/// transaction, which holds the chain lock: the one it just wrote).
pub(crate) async fn latest_of_webhook(
    conn: &mut PgConnection,
    webhook_id: Uuid,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM events WHERE webhook_id = $1 ORDER BY position DESC LIMIT 1",
        webhook_id
    )
    .fetch_optional(conn)
    .await?)
}

/// The data of the newest event of type `kind`.
pub(crate) async fn latest_of_type(
    conn: &mut PgConnection,
    kind: &str,
) -> Result<Option<serde_json::Value>> {
    Ok(sqlx::query_scalar!(
        "SELECT data FROM events WHERE type = $1 ORDER BY position DESC LIMIT 1",
        kind
    )
    .fetch_optional(conn)
    .await?)
}
