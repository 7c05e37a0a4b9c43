//! The audit repository: append within the caller's transaction, list with filters and
//! cursor pagination, verify the chain.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::chain::{self, Fields, GENESIS};
use super::{Action, Entry, NewEntry};
use crate::error::{Error, Result};
use crate::events::store::{self as event_store, Pending};

/// Appends `entry` (and its events) in the caller's transaction. Concurrent writers wait
/// for each other (a transaction-scoped advisory lock), so the chain never forks and event
/// positions follow commit order.
pub(crate) async fn append(conn: &mut PgConnection, entry: NewEntry) -> Result<()> {
    append_all(conn, vec![entry]).await
}

/// Appends `entries`, in order, in the caller's transaction with one statement (a batch of
/// a thousand keys writes its thousand and one rows at once), then the events they carry.
pub(crate) async fn append_all(conn: &mut PgConnection, entries: Vec<NewEntry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    event_store::lock_chain(conn).await?;
    let mut prev = sqlx::query_scalar!("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or_else(|| GENESIS.to_vec());
    // PostgreSQL keeps microseconds; hash exactly what will be stored.
    let at = Utc::now().trunc_subsecs(6);
    let n = entries.len();
    let mut cols = Columns::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for mut entry in entries {
        events.push((entry.actor_id, std::mem::take(&mut entry.events)));
        // A JSON null is stored as SQL NULL; hash what will be stored.
        entry.before = entry.before.filter(|v| !v.is_null());
        entry.after = entry.after.filter(|v| !v.is_null());
        let source_ip = entry.origin.source_ip.map(|ip| ip.to_string());
        let hash = chain::digest(
            &prev,
            &Fields {
                at,
                actor_id: entry.actor_id,
                action: entry.action.as_str(),
                target_type: entry.action.target_type(),
                target_id: entry.target_id.as_deref(),
                source_ip: source_ip.as_deref(),
                request_id: entry.origin.request_id.as_deref(),
                client_request_id: entry.origin.client_request_id.as_deref(),
                before: entry.before.as_ref(),
                after: entry.after.as_ref(),
            },
        )
        .to_vec();
        cols.actor_id.push(entry.actor_id);
        cols.action.push(entry.action.as_str().to_owned());
        cols.target_type.push(entry.action.target_type().to_owned());
        cols.target_id.push(entry.target_id);
        cols.source_ip.push(source_ip);
        cols.request_id.push(entry.origin.request_id);
        cols.client_request_id.push(entry.origin.client_request_id);
        // jsonb 'null' marks an absent value in the array (SQL NULLs cannot be told from
        // JSON null inside a jsonb[] parameter); it is turned back into NULL below.
        cols.before
            .push(entry.before.unwrap_or(serde_json::Value::Null));
        cols.after
            .push(entry.after.unwrap_or(serde_json::Value::Null));
        cols.prev_hash
            .push(std::mem::replace(&mut prev, hash.clone()));
        cols.hash.push(hash);
    }
    let mut ids = sqlx::query_scalar!(
        r#"INSERT INTO audit_log
               (at, actor_id, action, target_type, target_id, source_ip, request_id,
                client_request_id, before, after, prev_hash, hash)
           SELECT $1, actor_id, action, target_type, target_id, source_ip, request_id,
                  client_request_id, nullif(before, 'null'::jsonb), nullif(after, 'null'::jsonb),
                  prev_hash, hash
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::jsonb[], $10::jsonb[], $11::bytea[], $12::bytea[])
                WITH ORDINALITY AS e(actor_id, action, target_type, target_id, source_ip,
                                     request_id, client_request_id, before, after, prev_hash,
                                     hash, n)
           ORDER BY n
           RETURNING id"#,
        at,
        &cols.actor_id as &[Option<uuid::Uuid>],
        &cols.action,
        &cols.target_type,
        &cols.target_id as &[Option<String>],
        &cols.source_ip as &[Option<String>],
        &cols.request_id as &[Option<String>],
        &cols.client_request_id as &[Option<String>],
        &cols.before,
        &cols.after,
        &cols.prev_hash,
        &cols.hash,
    )
    .fetch_all(&mut *conn)
    .await?;
    // Ids are drawn in the order the rows were inserted.
    ids.sort_unstable();
    let pending = ids
        .into_iter()
        .zip(events)
        .flat_map(|(audit_id, (actor_id, events))| {
            events.into_iter().map(move |event| Pending {
                audit_id: Some(audit_id),
                actor_id,
                event,
            })
        })
        .collect();
    event_store::append(conn, at, pending).await
}

/// The entries of [`append_all`] as parallel arrays, for one `unnest` insert.
struct Columns {
    actor_id: Vec<Option<Uuid>>,
    action: Vec<String>,
    target_type: Vec<String>,
    target_id: Vec<Option<String>>,
    source_ip: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    client_request_id: Vec<Option<String>>,
    before: Vec<serde_json::Value>,
    after: Vec<serde_json::Value>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            actor_id: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            target_type: Vec::with_capacity(n),
            target_id: Vec::with_capacity(n),
            source_ip: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            client_request_id: Vec::with_capacity(n),
            before: Vec::with_capacity(n),
            after: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }
}

