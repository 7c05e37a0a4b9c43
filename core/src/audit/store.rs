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
    let rows = sqlx::query!(
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
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            source_ip: r.source_ip,
            request_id: r.request_id,
            client_request_id: r.client_request_id,
            before: r.before,
            after: r.after,
            hash: chain::hex(&r.hash),
            prev_hash: chain::hex(&r.prev_hash),
        })
        .collect())
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows checked.
    pub checked: u64,
    /// The first row whose hash or link does not match, if any.
    pub first_broken: Option<i64>,
}

/// Recomputes every hash in order, in pages, and reports the first row that does not match
/// its content or does not link to its predecessor.
pub(crate) async fn verify(pool: &PgPool) -> Result<VerifyReport> {
    let mut prev = GENESIS.to_vec();
    let mut after_id = 0_i64;
    let mut checked = 0_u64;
    loop {
        let page = sqlx::query!(
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
            });
        };
        after_id = last.id;
        for row in page {
            let expected = chain::digest(
                &prev,
                &Fields {
                    at: row.at,
                    actor_id: row.actor_id,
                    action: &row.action,
                    target_type: &row.target_type,
                    target_id: row.target_id.as_deref(),
                    source_ip: row.source_ip.as_deref(),
                    request_id: row.request_id.as_deref(),
                    client_request_id: row.client_request_id.as_deref(),
                    before: row.before.as_ref(),
                    after: row.after.as_ref(),
                },
            );
            if row.prev_hash != prev || row.hash != expected {
                return Ok(VerifyReport {
                    checked,
                    first_broken: Some(row.id),
                });
            }
            checked += 1;
            prev = row.hash;
        }
    }
}
