//! Retention over synthetic months: sizes shrink to the policy, the charts by day read
//! what they read before, the latest hours keep their detail, and the chain holds.

use std::time::Duration;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::*;
use crate::audit::AuditService;
use crate::identity::{Actor, Role};
use crate::keys::{KeyService, KeyspaceService, NewKeyInput};
use crate::test_support::{hasher, user};
use crate::usage::series::{Granularity, UsageRange};

const DAYS: i64 = 150;

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// `n` keys with an hour of traffic in every hour of the last 150 days (one valid
/// verification more than the key's index, and one forbidden), in the four usage tables,
/// as the flusher writes them.
async fn months_of_usage(pool: &PgPool, now: DateTime<Utc>, n: usize) -> Vec<Uuid> {
    let admin = Actor::from(&user(pool, "admin@example.com", Role::Admin).await);
    let owner = user(pool, "owner@example.com", Role::Owner).await;
    let keyspace = KeyspaceService::new(pool.clone(), hasher())
        .create(admin, "Payments", "pay", None, &Origin::default())
        .await
        .expect("keyspace");
    let service = KeyService::new(pool.clone(), hasher());
    let mut keys = Vec::new();
    for i in 0..n {
        let key = service
            .create(
                admin,
                keyspace.id,
                NewKeyInput {
                    name: format!("key {i}"),
                    owner_id: Some(owner.id),
                    ..NewKeyInput::default()
                },
                &Origin::default(),
            )
            .await
            .expect("key");
        keys.push(key.view.id);
    }
    let last_hour = now.duration_trunc(TimeDelta::hours(1)).expect("hour");
    for (i, key) in keys.iter().enumerate() {
        sqlx::query(
            "INSERT INTO key_usage (key_id, bucket, valid, forbidden)
             SELECT $1, g, $2, 1
             FROM generate_series($3 - make_interval(days => $4), $3, interval '1 hour') g",
        )
        .bind(key)
        .bind(i64::try_from(i).expect("small") + 1)
        .bind(last_hour)
        .bind(i32::try_from(DAYS).expect("small"))
        .execute(pool)
        .await
        .expect("usage");
    }
    sqlx::query(
        "INSERT INTO usage_totals (bucket, valid, forbidden)
         SELECT bucket, sum(valid), sum(forbidden) FROM key_usage GROUP BY bucket",
    )
    .execute(pool)
    .await
    .expect("totals");
    sqlx::query(
        "INSERT INTO owner_usage (owner_id, bucket, valid, forbidden)
         SELECT k.owner_id, u.bucket, sum(u.valid), sum(u.forbidden)
         FROM key_usage u JOIN keys k ON k.id = u.key_id GROUP BY 1, 2",
    )
    .execute(pool)
    .await
    .expect("owner usage");
    keys
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn total_valid(pool: &PgPool, table: &str, since: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(sum(valid), 0)::int8 FROM {table} WHERE bucket >= $1"
    ))
    .bind(since)
    .fetch_one(pool)
    .await
    .expect("sum")
}