/// Filters for [`list`]; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this actor's entries.
    pub actor_id: Option<Uuid>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only entries about this target.
    pub target_id: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Leave out sign-ins and sign-outs (`user.login`, `user.logout`).
    pub hide_sign_ins: bool,
}

impl AuditFilter {
    /// Refuses text filters that no entry can match: longer than 200 characters, or
    /// holding control characters (a NUL would not even reach PostgreSQL). Checked here,
    /// so the REST API, the portal and its CSV export answer alike.
    fn check(&self) -> Result<()> {
        if self
            .target_id
            .as_deref()
            .is_some_and(|v| v.chars().count() > 200 || v.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "target_id",
                "must be at most 200 characters, without control characters",
            ));
        }
        Ok(())
    }
}

/// Newest first; `before_id` is the cursor (the last id of the previous page).
pub(crate) async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Entry>> {
    filter.check()?;
    let hidden: Vec<String> = if filter.hide_sign_ins {
        Action::SIGN_INS
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let rows = sqlx::query_as!(
        StoredEntry,
        r#"SELECT id, at, actor_id, action, target_type, target_id, source_ip, request_id,
                  client_request_id, before, after, hash, prev_hash
           FROM audit_log
           WHERE ($1::uuid IS NULL OR actor_id = $1)
             AND ($2::text IS NULL OR action = $2)
             AND action <> ALL($8::text[])
             AND ($3::text IS NULL OR target_id = $3)
             AND ($4::timestamptz IS NULL OR at >= $4)
             AND ($5::timestamptz IS NULL OR at < $5)
             AND ($6::bigint IS NULL OR id < $6)
           ORDER BY id DESC
           LIMIT $7"#,
        filter.actor_id,
        filter.action.map(Action::as_str),
        filter.target_id,
        filter.from,
        filter.to,
        before_id,
        limit,
        &hidden,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(StoredEntry::into_entry).collect())
}

/// A row as stored, hashes as bytes.
pub(crate) struct StoredEntry {
    pub(crate) id: i64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) action: String,
    pub(crate) target_type: String,
    pub(crate) target_id: Option<String>,
    pub(crate) source_ip: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) client_request_id: Option<String>,
    pub(crate) before: Option<serde_json::Value>,
    pub(crate) after: Option<serde_json::Value>,
    pub(crate) hash: Vec<u8>,
    pub(crate) prev_hash: Vec<u8>,
}

impl StoredEntry {
    /// The hash this row must carry after `prev`, when it links to `prev`; `None` when
    /// its link or its hash does not match.
    pub(crate) fn check(&self, prev: &[u8]) -> Option<[u8; 32]> {
        let expected = chain::digest(
            prev,
            &Fields {
                at: self.at,
                actor_id: self.actor_id,
                action: &self.action,
                target_type: &self.target_type,
                target_id: self.target_id.as_deref(),
                source_ip: self.source_ip.as_deref(),
                request_id: self.request_id.as_deref(),
                client_request_id: self.client_request_id.as_deref(),
                before: self.before.as_ref(),
                after: self.after.as_ref(),
            },
        );
        (self.prev_hash == prev && self.hash == expected).then_some(expected)
    }

    /// As the API shows it, hashes in hex.
    pub(crate) fn into_entry(self) -> Entry {
        Entry {
            id: self.id,
            at: self.at,
            actor_id: self.actor_id,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            source_ip: self.source_ip,
            request_id: self.request_id,
            client_request_id: self.client_request_id,
            before: self.before,
            after: self.after,
            hash: chain::hex(&self.hash),
            prev_hash: chain::hex(&self.prev_hash),
        }
    }

    /// From the API's form (an archive's line); `None` when a hash is not hex.
    pub(crate) fn from_entry(entry: Entry) -> Option<Self> {
        Some(Self {
            hash: chain::unhex(&entry.hash)?,
            prev_hash: chain::unhex(&entry.prev_hash)?,
            id: entry.id,
            at: entry.at,
            actor_id: entry.actor_id,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            source_ip: entry.source_ip,
            request_id: entry.request_id,
            client_request_id: entry.client_request_id,
            before: entry.before,
            after: entry.after,
        })
    }
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows checked.
    pub checked: u64,
    /// The first row whose hash or link does not match, if any.
    pub first_broken: Option<i64>,
    /// The last row checked, hash and id, when intact: where the next check can start.
    pub last: Option<(Vec<u8>, i64)>,
}

/// Recomputes every hash in order, in pages, and reports the first row that does not match
/// its content or does not link to its predecessor. An archived segment's anchor, if any,
/// is where the chain starts.
pub(crate) async fn verify(pool: &PgPool) -> Result<VerifyReport> {
    verify_from(pool, None).await
}

