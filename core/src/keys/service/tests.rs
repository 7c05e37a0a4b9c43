//! The key operations against a real database: the events of a key's whole life, each
//! written with its change, and nothing written for a refused or no-op change.

use sqlx::PgPool;

use super::*;
use crate::events::Event;
use crate::identity::Role;
use crate::keys::KeyspaceService;
use crate::test_support::{events, hasher, head, kinds_after, trail, user};

async fn setup(pool: &PgPool) -> (KeyService, Actor, Actor, Uuid) {
    let admin = Actor::from(&user(pool, "admin@example.com", Role::Admin).await);
    let owner = Actor::from(&user(pool, "owner@example.com", Role::Owner).await);
    let keyspace = KeyspaceService::new(pool.clone(), hasher())
        .create(admin, "Payments", "pay", None, &Origin::default())
        .await
        .expect("keyspace");
    (
        KeyService::new(pool.clone(), hasher()),
        admin,
        owner,
        keyspace.id,
    )
}

fn named(name: &str, owner: Option<Uuid>) -> NewKeyInput {
    NewKeyInput {
        name: name.into(),
        owner_id: owner,
        ..NewKeyInput::default()
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_keys_whole_life_is_read_back_in_order_each_event_with_its_audit_row(pool: PgPool) {
    let (keys, admin, owner, keyspace) = setup(&pool).await;
    let origin = Origin::default();
    let start = head(&pool).await;

    let created = keys
        .create(admin, keyspace, named("billing", Some(owner.id)), &origin)
        .await
        .expect("created");
    let id = created.view.id;
    let patch = KeyPatchInput {
        name: Some("billing (eu)".into()),
        enabled: Some(false),
        ..KeyPatchInput::default()
    };
    keys.update(admin, id, patch, &origin)
        .await
        .expect("updated");
    let enable = KeyPatchInput {
        enabled: Some(true),
        ..KeyPatchInput::default()
    };
    keys.update(admin, id, enable, &origin)
        .await
        .expect("enabled");
    let rotated = keys
        .rotate(admin, id, Some(3600), &origin)
        .await
        .expect("rotated");
    let successor = rotated.new.view.id;
    keys.revoke(admin, successor, Some("leaked".into()), &origin)
        .await
        .expect("revoked");

    assert_eq!(
        kinds_after(&pool, start).await,
        [
            "key.created",
            "key.disabled",
            "key.updated",
            "key.enabled",
            "key.rotated",
            "key.created",
            "key.revoked",
        ]
    );
    let all = events(&pool).await;
    let mine: Vec<_> = all.iter().filter(|e| e.position > start).collect();
    assert!(mine.windows(2).all(|w| w[0].position < w[1].position));
    match &mine[2].event {
        Event::KeyUpdated { key, changed } => {
            assert_eq!((key.key_id, key.owner_id), (id, owner.id));
            assert_eq!(key.name, "billing (eu)");
            assert_eq!(changed, &["name"]);
        }
        other => panic!("{other:?}"),
    }
    match &mine[4].event {
        Event::KeyRotated {
            key, new_key_id, ..
        } => {
            assert_eq!((key.key_id, *new_key_id), (id, successor));
        }
        other => panic!("{other:?}"),
    }
    match &mine[6].event {
        Event::KeyRevoked { key, reason } => {
            assert_eq!(key.key_id, successor);
            assert_eq!(reason.as_deref(), Some("leaked"));
        }
        other => panic!("{other:?}"),
    }
    // Each event names the audit row its change wrote, in the same transaction.
    let rows = trail(&pool).await;
    for event in &mine {
        let row = rows
            .iter()
            .find(|r| Some(r.id) == event.audit_id)
            .expect("the event's audit row exists");
        assert_eq!(row.actor_id, Some(admin.id));
        let key = event.event.key().expect("a key event");
        assert_eq!(
            row.target_id.as_deref(),
            Some(key.key_id.to_string().as_str())
        );
    }
    // No event holds a secret or a digest.
    let text = serde_json::to_string(&all).expect("json");
    assert!(!text.contains(created.key.expose()));
    assert!(!text.contains(rotated.new.key.expose()));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_bulk_batch_writes_one_event_per_key_and_skips_what_did_not_change(pool: PgPool) {
    let (keys, admin, owner, keyspace) = setup(&pool).await;
    let origin = Origin::default();
    let batch = keys
        .create_batch(
            admin,
            keyspace,
            vec![named("a", Some(owner.id)), named("b", Some(owner.id))],
            &origin,
        )
        .await
        .expect("batch");
    let ids: Vec<Uuid> = batch.iter().map(|c| c.view.id).collect();
    let start = head(&pool).await;
    keys.change_batch(admin, ids.clone(), BulkChange::Disable, &origin)
        .await
        .expect("disabled");
    assert_eq!(
        kinds_after(&pool, start).await,
        ["key.disabled", "key.disabled"]
    );

    let start = head(&pool).await;
    keys.change_batch(admin, ids.clone(), BulkChange::Disable, &origin)
        .await
        .expect("no-op");
    assert!(
        kinds_after(&pool, start).await.is_empty(),
        "nothing changed"
    );

    keys.revoke(admin, ids[0], None, &origin)
        .await
        .expect("one");
    let start = head(&pool).await;
    keys.revoke_batch(admin, ids.clone(), Some("rotation".into()), &origin)
        .await
        .expect("bulk revoke");
    assert_eq!(
        kinds_after(&pool, start).await,
        ["key.revoked"],
        "a revoked key is not revoked again"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_refused_change_writes_neither_an_audit_row_nor_an_event(pool: PgPool) {
    let (keys, admin, owner, keyspace) = setup(&pool).await;
    let origin = Origin::default();
    let other = Actor::from(&user(&pool, "other@example.com", Role::Owner).await);
    let key = keys
        .create(admin, keyspace, named("mine", Some(owner.id)), &origin)
        .await
        .expect("created");
    let start = head(&pool).await;
    let rows = trail(&pool).await.len();

    // Another owner's key does not exist for them.
    let err = keys
        .revoke(other, key.view.id, None, &origin)
        .await
        .expect_err("not theirs");
    assert!(matches!(err, Error::NotFound), "{err:?}");
    // Owners may not raise their own limits by default.
    let raise = KeyPatchInput {
        quota: Some(Some(QuotaSpec {
            limit: 1_000_000_000,
            period: crate::keys::QuotaPeriod::Month,
        })),
        ..KeyPatchInput::default()
    };
    let err = keys
        .update(owner, key.view.id, raise, &origin)
        .await
        .expect_err("policy");
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    // Invalid input is refused before anything is written, naming the field.
    let err = keys
        .create(admin, keyspace, named("", None), &origin)
        .await
        .expect_err("invalid");
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "name"),
        "{err:?}"
    );
    // A no-op change is no change.
    let same = KeyPatchInput {
        name: Some("mine".into()),
        ..KeyPatchInput::default()
    };
    keys.update(owner, key.view.id, same, &origin)
        .await
        .expect("no-op");

    assert!(kinds_after(&pool, start).await.is_empty());
    assert_eq!(trail(&pool).await.len(), rows);
}
