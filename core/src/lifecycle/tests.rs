//! Reminders against a real database, with the clock moved by hand.

use chrono::{Duration as Days, Utc};
use sqlx::PgPool;

use super::*;
use crate::audit::Origin;
use crate::events::RecordedEvent;
use crate::identity::{Actor, Role};
use crate::keys::{KeyPatchInput, KeyService, KeyspaceService, NewKeyInput};
use crate::test_support::{events, hasher, head, user};

async fn setup(pool: &PgPool) -> (KeyService, Actor, Uuid) {
    let admin = Actor::from(&user(pool, "admin@example.com", Role::Admin).await);
    let keyspace = KeyspaceService::new(pool.clone(), hasher())
        .create(admin, "Payments", "pay", None, &Origin::default())
        .await
        .expect("keyspace");
    (KeyService::new(pool.clone(), hasher()), admin, keyspace.id)
}

use uuid::Uuid;

async fn key(keys: &KeyService, admin: Actor, keyspace: Uuid, input: NewKeyInput) -> Uuid {
    keys.create(admin, keyspace, input, &Origin::default())
        .await
        .expect("created")
        .view
        .id
}

async fn after(pool: &PgPool, position: i64) -> Vec<RecordedEvent> {
    events(pool)
        .await
        .into_iter()
        .filter(|e| e.position > position)
        .collect()
}

