//! `locksmith backup` of a live installation under verification load, `locksmith restore`
//! elsewhere: keys verify as before, usage and quotas are intact, the chain verifies; and
//! what restore refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{KeyWorld, TEST_SECRETS, TestApp, server_url};
use crate::verify::{secret, verifier, verify};

async fn current_database(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("name")
}

/// A new, empty database beside the test's own; dropped by [`drop_database`].
async fn new_database(pool: &PgPool, suffix: &str) -> String {
    // Short and lower-case: PostgreSQL folds unquoted names and cuts them at 63 bytes.
    let name = format!(
        "locksmith_{suffix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(pool)
        .await
        .expect("created");
    name
}

async fn drop_database(pool: &PgPool, name: &str) {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(pool)
        .await
        .expect("dropped");
}

fn locksmith(database: &str, args: &[&str], extra: &[(&str, &str)]) -> (bool, String) {
    let url = format!("{}/{database}", server_url());
    let mut env: Vec<(&str, &str)> = vec![("DATABASE_URL", url.as_str())];
    env.extend_from_slice(&TEST_SECRETS);
    env.extend_from_slice(extra);
    let out = crate::process::run(args, &env, &[], "");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn quota_used(pool: &PgPool, key: &str) -> i64 {
    sqlx::query_scalar("SELECT quota_used FROM keys WHERE id = $1::uuid")
        .bind(key)
        .fetch_one(pool)
        .await
        .expect("quota used")
}

async fn usage(pool: &PgPool, key: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(valid), 0)::int8 FROM key_usage WHERE key_id = $1::uuid",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .expect("usage")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_live_installation_backed_up_under_load_restores_elsewhere_intact(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let mut plain = Vec::new();
    for i in 0..4 {
        plain.push(
            w.key(&w.admin, json!({ "name": format!("plain {i}") }))
                .await,
        );
    }
    let quota = w
        .key(
            &w.admin,
            json!({ "name": "metered", "quota": { "limit": 1000, "period": "month" } }),
        )
        .await;
    let revoked = w.key(&w.admin, json!({ "name": "gone" })).await;
    w.revoke(&revoked).await;
    for _ in 0..10 {
        let (_, answer) = verify(&w.app, &token, &json!({ "key": secret(&quota) })).await;
        assert_eq!(answer["code"], "VALID");
    }
    w.app.verify.flush().await.expect("usage written");
    let quota_id = quota["id"].as_str().expect("id").to_owned();
    let quota_used_before = quota_used(&pool, &quota_id).await;
    assert_eq!(usage(&pool, &quota_id).await, 10);

    // Verifications keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, app, token) = (Arc::clone(&stop), w.app.url(""), token.clone());
        let keys: Vec<String> = plain.iter().map(secret).collect();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut sent = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                for key in &keys {
                    let res = client
                        .post(format!("{app}/v1/verify"))
                        .bearer_auth(&token)
                        .json(&json!({ "key": key }))
                        .send()
                        .await
                        .expect("sent");
                    assert_eq!(res.status(), 200);
                    sent += 1;
                }
            }
            sent
        })
    };
    let source = current_database(&pool).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backup_dir = dir.path().join("backup");
    let backup_arg = backup_dir.display().to_string();
    let (ok, out) = tokio::task::spawn_blocking({
        let source = source.clone();
        let arg = backup_arg.clone();
        move || locksmith(&source, &["backup", "--to", &arg], &[])
    })
    .await
    .expect("ran");
    stop.store(true, Ordering::Relaxed);
    let sent = load.await.expect("load ran");
    assert!(ok, "{out}");
    assert!(out.contains("backup written to"), "{out}");
    assert!(sent > 0, "verifications ran during the backup");
    let pepper = std::fs::read_to_string(backup_dir.join("secrets/key_pepper")).expect("pepper");
    assert_eq!(pepper, TEST_SECRETS[2].1, "the pepper is in the backup");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(backup_dir.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert!(manifest["files"]["database.dump"]["sha256"].is_string());
    let live_usage: Vec<i64> = {
        let mut sums = Vec::new();
        for key in &plain {
            sums.push(usage(&pool, key["id"].as_str().expect("id")).await);
        }
        sums
    };

    // Restored into another database, it is the same installation.
    let target = new_database(&pool, "restored").await;
    let (ok, out) = tokio::task::spawn_blocking({
        let (target, arg) = (target.clone(), backup_arg.clone());
        move || locksmith(&target, &["restore", "--from", &arg], &[])
    })
    .await
    .expect("ran");
    assert!(ok, "{out}");
    assert!(out.contains("audit chain intact"), "{out}");
    let restored = sqlx::PgPool::connect(&format!("{}/{target}", server_url()))
        .await
        .expect("restored database");
    assert_eq!(quota_used(&restored, &quota_id).await, quota_used_before);
    assert_eq!(usage(&restored, &quota_id).await, 10, "usage is intact");
    for (key, live) in plain.iter().zip(&live_usage) {
        let kept = usage(&restored, key["id"].as_str().expect("id")).await;
        assert!(
            kept <= *live,
            "no usage from after the backup: {kept} > {live}"
        );
    }
    let app = TestApp::spawn(restored.clone()).await;
    let admin = app.bearer("admin@keys.test").await;
    let (status, created) = app
        .post_json(
            &format!("/v1/keyspaces/{}/verifiers", w.keyspace),
            &admin,
            &json!({ "name": "after restore" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    for key in &plain {
        let (_, answer) = verify(&app, &token, &json!({ "key": secret(key) })).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
    }
    let (_, answer) = verify(&app, &token, &json!({ "key": secret(&revoked) })).await;
    assert_eq!(answer["code"], "REVOKED");
    let (_, answer) = verify(&app, &token, &json!({ "key": secret(&quota) })).await;
    assert_eq!(answer["code"], "VALID");
    assert_eq!(answer["quota"]["remaining"], 1000 - quota_used_before - 1);
    app.shutdown().await;
    restored.close().await;
    let (ok, out) = tokio::task::spawn_blocking({
        let target = target.clone();
        move || locksmith(&target, &["audit", "verify"], &[])
    })
    .await
    .expect("ran");
    assert!(ok && out.contains("audit chain intact"), "{out}");

    // Never over an installation.
    let (ok, out) = locksmith(&target, &["restore", "--from", &backup_arg], &[]);
    assert!(!ok && out.contains("not empty"), "{out}");
    drop_database(&pool, &target).await;

    // Nor with another pepper (no key would verify), nor from a damaged backup.
    let empty = new_database(&pool, "empty").await;
    let other_pepper = [(
        "LOCKSMITH_KEY_PEPPER",
        "another-pepper-0123456789abcdefghijkl",
    )];
    let (ok, out) = locksmith(&empty, &["restore", "--from", &backup_arg], &other_pepper);
    assert!(
        !ok && out.contains("LOCKSMITH_KEY_PEPPER is not the backed-up one"),
        "{out}"
    );
    let mut dump = std::fs::OpenOptions::new()
        .append(true)
        .open(backup_dir.join("database.dump"))
        .expect("dump");
    std::io::Write::write_all(&mut dump, b"x").expect("damaged");
    let (ok, out) = locksmith(&empty, &["restore", "--from", &backup_arg], &[]);
    assert!(!ok && out.contains("does not match the manifest"), "{out}");
    let tables: i64 = {
        let empty_pool = sqlx::PgPool::connect(&format!("{}/{empty}", server_url()))
            .await
            .expect("connects");
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        )
        .fetch_one(&empty_pool)
        .await
        .expect("count");
        empty_pool.close().await;
        n
    };
    assert_eq!(tables, 0, "a refused restore changes nothing");
    drop_database(&pool, &empty).await;
}

/// A backup carries the installation's secrets, never new ones: run where the data dir
/// holds no generated pepper and none is configured, it refuses instead of inventing one.
#[test]
fn a_backup_without_the_installations_pepper_is_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    let to = data.path().join("backup");
    let out = crate::process::run(
        &["backup", "--to", to.to_str().expect("utf-8")],
        &[("LOCKSMITH_DATA_DIR", data.path().to_str().expect("utf-8"))],
        &[
            "LOCKSMITH_KEY_PEPPER",
            "LOCKSMITH_JWT_SECRET",
            "LOCKSMITH_SESSION_SECRET",
        ],
        "",
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("no key_pepper in"), "{said}");
    assert!(
        !data.path().join("secrets/key_pepper").exists(),
        "no pepper was generated"
    );
}