/// The same from `start` (a row's hash and id already checked) on, or from the anchor
/// when it lies past `start` (archived since).
pub(crate) async fn verify_from(
    pool: &PgPool,
    start: Option<(Vec<u8>, i64)>,
) -> Result<VerifyReport> {
    let anchor = anchor(pool).await?;
    let (mut prev, mut after_id) = match (start, anchor) {
        (Some(start), Some(anchor)) if anchor.1 > start.1 => anchor,
        (Some(start), _) => start,
        (None, anchor) => anchor.unwrap_or((GENESIS.to_vec(), 0)),
    };
    let mut checked = 0_u64;
    loop {
        let page = sqlx::query_as!(
            StoredEntry,
            r#"SELECT id, at, actor_id, action, target_type, target_id, source_ip, request_id,
                      client_request_id, before, after, prev_hash, hash
               FROM audit_log WHERE id > $1 ORDER BY id LIMIT 1000"#,
            after_id
        )
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else {
            return Ok(VerifyReport {
                checked,
                first_broken: None,
                last: Some((prev, after_id)).filter(|(_, id)| *id > 0),
            });
        };
        after_id = last.id;
        for row in page {
            if row.check(&prev).is_none() {
                return Ok(VerifyReport {
                    checked,
                    first_broken: Some(row.id),
                    last: None,
                });
            }
            checked += 1;
            prev = row.hash;
        }
    }
}

/// The archived trail's last hash and row id, when a segment was archived.
pub(crate) async fn anchor(pool: &PgPool) -> Result<Option<(Vec<u8>, i64)>> {
    Ok(sqlx::query!("SELECT last_hash, last_id FROM audit_anchor")
        .fetch_optional(pool)
        .await?
        .map(|r| (r.last_hash, r.last_id)))
}

/// The last row of the longest run of rows after `after_id` all recorded before
/// `before` (the chain is cut at a row, never around one).
pub(crate) async fn last_id_before(
    pool: &PgPool,
    before: DateTime<Utc>,
    after_id: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(
                  (SELECT min(id) - 1 FROM audit_log WHERE id > $2 AND at >= $1),
                  (SELECT max(id) FROM audit_log)) AS "last""#,
        before,
        after_id
    )
    .fetch_one(pool)
    .await?
    .filter(|last| *last > after_id))
}

/// Rows after `after_id` up to `last_id`, oldest first, at most `limit`.
pub(crate) async fn range(
    pool: &PgPool,
    after_id: i64,
    last_id: i64,
    limit: i64,
) -> Result<Vec<StoredEntry>> {
    Ok(sqlx::query_as!(
        StoredEntry,
        r#"SELECT id, at, actor_id, action, target_type, target_id, source_ip, request_id,
                  client_request_id, before, after, hash, prev_hash
           FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"#,
        after_id,
        last_id,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// Moves the anchor to row `last_id` and deletes the `rows` rows up to it, refusing when
/// the trail no longer holds exactly the archived segment (another archive ran, or the
/// row's hash differs).
pub(crate) async fn remove_segment(
    pool: &PgPool,
    last_id: i64,
    last_hash: &[u8],
    rows: u64,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    event_store::lock_chain(&mut tx).await?;
    let from = sqlx::query_scalar!("SELECT last_id FROM audit_anchor FOR UPDATE")
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    let last = sqlx::query!(
        "SELECT at, hash, (SELECT count(*) FROM audit_log WHERE id > $2 AND id <= $1) AS n
         FROM audit_log WHERE id = $1",
        last_id,
        from
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(last) = last.filter(|l| {
        l.hash == last_hash && u64::try_from(l.n.unwrap_or(0)).is_ok_and(|n| n == rows)
    }) else {
        return Err(Error::Conflict(
            "the trail no longer holds the archived segment; nothing was removed".into(),
        ));
    };
    sqlx::query!(
        r#"INSERT INTO audit_anchor (last_id, last_hash, last_at, archived, archived_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (singleton) DO UPDATE SET
               last_id = EXCLUDED.last_id, last_hash = EXCLUDED.last_hash,
               last_at = EXCLUDED.last_at,
               archived = audit_anchor.archived + EXCLUDED.archived,
               archived_at = EXCLUDED.archived_at"#,
        last_id,
        last_hash,
        last.at,
        i64::try_from(rows).unwrap_or(i64::MAX)
    )
    .execute(&mut *tx)
    .await?;
    let removed = sqlx::query!("DELETE FROM audit_log WHERE id <= $1", last_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(removed)
}

/// The newest row: its id, hash and time.
pub(crate) async fn head(conn: &mut PgConnection) -> Result<Option<(i64, Vec<u8>, DateTime<Utc>)>> {
    Ok(
        sqlx::query!("SELECT id, hash, at FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(conn)
            .await?
            .map(|r| (r.id, r.hash, r.at)),
    )
}