fn lifecycle(pool: &PgPool) -> Lifecycle {
    Lifecycle::new(pool.clone(), &DEFAULT_EXPIRY_REMINDERS)
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_expiry_is_announced_once_per_threshold_by_any_number_of_instances(pool: PgPool) {
    let (keys, admin, keyspace) = setup(&pool).await;
    let now = Utc::now();
    let id = key(
        &keys,
        admin,
        keyspace,
        NewKeyInput {
            name: "ci".into(),
            expires_at: Some(now + Days::days(10)),
            ..NewKeyInput::default()
        },
    )
    .await;
    let revoked = key(
        &keys,
        admin,
        keyspace,
        NewKeyInput {
            name: "old".into(),
            expires_at: Some(now + Days::days(10)),
            ..NewKeyInput::default()
        },
    )
    .await;
    keys.revoke(admin, revoked, None, &Origin::default())
        .await
        .expect("revoked");
    let start = head(&pool).await;
    assert_eq!(lifecycle(&pool).check(now).await.expect("check"), 0);

    // Inside 7 days: two instances look at once; one reminder.
    let at = now + Days::days(3) + Days::minutes(1);
    let (one, two) = (lifecycle(&pool), lifecycle(&pool));
    let (a, b) = tokio::join!(one.check(at), two.check(at));
    assert_eq!(a.expect("a") + b.expect("b"), 1);
    let seen = after(&pool, start).await;
    assert_eq!(seen.len(), 1, "the revoked key gets no reminder");
    match &seen[0].event {
        Event::KeyExpiring {
            key,
            threshold_seconds,
            expires_at,
        } => {
            assert_eq!(key.key_id, id);
            assert_eq!(*threshold_seconds, 7 * 86_400);
            assert!(
                (*expires_at - (now + Days::days(10)))
                    .num_milliseconds()
                    .abs()
                    < 1
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen[0].audit_id, None, "no change caused it");
    // A restart (a new watcher) finds nothing new.
    assert_eq!(
        lifecycle(&pool)
            .check(at + Days::minutes(1))
            .await
            .expect("check"),
        0
    );

    // Inside a day: the second threshold, once.
    let at = now + Days::days(9) + Days::minutes(1);
    assert_eq!(lifecycle(&pool).check(at).await.expect("check"), 1);
    assert_eq!(lifecycle(&pool).check(at).await.expect("check"), 0);

    // A moved expiry re-arms it: ten more days, and the 7-day reminder comes again.
    let moved = KeyPatchInput {
        expires_at: Some(Some(now + Days::days(20))),
        ..KeyPatchInput::default()
    };
    keys.update(admin, id, moved, &Origin::default())
        .await
        .expect("moved");
    let mark = head(&pool).await;
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::days(13) + Days::minutes(1))
            .await
            .expect("check"),
        1
    );
    assert!(matches!(
        after(&pool, mark).await[0].event,
        Event::KeyExpiring {
            threshold_seconds: 604_800,
            ..
        }
    ));

    // Past the expiry: key.expired, once.
    let mark = head(&pool).await;
    let past = now + Days::days(20) + Days::minutes(1);
    assert_eq!(lifecycle(&pool).check(past).await.expect("check"), 1);
    assert_eq!(lifecycle(&pool).check(past).await.expect("check"), 0);
    assert_eq!(after(&pool, mark).await[0].event.kind(), "key.expired");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_key_created_inside_a_threshold_is_reminded_only_of_the_nearer_ones(pool: PgPool) {
    let (keys, admin, keyspace) = setup(&pool).await;
    let now = Utc::now();
    key(
        &keys,
        admin,
        keyspace,
        NewKeyInput {
            name: "short".into(),
            expires_at: Some(now + Days::days(3)),
            ..NewKeyInput::default()
        },
    )
    .await;
    let start = head(&pool).await;
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::minutes(1))
            .await
            .expect("check"),
        0
    );
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::days(2) + Days::minutes(1))
            .await
            .expect("check"),
        1
    );
    assert!(matches!(
        after(&pool, start).await[0].event,
        Event::KeyExpiring {
            threshold_seconds: 86_400,
            ..
        }
    ));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_grace_ending_is_announced_only_when_the_old_key_is_still_used(pool: PgPool) {
    let (keys, admin, keyspace) = setup(&pool).await;
    let now = Utc::now();
    let id = key(
        &keys,
        admin,
        keyspace,
        NewKeyInput {
            name: "svc".into(),
            ..NewKeyInput::default()
        },
    )
    .await;
    keys.rotate(admin, id, Some(12 * 3600), &Origin::default())
        .await
        .expect("rotated");
    let start = head(&pool).await;
    assert_eq!(
        lifecycle(&pool).check(now).await.expect("check"),
        0,
        "unused: nothing to say"
    );
    let used = now + Days::minutes(5);
    sqlx::query("UPDATE keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(used)
        .execute(&pool)
        .await
        .expect("used");
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::minutes(6))
            .await
            .expect("check"),
        1
    );
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::minutes(7))
            .await
            .expect("check"),
        0
    );
    match &after(&pool, start).await[0].event {
        Event::KeyGraceEnding {
            key, last_used_at, ..
        } => {
            assert_eq!(key.key_id, id);
            assert!((*last_used_at - used).num_milliseconds().abs() < 1);
        }
        other => panic!("{other:?}"),
    }
    // At the end of the grace the old key has expired.
    let mark = head(&pool).await;
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::hours(13))
            .await
            .expect("check"),
        1
    );
    assert_eq!(after(&pool, mark).await[0].event.kind(), "key.expired");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn quota_thresholds_are_announced_once_per_period_each(pool: PgPool) {
    let (keys, admin, keyspace) = setup(&pool).await;
    let now = Utc::now();
    let id = key(
        &keys,
        admin,
        keyspace,
        NewKeyInput {
            name: "metered".into(),
            quota: Some(crate::keys::QuotaSpec {
                limit: 10,
                period: crate::keys::QuotaPeriod::Day,
            }),
            ..NewKeyInput::default()
        },
    )
    .await;
    let spend = |used: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE keys SET quota_used = $2, quota_period_start = date_trunc('day', now(), 'UTC') WHERE id = $1")
                .bind(id)
                .bind(used)
                .execute(&pool)
                .await
                .expect("spent");
        }
    };
    let start = head(&pool).await;
    spend(7).await;
    assert_eq!(lifecycle(&pool).check(now).await.expect("check"), 0);
    spend(8).await;
    assert_eq!(lifecycle(&pool).check(now).await.expect("check"), 1);
    assert_eq!(lifecycle(&pool).check(now).await.expect("check"), 0);
    spend(10).await;
    assert_eq!(lifecycle(&pool).check(now).await.expect("check"), 1);
    let seen = after(&pool, start).await;
    let percents: Vec<u8> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Event::KeyQuotaThreshold {
                percent,
                limit,
                resets_at,
                ..
            } => {
                assert_eq!(*limit, 10);
                assert!(resets_at.is_some());
                Some(*percent)
            }
            _ => None,
        })
        .collect();
    assert_eq!(percents, [80, 100]);
    // The next day is another period, and nothing was spent in it yet.
    assert_eq!(
        lifecycle(&pool)
            .check(now + Days::days(1))
            .await
            .expect("check"),
        0
    );
}
