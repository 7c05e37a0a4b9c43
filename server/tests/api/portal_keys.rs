//! The portal's key server functions against a real database: the same rules as the REST
//! API (owners act on their own keys only, auditors change nothing), errors that name the
//! field, a secret shown once, bulk revocation all-or-nothing.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::KeyWorld;

const BLANK: [(&str, &str); 8] = [
    ("fields[scopes]", ""),
    ("fields[expires_at]", ""),
    ("fields[ip_allowlist]", ""),
    ("fields[quota_limit]", ""),
    ("fields[quota_period]", "month"),
    ("fields[rate_limit]", ""),
    ("fields[rate_window]", "60"),
    ("fields[meta]", ""),
];

/// The names of a page of `list_keys`, in order.
fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|k| k["name"].as_str().expect("name"))
        .collect()
}

async fn call(
    w: &KeyWorld,
    client: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = client
        .post(w.app.url(&format!("/api/{name}")))
        .header("origin", w.app.url(""))
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create(
    w: &KeyWorld,
    client: &reqwest::Client,
    name: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![("keyspace_id", w.keyspace.as_str()), ("fields[name]", name)];
    form.extend(
        BLANK
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)),
    );
    form.extend(extra);
    call(w, client, "create_key", &form).await
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn portal_key_functions_follow_the_key_rules(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let admin = w.app.portal_session("admin@keys.test").await;
    let alice = w.app.portal_session("alice@keys.test").await;
    let auditor = w.app.portal_session("auditor@keys.test").await;

    // Created: the secret once, and in no audit row.
    let (status, created) = create(
        &w,
        &alice,
        "alice's key",
        &[
            ("fields[scopes]", "read, write"),
            ("fields[meta]", r#"{"plan":"pro"}"#),
        ],
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let secret = created["secret"].as_str().expect("secret");
    assert!(secret.starts_with("pay_"));
    assert_eq!(
        created["key"]["scopes"],
        serde_json::json!(["read", "write"])
    );
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE coalesce(after::text, '') LIKE '%' || $1 || '%'",
    )
    .bind(secret)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(leaked, 0, "the secret is in no audit row");
    let alice_key = created["key"]["id"].as_str().expect("id").to_owned();

    // Errors name the field, with a 400.
    for (field, value, named) in [
        ("fields[meta]", "{oops", "meta:"),
        ("fields[quota_limit]", "lots", "quota.limit:"),
        ("fields[ip_allowlist]", "10.0.0.0/33", "ip_allowlist"),
        ("fields[expires_at]", "2001-01-01T00:00", "expires_at:"),
    ] {
        let (status, body) = create(&w, &admin, "bad", &[(field, value)]).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body.to_string().contains(named), "{field}: {body}");
    }

    // An auditor reads but cannot create; an owner cannot create for someone else.
    let (status, _) = create(&w, &auditor, "nope", &[]).await;
    assert_eq!(status, 403);
    let bob_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'bob@keys.test'")
            .fetch_one(&pool)
            .await
            .expect("bob");
    let bob_id = bob_id.to_string();
    let (status, _) = create(&w, &alice, "x", &[("owner_id", &bob_id)]).await;
    assert_eq!(status, 403);

    // Owners list only their keys; another owner's key is not found.
    let (_, admin_key) = create(&w, &admin, "admin's key", &[]).await;
    let admin_key = admin_key["key"]["id"].as_str().expect("id").to_owned();
    let (status, page) = call(
        &w,
        &alice,
        "list_keys",
        &[
            ("filters[q]", ""),
            ("filters[keyspace_id]", ""),
            ("filters[owner_id]", ""),
            ("filters[status]", ""),
            ("filters[cursor]", ""),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(names(&page), ["alice's key"]);
    assert_eq!(page["counts"]["active"], 1);

    // The order is the REST API's `sort`: the page says it in words and what each header
    // asks for; a bad order names the field.
    let sorted = |sort: &'static str| {
        [
            ("filters[status]", "active"),
            ("filters[sort]", sort),
            ("filters[cursor]", ""),
        ]
    };
    let (status, page) = call(&w, &admin, "list_keys", &sorted("-name")).await;
    assert_eq!(status, 200, "{page}");
    let listed = names(&page);
    let mut z_to_a = listed.clone();
    z_to_a.sort_unstable_by(|a, b| b.cmp(a));
    assert!(listed.len() >= 2, "{listed:?}");
    assert_eq!(listed, z_to_a);
    assert_eq!(page["order"], "name, Z to A");
    let name_header = page["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["column"] == "name")
        .expect("name column");
    assert_eq!(name_header["current"], "descending");
    assert_eq!(name_header["next"], "name");
    let (status, body) = call(&w, &admin, "list_keys", &sorted("sideways")).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("sort"), "{body}");
    let (status, _) = call(&w, &alice, "key_detail", &[("id", &admin_key)]).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &w,
        &alice,
        "revoke_key",
        &[("id", &admin_key), ("reason", "")],
    )
    .await;
    assert_eq!(status, 404);

    // An owner reads their key's trail, but not where an admin worked from.
    let (status, _) = call(
        &w,
        &admin,
        "set_key_enabled",
        &[("id", &alice_key), ("enabled", "false")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, detail) = call(&w, &alice, "key_detail", &[("id", &alice_key)]).await;
    assert_eq!(status, 200, "{detail}");
    let trail = detail["audit"].as_array().expect("audit");
    let by = |actor: &str| trail.iter().find(|e| e["actor"] == actor).expect("entry");
    assert!(by("admin@keys.test")["source_ip"].is_null(), "{detail}");
    assert_eq!(by("alice@keys.test")["source_ip"], "127.0.0.1");

    // Bulk revocation is all or nothing: one foreign id refuses the whole batch.
    let bulk = |ids: Vec<&str>| {
        let client = alice.clone();
        let url = w.app.url("/api/revoke_keys");
        let origin = w.app.url("");
        let body = serde_json::json!({ "ids": ids, "reason": "clean-up" });
        async move {
            let res = client
                .post(url)
                .header("origin", origin)
                .json(&body)
                .send()
                .await
                .expect("sent");
            (res.status().as_u16(), res.text().await.expect("body"))
        }
    };
    let (status, body) = bulk(vec![]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = bulk(vec![&alice_key, &admin_key]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = bulk(vec![&alice_key]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"revoked\":1"), "{body}");
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM keys WHERE id = $1::uuid")
            .bind(&admin_key)
            .fetch_one(&pool)
            .await
            .expect("key");
    assert!(revoked.is_none(), "the admin's key is untouched");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'key.bulk_revoke'")
            .fetch_one(&pool)
            .await
            .expect("audit");
    assert_eq!(audited, 1);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn rotation_grace_can_be_ended_or_extended_from_the_portal(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let admin = w.app.portal_session("admin@keys.test").await;
    let (_, created) = create(&w, &admin, "rotating", &[]).await;
    let id = created["key"]["id"].as_str().expect("id").to_owned();
    let (status, rotation) = call(
        &w,
        &admin,
        "rotate_key",
        &[("id", &id), ("grace_seconds", "3600")],
    )
    .await;
    assert_eq!(status, 200, "{rotation}");
    assert!(
        rotation["new"]["secret"]
            .as_str()
            .expect("secret")
            .starts_with("pay_")
    );
    let end = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().expect("end")).expect("time")
    };
    let first_end = end(&rotation["previous"]);

    let (status, extended) = call(
        &w,
        &admin,
        "change_grace",
        &[("id", &id), ("extend_seconds", "86400")],
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!((end(&extended) - first_end).num_seconds(), 86400);

    let (status, ended) = call(
        &w,
        &admin,
        "change_grace",
        &[("id", &id), ("extend_seconds", "")],
    )
    .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "expired");
    // Over is over: the grace cannot be extended again, and a new key has none.
    let (status, _) = call(
        &w,
        &admin,
        "change_grace",
        &[("id", &id), ("extend_seconds", "60")],
    )
    .await;
    assert_eq!(status, 400);
    let new_id = rotation["new"]["key"]["id"].as_str().expect("id");
    let (status, _) = call(
        &w,
        &admin,
        "change_grace",
        &[("id", new_id), ("extend_seconds", "60")],
    )
    .await;
    assert_eq!(status, 400);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_audit_csv_export_follows_the_filters_and_the_roles(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let admin = w.app.portal_session("admin@keys.test").await;
    // A name that a spreadsheet would run as a formula, were it a cell of its own.
    let (status, _) = create(&w, &admin, "=HYPERLINK(\"http://evil\")", &[]).await;
    assert_eq!(status, 200);

    let res = admin
        .get(w.app.url("/audit/export.csv?action=key.create"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"locksmith-audit-"),
        "{disposition}"
    );
    let body = res.text().await.expect("body");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,at,actor,action,target,source_ip,request_id,client_request_id,before,after,\
             hash,prev_hash"
        )
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{body}");
    // The row's own hash and its predecessor's, as the chain holds them: enough to check
    // an export against the log.
    let (hash, prev): (String, String) = sqlx::query_as(
        "SELECT encode(hash, 'hex'), encode(prev_hash, 'hex') FROM audit_log \
         WHERE action = 'key.create'",
    )
    .fetch_one(&pool)
    .await
    .expect("chain");
    assert!(rows[0].ends_with(&format!(",{hash},{prev}")), "{body}");
    assert!(
        rows[0].contains(",admin@keys.test,key.create,key "),
        "{body}"
    );
    // The name sits inside the JSON of `after`, which no spreadsheet runs; no cell of the
    // row starts like a formula (the quoting of one that would is unit-tested).
    assert!(!rows[0].contains(",="), "{body}");

    // A bad filter is a 400 naming it; owners and strangers are refused.
    let res = admin
        .get(w.app.url("/audit/export.csv?from=yesterday"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
    assert!(res.text().await.expect("body").starts_with("from:"));
    let alice = w.app.portal_session("alice@keys.test").await;
    let res = alice
        .get(w.app.url("/audit/export.csv"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 403);
    let res = w
        .app
        .client
        .get(w.app.url("/audit/export.csv"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 401);
}
