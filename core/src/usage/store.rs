//! SQL of `key_usage`, and of `keys.last_used_at` and `verifiers.last_used_at` as
//! verification records them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{UsageBatch, UsageBucket, UsageRange};
use crate::error::Result;

/// Adds a batch to the stored counts and moves `last_used_at` forward, in one
/// transaction: either all of it is written or none (and the caller keeps it).
pub async fn write(pool: &PgPool, batch: &UsageBatch) -> Result<()> {
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
    tx.commit().await?;
    Ok(())
}

/// Every bucket of `range` for `key`, zeros included, oldest first.
pub async fn series(pool: &PgPool, key: Uuid, range: &UsageRange) -> Result<Vec<UsageBucket>> {
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
