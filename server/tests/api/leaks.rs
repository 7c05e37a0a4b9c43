//! Leak intake: GitHub secret scanning's signed alerts and leak-reporter tokens, with a
//! key pair made by the test standing in for GitHub's.

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, TestApp, problem};

const KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";

fn signing_key() -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
            return key;
        }
    }
}

/// GitHub's key list format, with `keys` as (identifier, key).
fn published(keys: &[(&str, &SigningKey)]) -> String {
    let entries: Vec<Value> = keys
        .iter()
        .map(|(id, key)| {
            json!({
                "key_identifier": id,
                "key": key.verifying_key().to_public_key_pem(LineEnding::LF).expect("pem"),
                "is_current": true,
            })
        })
        .collect();
    json!({ "public_keys": entries }).to_string()
}

fn signature(key: &SigningKey, body: &[u8]) -> String {
    let signed: Signature = key.sign(body);
    base64::engine::general_purpose::STANDARD.encode(signed.to_der().as_bytes())
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends `body` to `/v1/leaks/github` signed by `key` under identifier `id`.
async fn alert(app: &TestApp, id: &str, signature: &str, body: &[u8]) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/v1/leaks/github"))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", id)
        .header("Github-Public-Key-Signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("request sent")
}

/// A keyspace of the world's admin with `leak_action`, and a key of Alice in it.
async fn key_under(world: &KeyWorld, prefix: &str, leak_action: &str) -> Value {
    let (status, keyspace) = world
        .app
        .post_json(
            "/v1/keyspaces",
            &world.admin,
            &json!({ "name": format!("Leaky {prefix}"), "prefix": prefix }),
        )
        .await;
    assert_eq!(status, 201, "{keyspace}");
    let id = keyspace["id"].as_str().expect("id");
    let (status, changed) = world
        .app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/v1/keyspaces/{id}"),
            &world.admin,
            &json!({ "leak_action": leak_action }),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["leak_action"], leak_action);
    let (status, key) = world
        .app
        .post_json(
            "/v1/keys",
            &world.alice,
            &json!({ "keyspace_id": id, "name": format!("{leak_action} key") }),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    key
}

async fn findings_of(world: &KeyWorld, key: &Value) -> Vec<Value> {
    let page = world
        .app
        .get_json(
            &format!(
                "/v1/findings?status=all&key_id={}",
                key["id"].as_str().expect("id")
            ),
            &world.admin,
        )
        .await;
    page["items"].as_array().expect("items").clone()
}

async fn status_of(world: &KeyWorld, key: &Value) -> Value {
    world
        .app
        .get_json(
            &format!("/v1/keys/{}", key["id"].as_str().expect("id")),
            &world.admin,
        )
        .await
}

