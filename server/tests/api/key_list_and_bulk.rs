//! Bulk enable, disable and extend (all or nothing, audited, within the owner policy), the
//! portal's keys list (live keys by default, 24-hour traffic), and the first-run
//! checklist of a new installation.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, detail};
use crate::verify::{code, verifier};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

async fn bulk(w: &KeyWorld, token: &str, body: Value) -> (u16, Value) {
    w.app.post_json("/v1/keys/bulk", token, &body).await
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn bulk_changes_are_all_or_nothing_audited_and_within_policy(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let expiry = Utc::now() + Duration::days(10);
    let dated = w
        .key(&w.admin, json!({ "expires_at": expiry.to_rfc3339() }))
        .await;
    let open = w.key(&w.admin, json!({})).await;
    let gone = w.key(&w.admin, json!({})).await;
    assert_eq!(
        w.app
            .send_status(
                Method::POST,
                &format!("/v1/keys/{}/revoke", id(&gone)),
                &w.admin,
                &json!({})
            )
            .await,
        200
    );

    let (status, disabled) = bulk(
        &w,
        &w.admin,
        json!({ "action": "disable", "ids": [id(&dated), id(&open)] }),
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert!(
        disabled["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|k| k["status"] == "disabled")
    );

    let (status, extended) = bulk(
        &w,
        &w.admin,
        json!({ "action": "extend", "ids": [id(&dated), id(&open)], "days": 30 }),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    let moved = time(&extended["items"][0]["expires_at"]);
    assert!(
        (moved - (expiry + Duration::days(30))).num_seconds().abs() < 2,
        "{extended}"
    );
    assert!(
        extended["items"][1]["expires_at"].is_null(),
        "never stays never"
    );

    // An unknown id in the batch: nothing changes, and the item is named.
    let (status, refused) = bulk(
        &w,
        &w.admin,
        json!({ "action": "enable", "ids": [id(&dated), uuid::Uuid::new_v4()] }),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["index"], 1, "{refused}");
    let still = w
        .app
        .get_json(&format!("/v1/keys/{}", id(&dated)), &w.admin)
        .await;
    assert_eq!(still["status"], "disabled");
    // A revoked key cannot change: it is left as it is, the others change.
    let (status, mixed) = bulk(
        &w,
        &w.admin,
        json!({ "action": "enable", "ids": [id(&dated), id(&gone)] }),
    )
    .await;
    assert_eq!(status, 200, "{mixed}");
    assert_eq!(mixed["items"][0]["status"], "active");
    assert_eq!(mixed["items"][1]["status"], "revoked");
    let (status, body) = bulk(
        &w,
        &w.admin,
        json!({ "action": "extend", "ids": [id(&dated)], "days": 0 }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).starts_with("days:"));

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'key.bulk_%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        actions,
        ["key.bulk_update", "key.bulk_update", "key.bulk_update"]
    );

    // An owner whose limits an admin sets may switch keys off and on, not extend them.
    sqlx::query("UPDATE users SET may_change_limits = false WHERE id = $1")
        .bind(w.alice_id)
        .execute(&pool)
        .await
        .expect("policy");
    let mine = w.key(&w.alice, json!({})).await;
    let (status, _) = bulk(
        &w,
        &w.alice,
        json!({ "action": "disable", "ids": [id(&mine)] }),
    )
    .await;
    assert_eq!(status, 200);
    let res = w
        .app
        .with(Method::POST, "/v1/keys/bulk", &w.alice)
        .json(&json!({ "action": "extend", "ids": [id(&mine)], "days": 5 }))
        .send()
        .await
        .expect("sent");
    // Alice's key never expires, so extending changes nothing and is allowed; give it an
    // expiry through an admin first to see the refusal.
    assert_eq!(res.status(), 200);
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &format!("/v1/keys/{}", id(&mine)),
                &w.admin,
                &json!({ "expires_at": (Utc::now() + Duration::days(3)).to_rfc3339() })
            )
            .await,
        200
    );
    let p = w
        .app
        .refused(
            Method::POST,
            "/v1/keys/bulk",
            &w.alice,
            Some(&json!({ "action": "extend", "ids": [id(&mine)], "days": 5 })),
            403,
        )
        .await;
    assert!(detail(&p).starts_with("expires_at:"), "{p}");
    // Another owner's key is "no such key".
    let (status, body) = bulk(
        &w,
        &w.bob,
        json!({ "action": "disable", "ids": [id(&mine)] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["detail"], "ids: no such key");
}

async fn list_keys(w: &KeyWorld, client: &reqwest::Client, all: bool) -> Value {
    let mut form = vec![("filters[q]", "listed")];
    if all {
        form.push(("filters[all]", "true"));
    }
    let res = client
        .post(w.app.url("/api/list_keys"))
        .header("origin", w.app.url(""))
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_portal_list_shows_live_keys_with_their_traffic_unless_asked_for_all(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let live = w.key(&w.admin, json!({ "name": "listed live" })).await;
    let revoked = w.key(&w.admin, json!({ "name": "listed revoked" })).await;
    w.app
        .post_json(
            &format!("/v1/keys/{}/revoke", id(&revoked)),
            &w.admin,
            &json!({}),
        )
        .await;
    let expired = w.key(&w.admin, json!({ "name": "listed expired" })).await;
    w.app
        .send_json(
            Method::PATCH,
            &format!("/v1/keys/{}", id(&expired)),
            &w.admin,
            &json!({ "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    for _ in 0..3 {
        let secret = live["key"].as_str().expect("secret");
        assert_eq!(
            code(&w.app, &token, json!({ "key": secret })).await,
            "VALID"
        );
    }
    w.app.verify.flush().await.expect("usage written");

    let admin = w.app.portal_session("admin@keys.test").await;
    let page = list_keys(&w, &admin, false).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["name"], "listed live");
    assert_eq!(items[0]["verifications_24h"], 3);
    let all = list_keys(&w, &admin, true).await;
    assert_eq!(all["items"].as_array().expect("items").len(), 3, "{all}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_first_run_checklist_follows_the_installation(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let admin = w.app.portal_session("admin@keys.test").await;
    let owner = w.app.portal_session("alice@keys.test").await;
    let steps = |client: reqwest::Client| {
        let url = w.app.url("/api/dashboard");
        let origin = w.app.url("");
        async move {
            let res = client
                .post(url)
                .header("origin", origin)
                .header("accept", "application/json")
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.expect("json");
            body["setup"].clone()
        }
    };
    // The world has a keyspace already; nothing else.
    let done = |s: &Value| -> Vec<bool> {
        s.as_array()
            .expect("steps")
            .iter()
            .map(|step| step["done"] == true)
            .collect()
    };
    assert_eq!(
        done(&steps(admin.clone()).await),
        [true, false, false, false]
    );
    assert!(steps(owner.clone()).await.is_null(), "owners do not set up");
    let token = verifier(&w).await;
    let key = w.key(&w.admin, json!({})).await;
    assert_eq!(done(&steps(admin.clone()).await), [true, true, true, false]);
    let secret = key["key"].as_str().expect("secret");
    assert_eq!(
        code(&w.app, &token, json!({ "key": secret })).await,
        "VALID"
    );
    w.app.verify.flush().await.expect("usage written");
    assert!(
        steps(admin).await.is_null(),
        "every step done: the list goes away"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_whole_key_in_the_list_search_is_looked_up_not_matched(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let key = w.key(&w.alice, json!({ "name": "alice's" })).await;
    let secret = key["key"].as_str().expect("secret");
    let search = |client: reqwest::Client| {
        let url = w.app.url("/api/list_keys");
        let origin = w.app.url("");
        let secret = secret.to_owned();
        async move {
            let res = client
                .post(url)
                .header("origin", origin)
                .header("accept", "application/json")
                .form(&[("filters[q]", secret.as_str())])
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            let page: Value = res.json().await.expect("json");
            page["items"].as_array().expect("items").clone()
        }
    };
    let alice = w.app.portal_session("alice@keys.test").await;
    let bob = w.app.portal_session("bob@keys.test").await;
    let found = search(alice).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], key["id"]);
    assert!(
        search(bob).await.is_empty(),
        "another owner's key is not found"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn reviving_a_disabled_expired_key_needs_a_free_place(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    w.set_policy(json!({ "max_keys": 2 })).await;
    w.key(&w.alice, json!({ "name": "a" })).await;
    let b = w.key(&w.alice, json!({ "name": "b" })).await;
    let path = format!("/v1/keys/{}", id(&b));
    // B expires and is switched off: it no longer takes a place, so C fits.
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &path,
                &w.alice,
                &json!({ "expires_at": "2020-01-01T00:00:00Z", "enabled": false })
            )
            .await,
        200
    );
    w.key(&w.alice, json!({ "name": "c" })).await;
    // Bringing B back, still switched off, would make three: refused, one way or the other.
    let p = w
        .app
        .refused(
            Method::PATCH,
            &path,
            &w.alice,
            Some(&json!({ "expires_at": (Utc::now() + Duration::days(1)).to_rfc3339() })),
            403,
        )
        .await;
    assert!(detail(&p).starts_with("max_keys:"), "{p}");
    let p = w
        .app
        .refused(
            Method::POST,
            "/v1/keys/bulk",
            &w.alice,
            Some(&json!({ "action": "extend", "ids": [id(&b)], "days": 5 })),
            403,
        )
        .await;
    assert!(detail(&p).starts_with("max_keys:"), "{p}");
    // Switching an expired key on or off takes no place: never refused for want of one.
    let (status, _) = bulk(&w, &w.alice, json!({ "action": "enable", "ids": [id(&b)] })).await;
    assert_eq!(status, 200, "an expired key switched on is still expired");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_log_switched_off_shows_nothing_it_kept_before(pool: PgPool) {
    let w =
        KeyWorld::with_settings(pool.clone(), &[("LOCKSMITH_VERIFICATION_LOG_PER_KEY", "0")]).await;
    let key = w.key(&w.admin, json!({})).await;
    // A row an earlier setting kept.
    sqlx::query(
        "INSERT INTO verification_log (key_id, at, code, client_ip, verifier_id) \
         VALUES ($1, now(), 'VALID', '203.0.113.7', gen_random_uuid())",
    )
    .bind(uuid::Uuid::parse_str(&id(&key)).expect("uuid"))
    .execute(&pool)
    .await
    .expect("row");
    let log = w
        .app
        .get_json(&format!("/v1/keys/{}/verifications", id(&key)), &w.admin)
        .await;
    assert_eq!(log["items"], json!([]), "{log}");
    assert_eq!(log["counts"], json!({}));
}
