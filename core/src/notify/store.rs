//! The notification repository: the preference, the fan-out of the event log into one
//! notification per (event, recipient), and the claim of due notifications.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::Result;
use crate::events::store as event_store;

/// This consumer's name in `event_consumers`.
const CONSUMER: &str = "notifications";

/// Whether the user wants emails.
pub(crate) async fn preference(pool: &PgPool, user: Uuid) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar!("SELECT notify_email FROM users WHERE id = $1", user)
            .fetch_optional(pool)
            .await?,
    )
}

/// Sets the preference; the previous value (`None`: no such user).
pub(crate) async fn set_preference(
    conn: &mut PgConnection,
    user: Uuid,
    email: bool,
) -> Result<Option<bool>> {
    Ok(sqlx::query_scalar!(
        r#"UPDATE users u SET notify_email = $2
           FROM (SELECT id, notify_email FROM users WHERE id = $1 FOR UPDATE) old
           WHERE u.id = old.id
           RETURNING old.notify_email"#,
        user,
        email
    )
    .fetch_optional(conn)
    .await?)
}

/// Turns the events after the fan-out's position (up to `batch`) into notifications,
/// in one transaction; `None` when another instance is at it, else how many events were
/// read. Who is told: a key's owner of what happens to it (not of their own revocation),
/// every admin too of a leaked key and of a high-severity finding,
/// and of a switched-off endpoint its owner (an owner's endpoint) or every admin (an
/// installation endpoint); only enabled users who want emails, only of the last day
/// (an installation that turns SMTP on is not sent its history).
pub(crate) async fn fan_out(pool: &PgPool, batch: i64) -> Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let Some(turn) = event_store::take_turn(&mut tx, CONSUMER, batch).await? else {
        return Ok(None);
    };
    if turn.read == 0 {
        return Ok(Some(0));
    }
    sqlx::query!(
        r#"INSERT INTO notifications (id, event_id, user_id, event_type, next_attempt_at,
                                      created_at)
           SELECT gen_random_uuid(), e.id, u.id, e.type, now(), now()
           FROM events e
           JOIN users u ON NOT u.disabled AND u.notify_email AND (
               (e.type IN ('key.expiring', 'key.expired', 'key.grace_ending',
                           'key.quota_threshold')
                AND u.id = e.owner_id)
            OR (e.type = 'key.leaked' AND (u.id = e.owner_id OR u.role = 'admin'))
            OR (e.type = 'key.anomaly' AND (u.id = e.owner_id
                OR (u.role = 'admin' AND e.data->>'severity' = 'high')))
            OR (e.type = 'key.revoked' AND u.id = e.owner_id
                AND e.actor_id IS DISTINCT FROM u.id)
            OR (e.type = 'webhook.disabled' AND CASE
                   WHEN e.data->>'owner_id' IS NULL THEN u.role = 'admin'
                   ELSE u.id::text = e.data->>'owner_id' END))
           WHERE e.position > $1 AND e.position <= $2
             AND e.occurred_at > now() - interval '1 day'
           ON CONFLICT DO NOTHING"#,
        turn.from,
        turn.upto
    )
    .execute(&mut *tx)
    .await?;
    event_store::end_turn(&mut tx, CONSUMER, &turn).await?;
    tx.commit().await?;
    Ok(Some(turn.read))
}

/// A notification claimed for one attempt, with what writing it takes.
pub(crate) struct Claimed {
    pub id: Uuid,
    pub attempt: i32,
    pub email: String,
    pub display_name: Option<String>,
    pub event_type: String,
    pub data: serde_json::Value,
}

/// Claims up to `limit` due notifications (skipping those another instance holds) and
/// leases them for `lease` seconds.
pub(crate) async fn claim(pool: &PgPool, limit: i64, lease: f64) -> Result<Vec<Claimed>> {
    Ok(sqlx::query_as!(
        Claimed,
        r#"WITH due AS (
               SELECT id FROM notifications
               WHERE status = 'pending' AND next_attempt_at <= now()
               ORDER BY next_attempt_at
               LIMIT $1
               FOR UPDATE SKIP LOCKED
           ), claimed AS (
               UPDATE notifications n
               SET attempts = n.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => $2)
               FROM due WHERE n.id = due.id
               RETURNING n.id, n.attempts, n.user_id, n.event_id
           )
           SELECT c.id AS "id!", c.attempts AS "attempt!", u.email, u.display_name,
                  e.type AS event_type, e.data
           FROM claimed c
           JOIN users u ON u.id = c.user_id
           JOIN events e ON e.id = c.event_id"#,
        limit,
        lease
    )
    .fetch_all(pool)
    .await?)
}

/// Records an attempt: sent, retried at `retry_at`, or given up (neither).
pub(crate) async fn record(
    pool: &PgPool,
    claimed: &Claimed,
    sent: bool,
    retry_at: Option<DateTime<Utc>>,
    error: Option<&str>,
) -> Result<()> {
    let status = match (sent, retry_at) {
        (true, _) => "sent",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    sqlx::query!(
        r#"UPDATE notifications
           SET status = $3, next_attempt_at = $4, error = $5,
               sent_at = CASE WHEN $3 = 'sent' THEN now() END
           WHERE id = $1 AND attempts = $2 AND status = 'pending'"#,
        claimed.id,
        claimed.attempt,
        status,
        retry_at,
        error
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// When the next pending notification is due.
pub(crate) async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar!(
        "SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'"
    )
    .fetch_one(pool)
    .await?)
}