async fn event_types(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT type FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("events")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn github_alerts_are_verified_labelled_and_contained_per_policy(pool: PgPool) {
    let github = signing_key();
    let dir = tempfile::tempdir().expect("dir");
    let keys_file = dir.path().join("github-keys.json");
    std::fs::write(&keys_file, published(&[(KEY_ID, &github)])).expect("keys written");
    let world = KeyWorld::with_settings(
        pool.clone(),
        &[(
            "LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS",
            keys_file.to_str().expect("path"),
        )],
    )
    .await;
    let notified = world.key(&world.alice, json!({ "name": "notified" })).await;
    let disabled = key_under(&world, "dis", "disable").await;
    let revoked = key_under(&world, "rev", "revoke").await;
    let secret = |key: &Value| key["key"].as_str().expect("secret").to_owned();
    // A look-alike: the right shape, a wrong checksum.
    let mut lookalike = secret(&notified);
    let last = lookalike.pop().expect("char");
    lookalike.push(if last == 'A' { 'B' } else { 'A' });
    // A well-formed key this installation never issued.
    let unknown = locksmith_core::keys::format::generate("pay")
        .expose()
        .to_owned();
    let matches = [
        secret(&notified),
        secret(&disabled),
        secret(&revoked),
        lookalike,
        unknown,
    ];
    let url = "https://github.com/octo/app/blob/abc123/.env";
    let body = serde_json::to_vec(
        &matches
            .iter()
            .map(|t| json!({ "token": t, "type": "locksmith_api_key", "url": url, "source": "content" }))
            .collect::<Vec<_>>(),
    )
    .expect("body");

    let res = alert(&world.app, KEY_ID, &signature(&github, &body), &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let answer: Value = res.json().await.expect("JSON");
    let answer = answer.as_array().expect("array");
    assert_eq!(answer.len(), 5);
    for (verdict, token) in answer.iter().zip(&matches) {
        assert_eq!(verdict["token_hash"], sha256(token));
        assert_eq!(verdict["token_type"], "locksmith_api_key");
        assert_eq!(
            verdict.as_object().map(|o| o.len()),
            Some(3),
            "nothing beyond the label: {verdict}"
        );
    }
    let labels: Vec<&str> = answer
        .iter()
        .map(|v| v["label"].as_str().expect("label"))
        .collect();
    assert_eq!(
        labels,
        [
            "true_positive",
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive"
        ]
    );

    // Each keyspace's policy.
    assert_eq!(status_of(&world, &notified).await["status"], "active");
    assert_eq!(status_of(&world, &disabled).await["status"], "disabled");
    let gone = status_of(&world, &revoked).await;
    assert_eq!(gone["status"], "revoked");
    assert!(
        gone["revoked_reason"].as_str().is_some_and(
            |r| r.starts_with("leaked: reported by github at https://github.com/octo/app")
        ),
        "{gone}"
    );
    for (key, action) in [
        (&notified, "none"),
        (&disabled, "disabled"),
        (&revoked, "revoked"),
    ] {
        let findings = findings_of(&world, key).await;
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(f["kind"], "leaked");
        assert_eq!(f["severity"], "high");
        assert_eq!(f["action"], action);
        assert_eq!(f["evidence"]["url"], url);
        assert_eq!(f["evidence"]["reported_by"], "github");
        assert!(f["acknowledged_at"].is_null());
    }

    // Audited and announced, without the secrets.
    let trail = world
        .app
        .get_json("/v1/audit?action=key.leak_report", &world.admin)
        .await;
    assert_eq!(trail["items"].as_array().map(Vec::len), Some(3), "{trail}");
    let everything = sqlx::query_scalar::<_, String>(
        "SELECT coalesce(string_agg(after::text, ' '), '') FROM audit_log",
    )
    .fetch_one(&pool)
    .await
    .expect("trail");
    let events = sqlx::query_scalar::<_, String>(
        "SELECT coalesce(string_agg(data::text, ' '), '') FROM events",
    )
    .fetch_one(&pool)
    .await
    .expect("events");
    for token in &matches {
        assert!(
            !everything.contains(token.as_str()),
            "a reported string in the trail"
        );
        assert!(
            !events.contains(token.as_str()),
            "a reported string in an event"
        );
    }
    let types = event_types(&pool).await;
    assert_eq!(
        types.iter().filter(|t| *t == "key.leaked").count(),
        3,
        "{types:?}"
    );
    assert!(types.contains(&"key.disabled".to_owned()));
    assert!(types.contains(&"key.revoked".to_owned()));

    // GitHub delivers again: the same answer, nothing recorded twice.
    let again = alert(&world.app, KEY_ID, &signature(&github, &body), &body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("JSON");
    let again_labels: Vec<&str> = again
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["label"].as_str().expect("label"))
        .collect();
    assert_eq!(again_labels, labels);
    assert_eq!(findings_of(&world, &notified).await.len(), 1);
    let types_after = event_types(&pool).await;
    assert_eq!(
        types_after.iter().filter(|t| *t == "key.leaked").count(),
        3,
        "no new event for a known leak"
    );

    // Refused before anything is read: a forged signature, a signature over other
    // bytes, an unknown key identifier, missing headers, an oversized body.
    let forger = signing_key();
    let forged = alert(&world.app, KEY_ID, &signature(&forger, &body), &body).await;
    assert_eq!(problem(forged, 401).await["code"], "invalid_signature");
    let other_bytes = alert(&world.app, KEY_ID, &signature(&github, b"[]"), &body).await;
    assert_eq!(problem(other_bytes, 401).await["code"], "invalid_signature");
    let unknown_id = alert(
        &world.app,
        "not-a-github-key",
        &signature(&github, &body),
        &body,
    )
    .await;
    let unknown_id = problem(unknown_id, 401).await;
    assert_eq!(unknown_id["code"], "invalid_signature");
    assert!(
        unknown_id["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Identifier")),
        "{unknown_id}"
    );
    let unsigned = reqwest::Client::new()
        .post(world.app.url("/v1/leaks/github"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    problem(unsigned, 401).await;
    let garbage_signature = alert(&world.app, KEY_ID, "not base64!", &body).await;
    problem(garbage_signature, 401).await;
    let huge = vec![b' '; 70 * 1024];
    let oversized = alert(&world.app, KEY_ID, &signature(&github, &huge), &huge).await;
    assert_eq!(oversized.status(), 413);
    // A signed body that is not GitHub's format.
    let odd = br#"{"token": "x"}"#;
    let odd = alert(&world.app, KEY_ID, &signature(&github, odd), odd).await;
    problem(odd, 400).await;
    assert_eq!(
        event_types(&pool).await.len(),
        types_after.len(),
        "refused alerts change nothing"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn github_keys_come_from_a_url_read_once_and_the_endpoint_is_off_without_them(pool: PgPool) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let github = signing_key();
    let keys = published(&[(KEY_ID, &github)]);
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reads);
    let router = axum::Router::new().route(
        "/meta/public_keys/secret_scanning",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let keys = keys.clone();
            async move { ([("content-type", "application/json")], keys) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let at = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let source = format!("http://{at}/meta/public_keys/secret_scanning");
    let world = KeyWorld::with_settings(
        pool.clone(),
        &[("LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS", &source)],
    )
    .await;
    let key = world.key(&world.alice, json!({})).await;
    for _ in 0..3 {
        let body = serde_json::to_vec(
            &json!([{ "token": key["key"], "type": "t", "url": null, "source": "commit" }]),
        )
        .expect("body");
        let res = alert(&world.app, KEY_ID, &signature(&github, &body), &body).await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.expect("JSON");
        assert_eq!(answer[0]["label"], "true_positive");
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the keys are read once and kept"
    );
    assert_eq!(
        findings_of(&world, &key).await.len(),
        1,
        "one report without URL"
    );

    // Without the setting, there is no GitHub endpoint here.
    let plain = TestApp::spawn(pool).await;
    let body = b"[]";
    let res = alert(&plain, KEY_ID, &signature(&github, body), body).await;
    assert_eq!(problem(res, 404).await["code"], "not_configured");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn leak_reporters_report_with_their_token(pool: PgPool) {
    let world = KeyWorld::new(pool.clone()).await;
    let key = world.key(&world.alice, json!({})).await;
    let (status, refused) = world
        .app
        .post_json(
            "/v1/leak-reporters",
            &world.auditor,
            &json!({ "name": "scanner" }),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    let (status, reporter) = world
        .app
        .post_json(
            "/v1/leak-reporters",
            &world.admin,
            &json!({ "name": "trufflehog" }),
        )
        .await;
    assert_eq!(status, 201, "{reporter}");
    let token = reporter["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("lsl_"), "{token}");
    let listed = world
        .app
        .get_json("/v1/leak-reporters", &world.auditor)
        .await;
    assert_eq!(listed[0]["name"], "trufflehog");
    assert!(listed[0].get("token").is_none(), "the token is shown once");

    let report = json!({ "items": [
        { "key": key["key"], "url": "https://pastebin.example/x", "source": "paste" },
        { "key": "pay_not-a-key" },
    ] });
    let (status, answer) = world.app.post_json("/v1/leaks", &token, &report).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["items"][0]["label"], "true_positive");
    assert_eq!(answer["items"][1]["label"], "false_positive");
    let findings = findings_of(&world, &key).await;
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0]["evidence"]["reported_by"],
        "reporter:trufflehog"
    );
    assert_eq!(findings[0]["action"], "none", "the default policy notifies");

    // Bad input: no items, too many, an empty key; another credential; a revoked token.
    for (body, field) in [
        (json!({ "items": [] }), "items"),
        (
            json!({ "items": vec![json!({ "key": "x" }); 101] }),
            "items",
        ),
        (json!({ "items": [{ "key": "" }] }), "items[0].key"),
        (
            json!({ "items": [{ "key": "x", "url": "u".repeat(2001) }] }),
            "items[0].url",
        ),
    ] {
        let problem = world
            .app
            .refused(reqwest::Method::POST, "/v1/leaks", &token, Some(&body), 400)
            .await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(field)),
            "{problem}"
        );
    }
    world
        .app
        .refused(
            reqwest::Method::POST,
            "/v1/leaks",
            &world.admin,
            Some(&report),
            401,
        )
        .await;
    let id = reporter["id"].as_str().expect("id");
    assert_eq!(
        world
            .app
            .status(
                reqwest::Method::DELETE,
                &format!("/v1/leak-reporters/{id}"),
                &world.admin
            )
            .await,
        204
    );
    world
        .app
        .refused(
            reqwest::Method::POST,
            "/v1/leaks",
            &token,
            Some(&report),
            401,
        )
        .await;
    let trail = world
        .app
        .get_json("/v1/audit?action=leak_reporter.revoke", &world.admin)
        .await;
    assert_eq!(trail["items"].as_array().map(Vec::len), Some(1));

    // The owner acknowledges the finding; an auditor may not, another owner sees nothing.
    let finding = findings[0]["id"].as_str().expect("id");
    let path = format!("/v1/findings/{finding}/acknowledge");
    world
        .app
        .refused(reqwest::Method::POST, &path, &world.auditor, None, 403)
        .await;
    world
        .app
        .refused(reqwest::Method::POST, &path, &world.bob, None, 404)
        .await;
    let bobs = world
        .app
        .get_json("/v1/findings?status=all", &world.bob)
        .await;
    assert_eq!(bobs["items"].as_array().map(Vec::len), Some(0));
    let summary = world
        .app
        .get_json("/v1/findings/summary", &world.alice)
        .await;
    assert_eq!(summary["high"], 1);
    let (status, acknowledged) = world.app.post_json(&path, &world.alice, &json!({})).await;
    assert_eq!(status, 200, "{acknowledged}");
    assert!(acknowledged["acknowledged_at"].is_string());
    assert_eq!(acknowledged["acknowledged_by"], world.alice_id.to_string());
    let open = world.app.get_json("/v1/findings", &world.admin).await;
    assert_eq!(
        open["items"].as_array().map(Vec::len),
        Some(0),
        "nothing open"
    );
    let types = event_types(&pool).await;
    assert!(
        types.contains(&"key.finding_acknowledged".to_owned()),
        "{types:?}"
    );
    assert!(
        types.contains(&"leak_reporter.issued".to_owned()),
        "{types:?}"
    );
}
