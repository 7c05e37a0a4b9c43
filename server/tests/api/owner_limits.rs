//! The owner policy's key limits (an owner cannot set or raise their keys' quota, rate
//! limit or expiry unless an admin lets them, and then only within the maxima), keys over
//! a newer policy flagged but working, a rotation's grace that keeps the old key's own
//! expiry and is ended or extended as its own audited actions, a whole key looked up by
//! POST, and the keyspaces page's sample call run as shown.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, detail};
use crate::verify::{code, verifier};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {v}"))
}

fn near(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_seconds().abs() <= 60
}

async fn refused(w: &KeyWorld, method: Method, path: &str, token: &str, body: Value) -> String {
    let p = w.app.refused(method, path, token, Some(&body), 403).await;
    p["detail"].as_str().expect("detail").to_owned()
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_owner_cannot_set_or_raise_their_keys_limits_by_default(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    // A new user may not change their keys' limits unless an admin says so.
    let (status, carol) = w
        .app
        .post_json(
            "/v1/users",
            &w.admin,
            &json!({ "email": "carol@keys.test", "password": "a long enough passphrase",
                     "role": "owner" }),
        )
        .await;
    assert_eq!(status, 201, "{carol}");
    assert_eq!(carol["may_change_limits"], false, "{carol}");
    assert!(carol["max_quota"].is_null() && carol["max_key_lifetime_seconds"].is_null());
    // The cast's alice may (see `KeyWorld`): set her back to the default.
    w.set_policy(json!({ "may_change_limits": false })).await;

    // Creating with a limit is refused, naming the field.
    for (field, value) in [
        (
            "quota",
            json!({ "limit": 1_000_000_000, "period": "month" }),
        ),
        ("rate_limit", json!({ "limit": 1000, "window_seconds": 1 })),
        ("expires_at", json!("2099-01-01T00:00:00Z")),
    ] {
        let mut body = json!({ "keyspace_id": w.keyspace, "name": "mine" });
        body[field] = value;
        let detail = refused(&w, Method::POST, "/v1/keys", &w.alice, body).await;
        assert!(
            detail.starts_with(&format!("{field}: your policy does not let you")),
            "{detail}"
        );
    }

    // Without limits the key is created; an admin then sets a quota on it.
    let key = w.key(&w.alice, json!({})).await;
    let path = format!("/v1/keys/{}", key["id"].as_str().expect("id"));
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &path,
                &w.admin,
                &json!({ "quota": { "limit": 1000, "period": "month" } })
            )
            .await,
        200
    );

    // The owner cannot raise it (the probe's 1 000 000 000 a month), remove it or set an
    // expiry...
    for body in [
        json!({ "quota": { "limit": 1_000_000_000, "period": "month" } }),
        json!({ "quota": null }),
        json!({ "rate_limit": { "limit": 5, "window_seconds": 60 } }),
        json!({ "expires_at": "2099-01-01T00:00:00Z" }),
    ] {
        let detail = refused(&w, Method::PATCH, &path, &w.alice, body.clone()).await;
        let field = body
            .as_object()
            .and_then(|o| o.keys().next())
            .expect("field");
        assert!(detail.starts_with(&format!("{field}:")), "{body}: {detail}");
    }
    // ...but may still rename it, sending the limits it has unchanged (as a form does).
    let (status, renamed) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "name": "renamed", "quota": { "limit": 1000, "period": "month" },
                     "rate_limit": null, "expires_at": null }),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["quota"]["limit"], 1000);
    assert_eq!(renamed["outside_policy"], json!([]));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_owner_allowed_to_change_limits_stays_within_the_maxima(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let user = w
        .set_policy(json!({
            "may_change_limits": true,
            "max_quota": { "limit": 1000, "period": "month" },
            "max_rate_limit": { "limit": 100, "window_seconds": 60 },
            "max_key_lifetime_seconds": 30 * 86_400,
        }))
        .await;
    assert_eq!(
        user["max_quota"],
        json!({ "limit": 1000, "period": "month" })
    );
    assert_eq!(user["max_key_lifetime_seconds"], 30 * 86_400);

    // A key that asks for nothing gets the maxima.
    let key = w.key(&w.alice, json!({})).await;
    assert_eq!(key["quota"]["limit"], 1000, "{key}");
    assert_eq!(key["quota"]["period"], "month");
    assert_eq!(
        key["rate_limit"],
        json!({ "limit": 100, "window_seconds": 60 })
    );
    assert!(
        near(time(&key["expires_at"]), Utc::now() + Duration::days(30)),
        "{key}"
    );

    let create = |field: &str, value: Value| {
        let mut body = json!({ "keyspace_id": w.keyspace, "name": "mine" });
        body[field] = value;
        body
    };
    let over_quota = refused(
        &w,
        Method::POST,
        "/v1/keys",
        &w.alice,
        create("quota", json!({ "limit": 1001, "period": "month" })),
    )
    .await;
    assert_eq!(
        over_quota,
        "quota: your policy allows a quota of at most 1000 a month"
    );
    let other_period = refused(
        &w,
        Method::POST,
        "/v1/keys",
        &w.alice,
        create("quota", json!({ "limit": 10, "period": "total" })),
    )
    .await;
    assert!(other_period.starts_with("quota:"), "{other_period}");
    let faster = refused(
        &w,
        Method::POST,
        "/v1/keys",
        &w.alice,
        create("rate_limit", json!({ "limit": 10, "window_seconds": 1 })),
    )
    .await;
    assert_eq!(
        faster,
        "rate_limit: your policy allows a rate limit of at most 100 per 60 s"
    );
    let late = (Utc::now() + Duration::days(31)).to_rfc3339();
    let too_late = refused(
        &w,
        Method::POST,
        "/v1/keys",
        &w.alice,
        create("expires_at", json!(late)),
    )
    .await;
    assert!(
        too_late.starts_with("expires_at: your policy requires keys to expire within 30 days"),
        "{too_late}"
    );

    // Within the maxima is fine; removing a required limit is not.
    let path = format!("/v1/keys/{}", key["id"].as_str().expect("id"));
    let (status, lowered) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "quota": { "limit": 500, "period": "month" } }),
        )
        .await;
    assert_eq!(status, 200, "{lowered}");
    assert_eq!(lowered["quota"]["limit"], 500);
    let refusal = refused(&w, Method::PATCH, &path, &w.alice, json!({ "quota": null })).await;
    assert!(refusal.starts_with("quota:"), "{refusal}");

    // Bad maxima are 400s naming the field.
    let (status, body) = w
        .app
        .send_json(
            Method::PATCH,
            &format!("/v1/users/{}", w.alice_id),
            &w.admin,
            &json!({ "max_quota": { "limit": 0, "period": "day" } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).starts_with("max_quota.limit:"), "{body}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_key_over_a_newer_policy_is_flagged_and_keeps_working(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    // An admin gives alice a generous key; no policy yet, so nothing is flagged.
    let (status, created) = w
        .app
        .post_json(
            "/v1/keys",
            &w.admin,
            &json!({ "keyspace_id": w.keyspace, "name": "generous",
                     "owner_id": w.alice_id,
                     "quota": { "limit": 1_000_000, "period": "month" } }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["outside_policy"], json!([]));
    let path = format!("/v1/keys/{}", created["id"].as_str().expect("id"));

    w.set_policy(json!({ "max_quota": { "limit": 1000, "period": "month" } }))
        .await;
    let key = w.app.get_json(&path, &w.alice).await;
    assert_eq!(key["outside_policy"], json!(["quota"]), "{key}");
    assert_eq!(key["status"], "active");
    let listed = w.app.get_json("/v1/keys", &w.admin).await;
    assert_eq!(listed["items"][0]["outside_policy"], json!(["quota"]));
    // It still verifies, and the owner may still rename it.
    let secret = created["key"].as_str().expect("secret");
    assert_eq!(
        code(&w.app, &token, json!({ "key": secret })).await,
        "VALID"
    );
    let (status, renamed) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "name": "still mine" }),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["outside_policy"], json!(["quota"]));
    // An admin's key is never flagged: admins are bound by no policy.
    let own = w.key(&w.admin, json!({})).await;
    assert_eq!(own["outside_policy"], json!([]));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_rotation_keeps_the_old_keys_own_expiry_and_grace_changes_are_their_own_actions(
    pool: PgPool,
) {
    let w = KeyWorld::new(pool.clone()).await;
    let own = Utc::now() + Duration::days(10);
    let key = w
        .key(&w.admin, json!({ "expires_at": own.to_rfc3339() }))
        .await;
    let id = key["id"].as_str().expect("id").to_owned();
    let (status, rotated) = w
        .app
        .post_json(
            &format!("/v1/keys/{id}/rotate"),
            &w.admin,
            &json!({ "grace_seconds": 86_400 }),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let previous = &rotated["previous"];
    let grace_end = Utc::now() + Duration::days(1);
    assert!(near(time(&previous["expires_at"]), grace_end), "{previous}");
    assert_eq!(previous["grace_ends_at"], previous["expires_at"]);
    assert!(near(time(&previous["own_expires_at"]), own), "{previous}");
    assert!(
        near(time(&rotated["expires_at"]), own),
        "the new key keeps the expiry"
    );

    // Extending moves only the grace end, audited as `key.grace_extend`.
    let (status, extended) = w
        .app
        .post_json(
            &format!("/v1/keys/{id}/grace/extend"),
            &w.admin,
            &json!({ "seconds": 3600 }),
        )
        .await;
    assert_eq!(status, 200, "{extended}");
    assert!(near(
        time(&extended["grace_ends_at"]),
        grace_end + Duration::hours(1)
    ));
    assert!(near(time(&extended["own_expires_at"]), own));
    // Beyond 30 days from now, or by nothing, is a 400 naming `seconds`.
    for seconds in [0, 2_592_000] {
        let (status, body) = w
            .app
            .post_json(
                &format!("/v1/keys/{id}/grace/extend"),
                &w.admin,
                &json!({ "seconds": seconds }),
            )
            .await;
        assert_eq!(status, 400, "{seconds}: {body}");
        assert!(detail(&body).starts_with("seconds:"));
    }
    // Auditors change nothing; another owner does not see the key.
    w.app
        .refused(
            Method::POST,
            &format!("/v1/keys/{id}/grace/end"),
            &w.auditor,
            None,
            403,
        )
        .await;
    w.app
        .refused(
            Method::POST,
            &format!("/v1/keys/{id}/grace/end"),
            &w.bob,
            None,
            404,
        )
        .await;

    // Ending it expires the key now and keeps its own expiry, as `key.grace_end`.
    let (status, ended) = w
        .app
        .post_json(&format!("/v1/keys/{id}/grace/end"), &w.admin, &json!({}))
        .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "expired");
    assert!(near(time(&ended["expires_at"]), Utc::now()));
    assert!(near(time(&ended["own_expires_at"]), own));
    let (status, again) = w
        .app
        .post_json(&format!("/v1/keys/{id}/grace/end"), &w.admin, &json!({}))
        .await;
    assert_eq!(status, 409, "{again}");
    // A key that was never rotated has no grace to change.
    let plain = w.key(&w.admin, json!({})).await;
    assert_eq!(
        w.app
            .send_status(
                Method::POST,
                &format!("/v1/keys/{}/grace/end", plain["id"].as_str().expect("id")),
                &w.admin,
                &json!({})
            )
            .await,
        409
    );

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&pool)
            .await
            .expect("audit");
    assert_eq!(
        actions,
        [
            "key.create",
            "key.rotate",
            "key.grace_extend",
            "key.grace_end"
        ]
    );

    // An own expiry before the grace end comes first, and is what the key keeps.
    let soon = Utc::now() + Duration::hours(1);
    let short = w
        .key(&w.admin, json!({ "expires_at": soon.to_rfc3339() }))
        .await;
    let (_, rotated) = w
        .app
        .post_json(
            &format!("/v1/keys/{}/rotate", short["id"].as_str().expect("id")),
            &w.admin,
            &json!({ "grace_seconds": 86_400 }),
        )
        .await;
    assert!(near(time(&rotated["previous"]["expires_at"]), soon));
    assert!(near(time(&rotated["previous"]["grace_ends_at"]), grace_end));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_whole_key_is_looked_up_by_post_for_those_who_may_see_it(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let key = w.key(&w.alice, json!({})).await;
    let secret = key["key"].as_str().expect("secret");
    for token in [&w.alice, &w.admin, &w.auditor] {
        let (status, found) = w
            .app
            .post_json("/v1/keys/lookup", token, &json!({ "key": secret }))
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["id"], key["id"]);
        assert!(found.get("key").is_none(), "the secret is not echoed");
    }
    for (token, body) in [
        (&w.bob, json!({ "key": secret })),
        (&w.alice, json!({ "key": "pay_notakey" })),
    ] {
        w.app
            .refused(Method::POST, "/v1/keys/lookup", token, Some(&body), 404)
            .await;
    }
    // The portal's lookup answers the same way, by POST.
    let alice = w.app.portal_session("alice@keys.test").await;
    let bob = w.app.portal_session("bob@keys.test").await;
    for (client, expected) in [(&alice, key["id"].clone()), (&bob, Value::Null)] {
        let res = client
            .post(w.app.url("/api/lookup_key"))
            .header("origin", w.app.url(""))
            .header("accept", "application/json")
            .form(&[("key", secret)])
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let found: Value = res.json().await.expect("json");
        assert_eq!(found, expected);
    }
}