async fn chart(pool: &PgPool, key: Uuid, range: &UsageRange) -> Vec<(DateTime<Utc>, i64, i64)> {
    crate::usage::store::series(pool, key, range)
        .await
        .expect("series")
        .into_iter()
        .map(|b| (b.bucket, b.valid, b.forbidden))
        .collect()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn months_of_usage_fold_into_days_and_age_out_with_the_charts_unchanged(pool: PgPool) {
    let now = Utc::now();
    let keys = months_of_usage(&pool, now, 3).await;
    let policy = RetentionPolicy {
        hourly_usage: days(30),
        daily_usage: days(120),
        ..RetentionPolicy::default()
    };
    let by_day = UsageRange::new(
        Some(now - TimeDelta::days(119)),
        Some(now),
        Some(Granularity::Day),
        now,
    )
    .expect("range");
    let by_hour = UsageRange::new(None, Some(now), Some(Granularity::Hour), now).expect("range");
    let days_before = chart(&pool, keys[2], &by_day).await;
    let hours_before = chart(&pool, keys[2], &by_hour).await;
    let hourly_rows = count(&pool, "key_usage").await;
    assert_eq!(hourly_rows, 3 * (DAYS * 24 + 1));
    let since = by_day.from;
    let sums_before = (
        total_valid(&pool, "key_usage", since).await,
        total_valid(&pool, "usage_totals", since).await,
        total_valid(&pool, "owner_usage", since).await,
    );

    // The networks keys were used from: kept 31 days, whatever the usage horizons.
    sqlx::query(
        "INSERT INTO key_networks (key_id, bucket, network, requests)
         SELECT $1, date_trunc('hour', g, 'UTC'), '203.0.113.0/24', 1
         FROM generate_series($2 - interval '40 days', $2, interval '1 day') g",
    )
    .bind(keys[0])
    .bind(now)
    .execute(&pool)
    .await
    .expect("networks");

    let retention = Retention::new(pool.clone(), policy);
    let report = retention.run(now).await.expect("runs").expect("not locked");
    assert!(report.folded_days >= 119, "{report:?}");
    let kept = count(&pool, "key_networks").await;
    assert!((30..=31).contains(&kept), "{kept} of 41 days kept");
    assert_eq!(report.network_rows, 41 - kept as u64, "{report:?}");
    let oldest: DateTime<Utc> = sqlx::query_scalar("SELECT min(bucket) FROM key_networks")
        .fetch_one(&pool)
        .await
        .expect("oldest");
    assert!(oldest >= now - TimeDelta::days(31), "{oldest}");
    assert!(report.usage_rows > 0, "{report:?}");

    // 30 days of hours and 90 days of days per key, give or take the days at the edges.
    let rows = count(&pool, "key_usage").await;
    let expected = 3 * (30 * 24 + 90);
    assert!(
        (expected - 3 * 48..=expected + 3 * 48).contains(&rows),
        "{rows} rows, about {expected} expected (from {hourly_rows})"
    );
    assert!(count(&pool, "usage_totals").await <= 30 * 24 + 90 + 48);
    assert_eq!(chart(&pool, keys[2], &by_day).await, days_before);
    assert_eq!(chart(&pool, keys[2], &by_hour).await, hours_before);
    assert_eq!(
        (
            total_valid(&pool, "key_usage", since).await,
            total_valid(&pool, "usage_totals", since).await,
            total_valid(&pool, "owner_usage", since).await,
        ),
        sums_before,
        "every total over the kept range is what it was"
    );
    let oldest: DateTime<Utc> = sqlx::query_scalar("SELECT min(bucket) FROM key_usage")
        .fetch_one(&pool)
        .await
        .expect("oldest");
    assert!(oldest >= now - TimeDelta::days(121), "{oldest}");

    // A second run has nothing left to do.
    let again = retention.run(now).await.expect("runs").expect("not locked");
    assert_eq!((again.folded_rows, again.usage_rows), (0, 0), "{again:?}");
    assert_eq!(count(&pool, "key_usage").await, rows);
    assert_eq!(chart(&pool, keys[2], &by_day).await, days_before);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn dead_keys_are_purged_only_when_asked_with_their_audit_rows_kept(pool: PgPool) {
    let now = Utc::now();
    let keys = months_of_usage(&pool, now, 3).await;
    let admin = Actor::from(&user(&pool, "root@example.com", Role::Admin).await);
    KeyService::new(pool.clone(), hasher())
        .revoke(admin, keys[0], None, &Origin::default())
        .await
        .expect("revoked");
    let later = now + TimeDelta::days(40);

    let keep = Retention::new(pool.clone(), RetentionPolicy::default());
    assert_eq!(keep.run(later).await.expect("runs").expect("ran").keys, 0);
    assert_eq!(count(&pool, "keys").await, 3, "kept by default");

    let purge = Retention::new(
        pool.clone(),
        RetentionPolicy {
            dead_keys: Some(days(30)),
            ..RetentionPolicy::default()
        },
    );
    assert_eq!(
        purge.run(now).await.expect("runs").expect("ran").keys,
        0,
        "revoked today: not yet"
    );
    assert_eq!(purge.run(later).await.expect("runs").expect("ran").keys, 1);
    let left: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM keys ORDER BY name")
        .fetch_all(&pool)
        .await
        .expect("keys");
    assert_eq!(left, keys[1..]);
    let usage_of_purged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM key_usage WHERE key_id = $1")
            .bind(keys[0])
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(usage_of_purged, 0);

    let history: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id")
            .bind(keys[0].to_string())
            .fetch_all(&pool)
            .await
            .expect("history");
    assert_eq!(history, ["key.create", "key.revoke"], "its history stays");
    let purge_row: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'key.purge' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("a key.purge row");
    assert_eq!(purge_row["keys"], serde_json::json!([keys[0]]));
    let report = AuditService::new(pool.clone())
        .verify(Actor::SYSTEM)
        .await
        .expect("verifies");
    assert_eq!(report.first_broken, None);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn one_instance_runs_at_a_time(pool: PgPool) {
    let mut holder = pool.begin().await.expect("tx");
    assert!(store::try_lock(&mut holder).await.expect("lock"));
    let retention = Retention::new(pool.clone(), RetentionPolicy::default());
    assert_eq!(retention.run(Utc::now()).await.expect("runs"), None);
    holder.rollback().await.expect("released");
    assert!(retention.run(Utc::now()).await.expect("runs").is_some());
}
