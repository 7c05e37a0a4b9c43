//! The dashboard's data against a real database: keys by status, the hourly totals the
//! usage flusher keeps next to each key's counts, the busiest keys, keys expiring soon and
//! nearly spent quotas; owners see only their own keys.

use chrono::{Duration, Utc};
use locksmith_core::dashboard::Dashboard;
use locksmith_core::identity::Role;
use locksmith_core::keys::Actor;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::KeyWorld;
use crate::verify::{code, secret, verifier};

async fn user_id(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .expect("user")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_dashboard_counts_lists_and_charts_what_happened(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let busy = w
        .key(
            &w.alice,
            json!({ "name": "busy", "quota": { "limit": 10, "period": "day" } }),
        )
        .await;
    let soon = (Utc::now() + Duration::days(3)).to_rfc3339();
    let later = (Utc::now() + Duration::days(30)).to_rfc3339();
    let expiring = w
        .key(&w.admin, json!({ "name": "soon", "expires_at": soon }))
        .await;
    w.key(&w.admin, json!({ "name": "later", "expires_at": later }))
        .await;
    let revoked = w.key(&w.admin, json!({ "name": "gone" })).await;
    w.revoke(&revoked).await;

    let body = json!({ "key": secret(&busy) });
    for _ in 0..9 {
        assert_eq!(code(&w.app, &token, &body).await, "VALID");
    }
    assert_eq!(
        code(
            &w.app,
            &token,
            &json!({ "key": secret(&busy), "scopes": ["admin"] })
        )
        .await,
        "INSUFFICIENT_SCOPES"
    );
    w.app.verify.flush().await.expect("usage written");

    let admin = Actor {
        id: user_id(&pool, "admin@keys.test").await,
        role: Role::Admin,
    };
    let now = Utc::now();
    let dashboard = Dashboard::new(pool.clone());
    let all = dashboard.overview(admin, now).await.expect("overview");
    assert_eq!(
        (
            all.counts.active,
            all.counts.revoked,
            all.counts.disabled,
            all.counts.expired
        ),
        (3, 1, 0, 0)
    );
    assert_eq!(all.hours.len(), 24);
    assert_eq!(all.days.len(), 30);
    let hour = all.hours.last().expect("current hour");
    assert_eq!((hour.valid, hour.forbidden), (9, 1), "{hour:?}");
    let today = all.days.last().expect("today");
    assert_eq!((today.valid, today.forbidden), (9, 1));
    assert_eq!(all.top.len(), 1);
    assert_eq!(all.top[0].key.name, "busy");
    assert_eq!((all.top[0].total, all.top[0].valid), (10, 9));
    let soon_names: Vec<&str> = all.expiring.iter().map(|e| e.key.name.as_str()).collect();
    assert_eq!(soon_names, ["soon"]);
    assert_eq!(
        all.expiring[0].key.id.to_string(),
        expiring["id"].as_str().expect("id")
    );
    // 9 of 10 spent (the instance may hold the last credit on lease: 9 or 10 is stored).
    assert_eq!(all.quotas.len(), 1);
    assert!(
        (9..=10).contains(&all.quotas[0].used),
        "{:?}",
        all.quotas[0]
    );

    // The totals agree with the per-key counts.
    let (totals, per_key): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(valid + forbidden), 0)::int8 FROM usage_totals),
                (SELECT coalesce(sum(valid + forbidden), 0)::int8 FROM key_usage)",
    )
    .fetch_one(&pool)
    .await
    .expect("sums");
    assert_eq!((totals, per_key), (10, 10));

    // Alice sees her one key and its traffic; Bob sees nothing of it.
    let alice = Actor {
        id: w.alice_id,
        role: Role::Owner,
    };
    let mine = dashboard.overview(alice, now).await.expect("overview");
    assert_eq!(mine.counts.active + mine.counts.revoked, 1);
    assert_eq!(mine.hours.last().map(|h| h.valid), Some(9));
    assert!(mine.expiring.is_empty());
    let bob = Actor {
        id: user_id(&pool, "bob@keys.test").await,
        role: Role::Owner,
    };
    let theirs = dashboard.overview(bob, now).await.expect("overview");
    assert_eq!(theirs.counts.active, 0);
    assert!(theirs.top.is_empty() && theirs.quotas.is_empty());
    assert_eq!(theirs.hours.iter().map(|h| h.valid).sum::<i64>(), 0);
}