/// The text a browser shows for an HTML fragment: hydration markers (`<!>`, comments)
/// dropped, entities decoded.
fn unescape(html: &str) -> String {
    let mut text = html.replace("<!>", "");
    while let Some(start) = text.find("<!--") {
        let end = text[start..]
            .find("-->")
            .map_or(text.len(), |e| start + e + 3);
        text.replace_range(start..end, "");
    }
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_keyspaces_sample_call_answers_valid_when_run_as_shown(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    // A key with scopes of its own: the sample must not ask for scopes it may lack.
    let key = w
        .key(&w.admin, json!({ "scopes": ["refunds:write"] }))
        .await;
    let secret = key["key"].as_str().expect("secret");
    let admin = w.app.portal_session("admin@keys.test").await;
    let html = w
        .app
        .page(&admin, "/keyspaces")
        .await
        .text()
        .await
        .expect("page");
    let start = html
        .find("data-testid=\"curl-example\"")
        .and_then(|at| html[at..].find('>').map(|gt| at + gt + 1))
        .expect("the sample is on the page");
    let end = start + html[start..].find("</pre>").expect("end of sample");
    let sample = unescape(&html[start..end]);
    assert!(sample.contains("curl"), "{sample}");
    // What a user does: fill in the two variables, then run the sample.
    let script = sample
        .replace(
            "LOCKSMITH_VERIFIER_TOKEN='…'",
            &format!("LOCKSMITH_VERIFIER_TOKEN='{token}'"),
        )
        .replace(
            "LOCKSMITH_API_KEY='pay_…'",
            &format!("LOCKSMITH_API_KEY='{secret}'"),
        );
    assert_ne!(script, sample, "the sample names both variables: {sample}");
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["code"], "VALID");
}
