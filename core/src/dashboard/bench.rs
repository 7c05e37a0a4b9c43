//! The dashboard at 100 000 keys and 10 million usage rows (`scripts/bench-dashboard.sh`
//! seeds the database with `scripts/sql/seed-large.sql` and runs this): the server time of
//! one overview, cold and warm, for an admin and for an owner.

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::Dashboard;
use crate::identity::Role;
use crate::keys::Actor;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "the benchmark's report")]
#[ignore = "needs the seeded database of scripts/bench-dashboard.sh"]
async fn bench_dashboard_at_scale() {
    let url = std::env::var("LOCKSMITH_BENCH_DATABASE_URL").expect("LOCKSMITH_BENCH_DATABASE_URL");
    let pool = PgPool::connect(&url).await.expect("database");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM keys")
        .fetch_one(&pool)
        .await
        .expect("keys");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM key_usage")
        .fetch_one(&pool)
        .await
        .expect("usage");
    let admin: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("admin");
    let owner: Uuid = sqlx::query_scalar("SELECT owner_id FROM keys LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("owner");
    println!("dashboard | {keys} keys, {rows} usage rows");
    for (who, actor) in [
        (
            "admin",
            Actor {
                id: admin,
                role: Role::Admin,
            },
        ),
        (
            "owner",
            Actor {
                id: owner,
                role: Role::Owner,
            },
        ),
    ] {
        let dashboard = Dashboard::new(pool.clone());
        let started = Instant::now();
        let first = dashboard
            .overview(actor, Utc::now())
            .await
            .expect("overview");
        let cold = started.elapsed();
        let mut warm = Vec::new();
        for _ in 0..9 {
            let started = Instant::now();
            dashboard
                .overview(actor, Utc::now())
                .await
                .expect("overview");
            warm.push(started.elapsed());
        }
        println!(
            "| {who} | cold {:.1} ms | warm median {:.1} ms | {} active keys, {} top, {} expiring, {} quota alerts |",
            cold.as_secs_f64() * 1000.0,
            median(warm).as_secs_f64() * 1000.0,
            first.counts.active,
            first.top.len(),
            first.expiring.len(),
            first.quotas.len(),
        );
    }
}
