//! SQL of `key_usage`, and of `keys.last_used_at` and `verifiers.last_used_at` as
//! verification records them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::recent::{LogFilter, RecentVerification};
use super::{UsageBatch, UsageBucket, UsageRange};
use crate::error::Result;
use crate::verify::Code;

/// Adds a batch to the stored counts, moves `last_used_at` forward and appends to the
/// keys' logs (trimming each to its newest `keep`), in one transaction: either all of it
/// is written or none (and the caller keeps it).
pub(crate) async fn write(pool: &PgPool, batch: &UsageBatch, keep: usize) -> Result<()> {
    let n = batch.counts.len();
    let (mut keys, mut buckets) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut columns: [Vec<i64>; 5] = Default::default();
    for ((key, bucket), counts) in &batch.counts {
        keys.push(*key);
        buckets.push(*bucket);
        for (column, count) in columns.iter_mut().zip(counts) {
            column.push(*count);
        }
    }
    let (used_keys, used_at): (Vec<Uuid>, Vec<DateTime<Utc>>) =
        batch.last_used.iter().map(|(k, at)| (*k, *at)).unzip();
    let [valid, rate_limited, quota_exceeded, forbidden, other] = columns;
    let mut tx = pool.begin().await?;
    // Rows are inserted in key order, so that concurrent writers from several instances lock them in
    // the same order and cannot deadlock. A key deleted meanwhile is skipped.
    sqlx::query!(
        r#"INSERT INTO key_usage AS u (key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT b.key_id, b.bucket, b.valid, b.rate_limited, b.quota_exceeded, b.forbidden, b.other
           FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                AS b(key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           WHERE EXISTS (SELECT 1 FROM keys k WHERE k.id = b.key_id)
           ORDER BY b.key_id, b.bucket
           ON CONFLICT (key_id, bucket) DO UPDATE SET
               valid = u.valid + EXCLUDED.valid,
               rate_limited = u.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = u.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = u.forbidden + EXCLUDED.forbidden,
               other = u.other + EXCLUDED.other"#,
        &keys,
        &buckets,
        &valid,
        &rate_limited,
        &quota_exceeded,
        &forbidden,
        &other,
    )
    .execute(&mut *tx)
    .await?;
    // The dashboard's totals, hour by hour in bucket order (every writer takes these
    // row locks after the key_usage ones and in the same order). Keys deleted meanwhile
    // are skipped here too.
    sqlx::query!(
        r#"INSERT INTO usage_totals AS t (bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT b.bucket, sum(b.valid), sum(b.rate_limited), sum(b.quota_exceeded),
                  sum(b.forbidden), sum(b.other)
           FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                AS b(key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           WHERE EXISTS (SELECT 1 FROM keys k WHERE k.id = b.key_id)
           GROUP BY b.bucket
           ORDER BY b.bucket
           ON CONFLICT (bucket) DO UPDATE SET
               valid = t.valid + EXCLUDED.valid,
               rate_limited = t.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = t.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = t.forbidden + EXCLUDED.forbidden,
               other = t.other + EXCLUDED.other"#,
        &keys,
        &buckets,
        &valid,
        &rate_limited,
        &quota_exceeded,
        &forbidden,
        &other,
    )
    .execute(&mut *tx)
    .await?;
    // And per owner, in (owner, bucket) order.
    sqlx::query!(
        r#"INSERT INTO owner_usage AS o (owner_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT k.owner_id, b.bucket, sum(b.valid), sum(b.rate_limited), sum(b.quota_exceeded),
                  sum(b.forbidden), sum(b.other)
           FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
                AS b(key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           JOIN keys k ON k.id = b.key_id
           GROUP BY k.owner_id, b.bucket
           ORDER BY k.owner_id, b.bucket
           ON CONFLICT (owner_id, bucket) DO UPDATE SET
               valid = o.valid + EXCLUDED.valid,
               rate_limited = o.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = o.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = o.forbidden + EXCLUDED.forbidden,
               other = o.other + EXCLUDED.other"#,
        &keys,
        &buckets,
        &valid,
        &rate_limited,
        &quota_exceeded,
        &forbidden,
        &other,
    )
    .execute(&mut *tx)
    .await?;
    // The rows are locked in key order first (an UPDATE alone locks in whatever order
    // its plan visits them), so writers on several instances cannot deadlock.
    sqlx::query!(
        r#"WITH locked AS (
               SELECT k.id FROM keys k WHERE k.id = ANY($1::uuid[]) ORDER BY k.id FOR NO KEY UPDATE
           )
           UPDATE keys k SET last_used_at = u.at
           FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at), locked
           WHERE k.id = u.id AND locked.id = u.id
             AND (k.last_used_at IS NULL OR k.last_used_at < u.at)"#,
        &used_keys,
        &used_at,
    )
    .execute(&mut *tx)
    .await?;
    // Verifiers the same way: locked in id order, moved forward only.
    let (verifiers, verifiers_at): (Vec<Uuid>, Vec<DateTime<Utc>>) =
        batch.verifier_used.iter().map(|(v, at)| (*v, *at)).unzip();
    sqlx::query!(
        r#"WITH locked AS (
               SELECT v.id FROM verifiers v WHERE v.id = ANY($1::uuid[]) ORDER BY v.id FOR NO KEY UPDATE
           )
           UPDATE verifiers v SET last_used_at = u.at
           FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at), locked
           WHERE v.id = u.id AND locked.id = u.id
             AND (v.last_used_at IS NULL OR v.last_used_at < u.at)"#,
        &verifiers,
        &verifiers_at,
    )
    .execute(&mut *tx)
    .await?;
    write_verifier_requests(&mut tx, batch).await?;
    write_networks(&mut tx, batch).await?;
    write_log(&mut tx, batch, keep).await?;
    tx.commit().await?;
    Ok(())
}

async fn write_verifier_requests(conn: &mut PgConnection, batch: &UsageBatch) -> Result<()> {
    let mut rows: Vec<(Uuid, DateTime<Utc>, i64)> = batch
        .verifier_requests
        .iter()
        .map(|((v, bucket), n)| (*v, *bucket, *n))
        .collect();
    rows.sort_unstable();
    let (mut ids, mut buckets, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for (id, bucket, n) in rows {
        ids.push(id);
        buckets.push(bucket);
        counts.push(n);
    }
    sqlx::query!(
        r#"INSERT INTO verifier_usage AS u (verifier_id, bucket, requests)
           SELECT r.id, r.bucket, r.n
           FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[]) AS r(id, bucket, n)
           WHERE EXISTS (SELECT 1 FROM verifiers v WHERE v.id = r.id)
           ORDER BY r.id, r.bucket
           ON CONFLICT (verifier_id, bucket) DO UPDATE SET requests = u.requests + EXCLUDED.requests"#,
        &ids,
        &buckets,
        &counts,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds the batch's verifications by key, hour and network, in key order.
async fn write_networks(conn: &mut PgConnection, batch: &UsageBatch) -> Result<()> {
    if batch.networks.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<(Uuid, DateTime<Utc>, String, i64)> = batch
        .networks
        .iter()
        .map(|((key, bucket, network), n)| (*key, *bucket, network.to_string(), *n))
        .collect();
    rows.sort_unstable();
    let (mut keys, mut buckets, mut networks, mut counts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (key, bucket, network, n) in rows {
        keys.push(key);
        buckets.push(bucket);
        networks.push(network);
        counts.push(n);
    }
    sqlx::query!(
        r#"INSERT INTO key_networks AS k (key_id, bucket, network, requests)
           SELECT r.key_id, r.bucket, r.network::cidr, r.n
           FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int8[]) AS r(key_id, bucket, network, n)
           WHERE EXISTS (SELECT 1 FROM keys x WHERE x.id = r.key_id)
           ORDER BY r.key_id, r.bucket, r.network
           ON CONFLICT (key_id, bucket, network) DO UPDATE SET requests = k.requests + EXCLUDED.requests"#,
        &keys,
        &buckets,
        &networks,
        &counts,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends the batch's verifications to the keys' logs, oldest first, then trims each
/// key's log to its newest `keep` rows.
async fn write_log(conn: &mut PgConnection, batch: &UsageBatch, keep: usize) -> Result<()> {
    if batch.log.is_empty() {
        return Ok(());
    }
    let mut events: Vec<(Uuid, &crate::usage::LoggedVerification)> = batch
        .log
        .iter()
        .flat_map(|(key, events)| events.iter().map(move |e| (*key, e)))
        .collect();
    events.sort_by_key(|(key, e)| (e.at, *key));
    let n = events.len();
    let (mut keys, mut ats, mut codes, mut ips, mut verifiers) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (key, e) in events {
        keys.push(key);
        ats.push(e.at);
        codes.push(e.code.as_str());
        ips.push(e.client_ip.map(|ip| ip.to_string()));
        verifiers.push(e.verifier);
    }
    sqlx::query!(
        r#"INSERT INTO verification_log (key_id, at, code, client_ip, verifier_id)
           SELECT l.key_id, l.at, l.code, l.client_ip::inet, l.verifier_id
           FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[])
                WITH ORDINALITY AS l(key_id, at, code, client_ip, verifier_id, n)
           WHERE EXISTS (SELECT 1 FROM keys k WHERE k.id = l.key_id)
           ORDER BY l.n"#,
        &keys,
        &ats,
        &codes as &[&str],
        &ips as &[Option<String>],
        &verifiers,
    )
    .execute(&mut *conn)
    .await?;
    let mut touched: Vec<Uuid> = batch.log.keys().copied().collect();
    touched.sort_unstable();
    sqlx::query!(
        r#"DELETE FROM verification_log v
           USING (SELECT t.key_id,
                         (SELECT l.id FROM verification_log l WHERE l.key_id = t.key_id
                          ORDER BY l.id DESC OFFSET $2 LIMIT 1) AS cutoff
                  FROM unnest($1::uuid[]) AS t(key_id)) c
           WHERE v.key_id = c.key_id AND v.id <= c.cutoff"#,
        &touched,
        i64::try_from(keep).unwrap_or(i64::MAX),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A key's kept verifications, newest first: those with `code` (or, with `refused`,
/// every answer but `VALID`), before the entry `before`.
pub(crate) async fn recent(
    pool: &PgPool,
    key: Uuid,
    filter: &LogFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<RecentVerification>> {
    let rows = sqlx::query!(
        r#"SELECT l.id, l.at, l.code, host(l.client_ip) AS client_ip, l.verifier_id,
                  v.name AS "verifier_name?"
           FROM verification_log l LEFT JOIN verifiers v ON v.id = l.verifier_id
           WHERE l.key_id = $1
             AND ($2::text IS NULL OR l.code = $2)
             AND (NOT $3 OR l.code <> 'VALID')
             AND ($4::bigint IS NULL OR l.id < $4)
           ORDER BY l.id DESC
           LIMIT $5"#,
        key,
        filter.code.map(Code::as_str),
        filter.refused,
        before,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(RecentVerification {
                id: r.id,
                at: r.at,
                code: Code::parse(&r.code)?,
                client_ip: r.client_ip,
                verifier_id: r.verifier_id,
                verifier_name: r.verifier_name,
            })
        })
        .collect())
}

/// How many of a key's kept verifications gave each answer.
pub(crate) async fn recent_counts(pool: &PgPool, key: Uuid) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT code, count(*) AS "n!" FROM verification_log WHERE key_id = $1 GROUP BY code"#,
        key
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.code, r.n)).collect())
}

/// Verifications of each of `keys` (every outcome) in the hours from `since` on.
pub(crate) async fn key_totals_since(
    pool: &PgPool,
    keys: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT key_id, sum(valid + rate_limited + quota_exceeded + forbidden + other)::int8 AS "n!"
           FROM key_usage WHERE key_id = ANY($1) AND bucket >= $2 GROUP BY key_id"#,
        keys,
        super::buffer::hour_of(since)
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key_id, r.n)).collect())
}

/// Requests of each of `verifiers` in the hours from `since` on.
pub(crate) async fn verifier_requests(
    pool: &PgPool,
    verifiers: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT verifier_id, sum(requests)::int8 AS "n!" FROM verifier_usage
           WHERE verifier_id = ANY($1) AND bucket >= $2 GROUP BY verifier_id"#,
        verifiers,
        super::buffer::hour_of(since)
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.verifier_id, r.n)).collect())
}

/// Every bucket of `range` for `key`, zeros included, oldest first.
pub(crate) async fn series(
    pool: &PgPool,
    key: Uuid,
    range: &UsageRange,
) -> Result<Vec<UsageBucket>> {
    Ok(sqlx::query_as!(
        UsageBucket,
        r#"WITH buckets AS (
               SELECT g AS bucket
               FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 second',
                                    CASE $4::text WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END) AS g
           ),
           hours AS (
               SELECT date_trunc($4::text, u.bucket, 'UTC') AS bucket,
                      sum(u.valid) AS valid, sum(u.rate_limited) AS rate_limited,
                      sum(u.quota_exceeded) AS quota_exceeded, sum(u.forbidden) AS forbidden,
                      sum(u.other) AS other
               FROM key_usage u
               WHERE u.key_id = $1 AND u.bucket >= $2 AND u.bucket < $3
               GROUP BY 1
           )
           SELECT b.bucket AS "bucket!",
                  coalesce(h.valid, 0)::int8 AS "valid!",
                  coalesce(h.rate_limited, 0)::int8 AS "rate_limited!",
                  coalesce(h.quota_exceeded, 0)::int8 AS "quota_exceeded!",
                  coalesce(h.forbidden, 0)::int8 AS "forbidden!",
                  coalesce(h.other, 0)::int8 AS "other!"
           FROM buckets b LEFT JOIN hours h ON h.bucket = b.bucket
           ORDER BY b.bucket"#,
        key,
        range.from,
        range.to,
        range.granularity.as_str(),
    )
    .fetch_all(pool)
    .await?)
}
