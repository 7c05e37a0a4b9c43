//! `/v1/keys`: the secret shown once, validation, verbatim storage, lists and pagination,
//! changes, revocation, rotation, batches, owner policy and the role matrix.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KEY_VIEW_FIELDS, KeyWorld, detail, problem};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn bulk_create(w: &KeyWorld, items: Vec<Value>) -> (u16, Value) {
    w.app
        .post_json(
            "/v1/keys/bulk",
            &w.admin,
            &json!({ "action": "create", "keyspace_id": w.keyspace, "items": items }),
        )
        .await
}

/// Every place a secret could leak to: rows of keys and audit_log.
async fn stored_text(pool: &PgPool) -> String {
    let keys: Vec<String> = sqlx::query_scalar("SELECT row_to_json(k)::text FROM keys k")
        .fetch_all(pool)
        .await
        .expect("keys");
    let audit: Vec<String> = sqlx::query_scalar("SELECT row_to_json(a)::text FROM audit_log a")
        .fetch_all(pool)
        .await
        .expect("audit");
    format!("{keys:?}{audit:?}")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_secret_is_returned_once_and_stored_nowhere(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let key = w
        .key(
            &w.admin,
            json!({
                "name": "checkout",
                "owner_id": w.alice_id,
                "scopes": ["orders:read", "orders:write"],
                "expires_at": "2099-01-01T00:00:00Z",
                "ip_allowlist": ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"],
                "quota": { "limit": 1000, "period": "month" },
                "rate_limit": { "limit": 10, "window_seconds": 1 },
                "meta": { "plan": "pro" }
            }),
        )
        .await;
    let secret = key["key"].as_str().expect("secret").to_owned();
    let re = regex::Regex::new(locksmith_core::keys::format::KEY_REGEX).expect("regex");
    assert!(
        re.is_match(&secret) && secret.starts_with("pay_"),
        "{secret}"
    );
    assert!(locksmith_core::keys::format::parse(&secret).is_some());
    assert_eq!(key["start"].as_str(), Some(&secret[..8]));
    assert_eq!(key["status"], "active");
    assert_eq!(key["owner_id"], json!(w.alice_id));
    assert_eq!(
        key["ip_allowlist"],
        json!(["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"])
    );
    assert_eq!(key["quota"]["used"], 0);
    assert_eq!(key["quota"]["remaining"], 1000);
    assert!(key["quota"]["resets_at"].is_string());
    assert_eq!(
        key["rate_limit"],
        json!({ "limit": 10, "window_seconds": 1 })
    );
    for field in KEY_VIEW_FIELDS {
        assert!(key.get(field).is_some(), "view lacks {field}");
    }

    let view = w
        .app
        .get_json(&format!("/v1/keys/{}", id(&key)), &w.alice)
        .await;
    assert!(view.get("key").is_none());
    let list = w.app.get_json("/v1/keys", &w.admin).await;
    let audit = w.app.get_json("/v1/audit", &w.admin).await;
    for shown in [view.to_string(), list.to_string(), audit.to_string()] {
        assert!(!shown.contains(&secret));
        assert!(
            !shown.contains(&secret[4..]),
            "no part of the body beyond start"
        );
    }
    let stored = stored_text(&pool).await;
    assert!(!stored.contains(&secret[4..]));
    // The digest is keyed: a plain SHA-256 of the key is not what is stored.
    use sha2::Digest as _;
    let plain = sha2::Sha256::digest(secret.as_bytes()).to_vec();
    let matches: i64 = sqlx::query_scalar("SELECT count(*) FROM keys WHERE digest = $1")
        .bind(plain)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(matches, 0);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn validation_errors_name_the_field(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let ks = w.keyspace.clone();
    let cases = [
        (json!({ "keyspace_id": ks, "name": "" }), "name:"),
        (json!({ "keyspace_id": ks, "name": "a\u{0007}b" }), "name:"),
        (
            json!({ "keyspace_id": ks, "name": "x".repeat(201) }),
            "name:",
        ),
        (json!({ "keyspace_id": ks, "name": 5 }), "name"),
        (
            json!({ "keyspace_id": ks, "name": "k", "scopes": ["Orders"] }),
            "scopes:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "scopes": ["a", "a"] }),
            "scopes:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "expires_at": "2001-01-01T00:00:00Z" }),
            "expires_at:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "expires_at": "tomorrow" }),
            "expires_at",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "ip_allowlist": ["10.1.2.3/8"] }),
            "ip_allowlist:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "ip_allowlist": ["nope"] }),
            "ip_allowlist:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "quota": { "limit": 0, "period": "day" } }),
            "quota.limit:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "quota": { "limit": 5, "period": "week" } }),
            "quota",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "rate_limit": { "limit": 5, "window_seconds": 0 } }),
            "rate_limit.window_seconds:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "rate_limit": { "limit": 0, "window_seconds": 5 } }),
            "rate_limit.limit:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "meta": [1, 2] }),
            "meta:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "meta": { "x": "y".repeat(5000) } }),
            "meta:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "colour": "red" }),
            "colour",
        ),
        // Nested objects refuse unknown fields as the top level does (before, a
        // misspelt field inside `quota` passed silently).
        (
            json!({ "keyspace_id": ks, "name": "k", "quota": { "limit": 5, "period": "day", "limt": 9 } }),
            "quota.limt: unknown field `limt`",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "rate_limit": { "limit": 5, "window_seconds": 9, "burst": 2 } }),
            "rate_limit.burst: unknown field `burst`",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "meta": { "deep": ["ok", "a\u{0}b"] } }),
            "meta: must not contain the character U+0000",
        ),
        (json!({ "name": "k" }), "keyspace_id:"),
        (
            json!({ "keyspace_id": "00000000-0000-0000-0000-000000000000", "name": "k" }),
            "keyspace_id:",
        ),
        (
            json!({ "keyspace_id": ks, "name": "k", "owner_id": "00000000-0000-0000-0000-000000000000" }),
            "owner_id:",
        ),
        (
            json!({ "keyspace_id": "not-a-uuid", "name": "k" }),
            "keyspace_id",
        ),
    ];
    for (body, field) in cases {
        let p = w
            .app
            .refused(Method::POST, "/v1/keys", &w.admin, Some(&body), 400)
            .await;
        assert_eq!(p["code"], "invalid_request");
        assert!(detail(&p).contains(field), "{body} -> {p}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM keys")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "nothing invalid was stored");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn hostile_and_unicode_input_is_stored_and_returned_verbatim(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let names = [
        "Robert'); DROP TABLE keys;--",
        "' OR '1'='1",
        "ключ 🔑 \u{202e}gnp.exe",
        "50%_off\\",
        "<script>alert(1)</script>",
    ];
    let mut created = Vec::new();
    for name in names {
        let key = w
            .key(
                &w.admin,
                json!({ "name": name, "meta": { "note": name, "ünï": ["😀", null, 1.5] } }),
            )
            .await;
        assert_eq!(key["name"], name);
        created.push((name, id(&key)));
    }
    for (name, key_id) in &created {
        let view = w
            .app
            .get_json(&format!("/v1/keys/{key_id}"), &w.admin)
            .await;
        assert_eq!(view["name"], *name);
        assert_eq!(view["meta"]["note"], *name);
        assert_eq!(view["meta"]["ünï"], json!(["😀", null, 1.5]));
    }
    // Search treats % and _ literally, and quotes harmlessly.
    let q = |q: &str| {
        let url = reqwest::Url::parse_with_params("http://x/v1/keys", &[("q", q)]).expect("url");
        format!("/v1/keys?{}", url.query().unwrap_or_default())
    };
    let found = w.app.get_json(&q("50%_off"), &w.admin).await;
    assert_eq!(ids(&found), vec![created[3].1.clone()]);
    let found = w.app.get_json(&q("%"), &w.admin).await;
    assert_eq!(ids(&found), vec![created[3].1.clone()]);
    let found = w.app.get_json(&q("' OR"), &w.admin).await;
    assert_eq!(ids(&found), vec![created[1].1.clone()]);
    let found = w.app.get_json(&q("КЛЮЧ"), &w.admin).await;
    assert_eq!(
        ids(&found),
        vec![created[2].1.clone()],
        "case-insensitive in any script"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn malformed_input_never_gets_a_server_error(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let key = id(&w.key(&w.admin, json!({})).await);
    let bodies: [&[u8]; 9] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"\"string\"",
        b"{\"name\": \"\\ud800\"}",
        b"{\"limit\": 1e400}",
        b"\xff\xfe",
        b"{\"grace_seconds\": 99999999999999999999999}",
    ];
    let posts = [
        "/v1/keys".to_owned(),
        "/v1/keys/bulk".to_owned(),
        format!("/v1/keys/{key}/rotate"),
        format!("/v1/keys/{key}/revoke"),
        "/v1/keyspaces".to_owned(),
        format!("/v1/keyspaces/{}/verifiers", w.keyspace),
    ];
    for path in &posts {
        for body in bodies {
            let res = w
                .app
                .with(Method::POST, path, &w.admin)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .expect("sent");
            assert!(
                res.status().is_client_error() || res.status().is_success(),
                "{path} {body:?}: {}",
                res.status()
            );
        }
        let res = w
            .app
            .with(Method::POST, path, &w.admin)
            .body("name=x")
            .send()
            .await
            .expect("sent");
        assert!(
            res.status().is_client_error(),
            "{path} without JSON: {}",
            res.status()
        );
    }
    for body in bodies {
        let res = w
            .app
            .with(Method::PATCH, &format!("/v1/keys/{key}"), &w.admin)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("sent");
        assert!(
            res.status().is_client_error() || res.status().is_success(),
            "{body:?}"
        );
    }
    for query in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=1e9",
        "limit=x",
        "cursor=garbage",
        "cursor=",
        "status=bogus",
        "keyspace_id=nope",
        "owner_id=1",
        "q=",
        "unknown=1",
        &format!("q={}", "x".repeat(201)),
        "q=%00",
        "cursor=MTIzLm5vcGU",
        // A name cursor holding a NUL (before: a 500 from PostgreSQL).
        "cursor=bmFtZXxhAGJ8MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAx",
        "sort=name&cursor=bmFtZXxhAGJ8MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAx",
    ] {
        let res = w
            .app
            .with(Method::GET, &format!("/v1/keys?{query}"), &w.admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 400, "{query}");
        let p = problem(res, 400).await;
        assert_eq!(p["code"], "invalid_request", "{query}");
    }
    for query in ["action=%00", "target_id=a%00b"] {
        w.app
            .refused(
                Method::GET,
                &format!("/v1/audit?{query}"),
                &w.admin,
                None,
                400,
            )
            .await;
    }
    for body in [
        json!({ "keyspace_id": w.keyspace, "name": "k", "meta": { "x": "a\u{0}b" } }),
        json!({ "keyspace_id": w.keyspace, "name": "k\u{0}" }),
        json!({ "keyspace_id": w.keyspace, "name": "k", "scopes": ["a\u{0}"] }),
        json!({ "keyspace_id": w.keyspace, "name": "k", "ip_allowlist": ["10.0.0.1\u{0}"] }),
    ] {
        let (status, p) = w.app.post_json("/v1/keys", &w.admin, &body).await;
        assert_eq!(status, 400, "{body}: {p}");
    }
    // Values PostgreSQL cannot hold, or would hold far larger than they were sent.
    let huge: Vec<f64> = vec![1e300; 30];
    for body in [
        json!({ "keyspace_id": w.keyspace, "name": "k", "meta": { "a": huge } }),
        json!({ "keyspace_id": w.keyspace, "name": "k", "expires_at": "-5000-01-01T00:00:00Z" }),
        json!({ "keyspace_id": w.keyspace, "name": "k", "expires_at": "+200000-01-01T00:00:00Z" }),
    ] {
        let (status, p) = w.app.post_json("/v1/keys", &w.admin, &body).await;
        assert_eq!(status, 400, "{body}: {p}");
    }
    let fresh = id(&w.key(&w.admin, json!({})).await);
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &format!("/v1/keys/{fresh}"),
                &w.admin,
                &json!({ "expires_at": "-5000-01-01T00:00:00Z" })
            )
            .await,
        400
    );
    use base64::Engine as _;
    let far_cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("-300000000000000000.{fresh}"));
    for query in [
        format!("/v1/keys?cursor={far_cursor}"),
        "/v1/audit?from=-5000-01-01T00:00:00Z".to_owned(),
        "/v1/audit?to=%2B200000-01-01T00:00:00Z".to_owned(),
    ] {
        let res = w
            .app
            .with(Method::GET, &query, &w.admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 400, "{query}");
    }
    assert_eq!(
        w.app
            .send_status(
                Method::POST,
                &format!("/v1/keys/{key}/revoke"),
                &w.admin,
                &json!({ "reason": "a\u{0}" })
            )
            .await,
        400
    );
    for path in [
        "/v1/keys/nope",
        "/v1/keys/00000000-0000-0000-0000-000000000000",
    ] {
        w.app.refused(Method::GET, path, &w.admin, None, 404).await;
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn lists_filter_by_keyspace_owner_status_and_search(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let (_, other) = w
        .app
        .post_json(
            "/v1/keyspaces",
            &w.admin,
            &json!({ "name": "Maps", "prefix": "map" }),
        )
        .await;
    let active = id(&w.key(&w.alice, json!({ "name": "alpha active" })).await);
    let disabled = id(&w.key(&w.alice, json!({ "name": "beta disabled" })).await);
    let revoked = id(&w.key(&w.bob, json!({ "name": "gamma revoked" })).await);
    let expired = id(&w.key(&w.bob, json!({ "name": "delta expired" })).await);
    let in_other = w
        .app
        .post_json(
            "/v1/keys",
            &w.admin,
            &json!({ "keyspace_id": other["id"], "name": "maps key" }),
        )
        .await
        .1;
    let in_other = id(&in_other);
    w.app
        .send_json(
            Method::PATCH,
            &format!("/v1/keys/{disabled}"),
            &w.admin,
            &json!({ "enabled": false }),
        )
        .await;
    w.app
        .post_json(&format!("/v1/keys/{revoked}/revoke"), &w.admin, &json!({}))
        .await;
    sqlx::query("UPDATE keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(&expired)
        .execute(&pool)
        .await
        .expect("expire");

    let get = |query: String| {
        let app = &w.app;
        let admin = w.admin.clone();
        async move { ids(&app.get_json(&format!("/v1/keys?{query}"), &admin).await) }
    };
    let mut all = get(String::new()).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], in_other, "newest first");
    // Each status filter returns exactly the keys whose derived status it names, and
    // together they cover every key once (SQL and Rust derive the status alike).
    let mut union = Vec::new();
    for (status, expected) in [
        ("active", vec![in_other.clone(), active.clone()]),
        ("disabled", vec![disabled.clone()]),
        ("revoked", vec![revoked.clone()]),
        ("expired", vec![expired.clone()]),
    ] {
        let got = get(format!("status={status}")).await;
        assert_eq!(got, expected, "{status}");
        for key in &got {
            let view = w.app.get_json(&format!("/v1/keys/{key}"), &w.admin).await;
            assert_eq!(view["status"], status);
        }
        union.extend(got);
    }
    union.sort();
    all.sort();
    assert_eq!(union, all);

    assert_eq!(
        get(format!("keyspace_id={}", other["id"].as_str().expect("id"))).await,
        vec![in_other.clone()]
    );
    assert_eq!(
        get(format!("owner_id={}", w.alice_id)).await,
        vec![disabled.clone(), active.clone()]
    );
    assert_eq!(
        get(format!("owner_id={}&status=active", w.alice_id)).await,
        vec![active.clone()]
    );
    assert_eq!(get("q=GAMMA".into()).await, vec![revoked.clone()]);
    assert_eq!(
        get("q=map_".into()).await,
        vec![in_other.clone()],
        "matches the start"
    );
    assert!(get("q=zzz".into()).await.is_empty());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn pagination_returns_each_key_once_while_keys_are_added(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let mut existing = Vec::new();
    for i in 0..23 {
        existing.push(id(&w
            .key(&w.admin, json!({ "name": format!("key {i}") }))
            .await));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=4&cursor={c}"),
            None => "/v1/keys?limit=4".to_owned(),
        };
        let page = w.app.get_json(&path, &w.admin).await;
        seen.extend(ids(&page));
        pages += 1;
        // Keys created between pages must not shift or repeat what follows.
        w.key(
            &w.admin,
            json!({ "name": format!("added after page {pages}") }),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "pagination terminates");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no key twice");
    for key in &existing {
        assert_eq!(
            seen.iter().filter(|s| *s == key).count(),
            1,
            "{key} exactly once"
        );
    }
    assert_eq!(
        seen.len(),
        existing.len(),
        "keys added later sort before the cursor"
    );
}

/// Every page of `GET /v1/keys?sort={sort}` at `limit` keys a page, concatenated.
async fn all_pages(w: &KeyWorld, token: &str, sort: &str, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut path = format!("/v1/keys?sort={sort}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = w.app.get_json(&path, token).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("{sort}: pagination does not end");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_order_pages_through_every_key_once_in_that_order(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    // Ties, nulls, case, accents and the cursor's separator, in every sorted column.
    let later = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let same_expiry = later(9);
    let specs = [
        ("same", Some(same_expiry.clone()), Some(30)),
        ("same", Some(same_expiry.clone()), Some(30)),
        ("Zebra", None, None),
        ("apple", Some(later(2)), Some(5)),
        ("a|b|c", Some(later(40)), None),
        ("Ärger", None, Some(600)),
        ("émile", Some(later(1)), Some(5)),
        ("42", None, None),
        ("zz top", Some(later(3)), Some(1)),
        ("same", None, Some(7200)),
    ];
    let mut made = Vec::new();
    for (name, expires_at, _) in &specs {
        let key = w
            .key(&w.admin, json!({ "name": name, "expires_at": expires_at }))
            .await;
        made.push(id(&key));
    }
    for ((_, _, used_secs_ago), key) in specs.iter().zip(&made) {
        if let Some(secs) = used_secs_ago {
            sqlx::query(
                "UPDATE keys SET last_used_at = now() - make_interval(secs => $2) WHERE id = $1::uuid",
            )
            .bind(key)
            .bind(f64::from(*secs))
            .execute(&pool)
            .await
            .expect("last used");
        }
    }
    // The order each sort means, written out independently of the list's query.
    let orders = [
        ("-created", "created_at DESC, id DESC"),
        ("created", "created_at, id"),
        ("name", "name, id"),
        ("-name", "name DESC, id DESC"),
        (
            "-last_used",
            "COALESCE(last_used_at, '-infinity') DESC, id DESC",
        ),
        ("last_used", "COALESCE(last_used_at, '-infinity'), id"),
        ("expires", "COALESCE(expires_at, 'infinity'), id"),
        ("-expires", "COALESCE(expires_at, 'infinity') DESC, id DESC"),
    ];
    for (sort, order_by) in orders {
        let expected: Vec<String> =
            sqlx::query_scalar(&format!("SELECT id::text FROM keys ORDER BY {order_by}"))
                .fetch_all(&pool)
                .await
                .expect("expected order");
        assert_eq!(all_pages(&w, &w.admin, sort, 3).await, expected, "{sort}");
        assert_eq!(all_pages(&w, &w.admin, sort, 200).await, expected, "{sort}");
    }
    // What the orders mean to a reader: the most recent use first; never used first when
    // ascending; never expiring last when ascending.
    let recent = all_pages(&w, &w.admin, "-last_used", 200).await;
    assert_eq!(recent[0], made[8], "used a second ago");
    let stale = all_pages(&w, &w.admin, "last_used", 200).await;
    let never_used: Vec<&String> = [2, 4, 7].iter().map(|i| &made[*i]).collect();
    assert!(
        stale[..3].iter().all(|k| never_used.contains(&k)),
        "{stale:?}"
    );
    let expiring = all_pages(&w, &w.admin, "expires", 200).await;
    assert_eq!(expiring[0], made[6], "expires in a day");
    let never_expiring: Vec<&String> = [2, 5, 7, 9].iter().map(|i| &made[*i]).collect();
    assert!(
        expiring[6..].iter().all(|k| never_expiring.contains(&k)),
        "{expiring:?}"
    );

    // A cursor belongs to its order; bad orders are named.
    let page = w.app.get_json("/v1/keys?sort=name&limit=2", &w.admin).await;
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let refused = |query: String, field: &'static str| {
        let w = &w;
        async move {
            let p = w
                .app
                .refused(
                    Method::GET,
                    &format!("/v1/keys?{query}"),
                    &w.admin,
                    None,
                    400,
                )
                .await;
            let detail = p["detail"].as_str().expect("detail");
            assert!(detail.starts_with(field), "{query}: {p}");
        }
    };
    for query in [
        format!("sort=-created&cursor={cursor}"),
        format!("cursor={cursor}"),
        format!("sort=-name&cursor={cursor}"),
    ] {
        refused(query, "cursor").await;
    }
    for sort in ["bogus", "-", "", "name%00", "--name", "NAME"] {
        refused(format!("sort={sort}"), "sort").await;
    }

    // Sorting never widens what an owner sees.
    let alices = id(&w.key(&w.alice, json!({ "name": "aaa alice" })).await);
    for sort in ["name", "-expires", "last_used"] {
        assert_eq!(
            all_pages(&w, &w.alice, sort, 1).await,
            [alices.as_str()],
            "{sort}"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn patch_changes_fields_clears_nullables_and_is_audited(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let key = w
        .key(
            &w.alice,
            json!({
                "expires_at": "2099-01-01T00:00:00Z",
                "quota": { "limit": 10, "period": "day" },
                "rate_limit": { "limit": 5, "window_seconds": 60 },
                "scopes": ["a"],
                "ip_allowlist": ["10.0.0.0/8"],
            }),
        )
        .await;
    let path = format!("/v1/keys/{}", id(&key));
    let (status, changed) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({
                "name": "renamed",
                "scopes": ["b", "c"],
                "expires_at": null,
                "quota": null,
                "rate_limit": { "limit": 9, "window_seconds": 1 },
                "ip_allowlist": [],
                "meta": { "team": "core" },
                "enabled": false,
            }),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["scopes"], json!(["b", "c"]));
    assert!(changed["expires_at"].is_null());
    assert!(changed["quota"].is_null());
    assert_eq!(
        changed["rate_limit"],
        json!({ "limit": 9, "window_seconds": 1 })
    );
    assert_eq!(changed["ip_allowlist"], json!([]));
    assert_eq!(changed["meta"], json!({ "team": "core" }));
    assert_eq!(changed["status"], "disabled");

    let audit = w
        .app
        .get_json(
            &format!("/v1/audit?action=key.update&target_id={}", id(&key)),
            &w.admin,
        )
        .await;
    let entries = audit["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["before"]["name"], "test key");
    assert_eq!(entries[0]["after"]["name"], "renamed");
    assert_eq!(entries[0]["actor_id"], json!(w.alice_id));

    // A patch that changes nothing writes no audit row.
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &path,
                &w.alice,
                &json!({ "name": "renamed" })
            )
            .await,
        200
    );
    let audit = w
        .app
        .get_json("/v1/audit?action=key.update", &w.admin)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1));

    // A past expiry expires the key at once; a revoked key cannot be changed.
    let (_, expired) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "enabled": true, "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(expired["status"], "expired");
    w.app
        .post_json(&format!("{path}/revoke"), &w.alice, &json!({}))
        .await;
    let p = w
        .app
        .refused(
            Method::PATCH,
            &path,
            &w.alice,
            Some(&json!({ "name": "again" })),
            409,
        )
        .await;
    assert!(detail(&p).contains("revoked"));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn revocation_is_idempotent_keeps_the_first_reason_and_is_audited_once(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let key = id(&w.key(&w.alice, json!({})).await);
    let path = format!("/v1/keys/{key}/revoke");
    let (status, first) = w
        .app
        .post_json(&path, &w.alice, &json!({ "reason": "leaked in a gist" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "revoked");
    assert_eq!(first["revoked_reason"], "leaked in a gist");
    // Again, with another reason and then with no body at all.
    let (status, second) = w
        .app
        .post_json(&path, &w.alice, &json!({ "reason": "other" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(second["revoked_at"], first["revoked_at"]);
    assert_eq!(second["revoked_reason"], "leaked in a gist");
    let res = w
        .app
        .with(Method::POST, &path, &w.alice)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let audit = w
        .app
        .get_json(
            &format!("/v1/audit?action=key.revoke&target_id={key}"),
            &w.admin,
        )
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn rotation_links_keys_carries_settings_and_usage_and_honours_grace(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let old = w
        .key(
            &w.alice,
            json!({
                "name": "billing",
                "scopes": ["invoices:read"],
                "ip_allowlist": ["192.0.2.0/24"],
                "quota": { "limit": 100, "period": "total" },
                "rate_limit": { "limit": 3, "window_seconds": 10 },
                "meta": { "tier": 2 },
                "expires_at": "2099-01-01T00:00:00Z",
            }),
        )
        .await;
    let old_id = id(&old);
    sqlx::query("UPDATE keys SET quota_used = 42 WHERE id = $1::uuid")
        .bind(&old_id)
        .execute(&pool)
        .await
        .expect("spend");

    let before = chrono::Utc::now();
    let (status, rotated) = w
        .app
        .post_json(&format!("/v1/keys/{old_id}/rotate"), &w.alice, &json!({}))
        .await;
    assert_eq!(status, 201, "{rotated}");
    let new_secret = rotated["key"].as_str().expect("new secret");
    assert_ne!(new_secret, old["key"].as_str().expect("old secret"));
    assert_ne!(rotated["id"], old["id"]);
    for field in [
        "name",
        "scopes",
        "ip_allowlist",
        "meta",
        "rate_limit",
        "owner_id",
        "keyspace_id",
        "expires_at",
    ] {
        assert_eq!(rotated[field], old[field], "{field} inherited");
    }
    assert_eq!(rotated["quota"]["used"], 42, "usage carries over");
    assert_eq!(rotated["quota"]["remaining"], 58);
    assert_eq!(rotated["rotated_from"], old["id"]);
    let previous = &rotated["previous"];
    assert_eq!(previous["rotated_to"], rotated["id"]);
    assert_eq!(previous["status"], "active", "in grace");
    let grace_end: chrono::DateTime<chrono::Utc> = previous["expires_at"]
        .as_str()
        .expect("grace end")
        .parse()
        .expect("time");
    let expected = before + chrono::Duration::seconds(86_400);
    assert!(
        (grace_end - expected).num_seconds().abs() <= 5,
        "default grace is a day"
    );

    // The old key cannot be rotated again; the new one can, with no grace.
    w.app
        .refused(
            Method::POST,
            &format!("/v1/keys/{old_id}/rotate"),
            &w.alice,
            None,
            409,
        )
        .await;
    let (status, second) = w
        .app
        .post_json(
            &format!("/v1/keys/{}/rotate", id(&rotated)),
            &w.alice,
            &json!({ "grace_seconds": 0 }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        second["previous"]["status"], "expired",
        "grace 0 ends it now"
    );

    for grace in [json!(-1), json!(2_592_001), json!("1d")] {
        let p = w
            .app
            .refused(
                Method::POST,
                &format!("/v1/keys/{}/rotate", id(&second)),
                &w.alice,
                Some(&json!({ "grace_seconds": grace })),
                400,
            )
            .await;
        assert!(detail(&p).contains("grace_seconds"), "{p}");
    }
    let revoked = id(&w.key(&w.alice, json!({})).await);
    w.app
        .post_json(&format!("/v1/keys/{revoked}/revoke"), &w.alice, &json!({}))
        .await;
    w.app
        .refused(
            Method::POST,
            &format!("/v1/keys/{revoked}/rotate"),
            &w.alice,
            None,
            409,
        )
        .await;
    let audit = w
        .app
        .get_json("/v1/audit?action=key.rotate", &w.admin)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn bulk_create_is_all_or_nothing_and_reports_every_bad_item(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    const KEYS: &str = "SELECT count(*) FROM keys";
    let (status, bad) = w
        .app
        .post_json(
            "/v1/keys/bulk",
            &w.admin,
            &json!({
                "action": "create",
                "keyspace_id": w.keyspace,
                "items": [
                    { "name": "fine" },
                    { "name": "bad scope", "scopes": ["NO"] },
                    { "name": "bad ip", "ip_allowlist": ["300.0.0.1"] },
                    { "name": "fine too" },
                ]
            }),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        detail(&bad).contains("item 1: scopes:"),
        "the detail names the first bad item's field: {bad}"
    );
    let errors = bad["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["index"], 1);
    assert!(
        errors[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("scopes:")
    );
    assert_eq!(errors[1]["index"], 2);
    assert!(
        errors[1]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ip_allowlist:")
    );
    assert_eq!(count(&pool, KEYS).await, 0, "nothing was created");

    let items: Vec<Value> = (0..1000)
        .map(|i| json!({ "name": format!("bulk {i}") }))
        .collect();
    let (status, created) = bulk_create(&w, items).await;
    assert_eq!(status, 201);
    let created = created["items"].as_array().expect("items");
    assert_eq!(created.len(), 1000);
    assert_eq!(created[999]["name"], "bulk 999", "in request order");
    let secrets: std::collections::HashSet<&str> =
        created.iter().filter_map(|k| k["key"].as_str()).collect();
    assert_eq!(secrets.len(), 1000);
    assert_eq!(count(&pool, KEYS).await, 1000);
    let per_key = count(
        &pool,
        "SELECT count(*) FROM audit_log WHERE action = 'key.create'",
    )
    .await;
    let batches = count(
        &pool,
        "SELECT count(*) FROM audit_log WHERE action = 'key.bulk_create'",
    )
    .await;
    assert_eq!((per_key, batches), (1000, 1));
    let chain = locksmith_core::audit::AuditService::new(pool.clone())
        .verify(locksmith_core::identity::Actor::SYSTEM)
        .await
        .expect("verify");
    assert_eq!(
        chain.first_broken, None,
        "the batch keeps the audit chain intact"
    );

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "name": format!("k{i}") }))
        .collect();
    let (status, p) = bulk_create(&w, too_many).await;
    assert_eq!(status, 400);
    assert!(detail(&p).starts_with("items:"));
    assert_eq!(
        w.app
            .send_status(
                Method::POST,
                "/v1/keys/bulk",
                &w.admin,
                &json!({ "action": "explode", "ids": [] })
            )
            .await,
        400
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn bulk_revoke_is_all_or_nothing(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let mine: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(id(&w.key(&w.alice, json!({})).await));
        }
        v
    };
    let bobs = id(&w.key(&w.bob, json!({})).await);
    const LIVE: &str = "SELECT count(*) FROM keys WHERE revoked_at IS NULL";
    // One unknown id, one malformed id, one of Bob's: nothing changes, each is reported.
    let unknown = "00000000-0000-0000-0000-000000000001";
    for (ids, bad_index) in [
        (json!([mine[0], unknown, mine[1]]), 1),
        (json!([mine[0], "not-an-id"]), 1),
        (json!([mine[0], mine[1], bobs]), 2),
        (json!([mine[0], mine[0]]), 1),
    ] {
        let (status, p) = w
            .app
            .post_json(
                "/v1/keys/bulk",
                &w.alice,
                &json!({ "action": "revoke", "ids": ids, "reason": "rotation day" }),
            )
            .await;
        assert_eq!(status, 400, "{p}");
        let errors = p["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{p}");
        assert_eq!(errors[0]["index"], bad_index);
        assert!(
            !p.to_string().contains("owner"),
            "another owner's key is just 'no such key'"
        );
        assert_eq!(count(&pool, LIVE).await, 4);
    }
    let (status, done) = w
        .app
        .post_json(
            "/v1/keys/bulk",
            &w.alice,
            &json!({ "action": "revoke", "ids": mine, "reason": "rotation day" }),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert!(
        done["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|k| k["status"] == "revoked")
    );
    assert_eq!(count(&pool, LIVE).await, 1);
    let per_key = w
        .app
        .get_json("/v1/audit?action=key.revoke", &w.admin)
        .await;
    assert_eq!(per_key["items"].as_array().map(Vec::len), Some(3));
    let batch = w
        .app
        .get_json("/v1/audit?action=key.bulk_revoke", &w.admin)
        .await;
    assert_eq!(batch["items"][0]["after"]["count"], 3);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn roles_and_ownership_matrix(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let alices = id(&w.key(&w.alice, json!({ "name": "alice's" })).await);
    let k = |suffix: &str| format!("/v1/keys/{alices}{suffix}");

    // Bob: every read and write of Alice's key is a 404 (existence does not leak).
    let bob_requests = [
        (Method::GET, k(""), json!(null)),
        (Method::PATCH, k(""), json!({ "name": "mine now" })),
        (Method::POST, k("/revoke"), json!({})),
        (Method::POST, k("/rotate"), json!({})),
    ];
    for (method, path, body) in bob_requests {
        let mut req = w.app.with(method.clone(), &path, &w.bob);
        if !body.is_null() {
            req = req.json(&body);
        }
        let p = problem(req.send().await.expect("sent"), 404).await;
        assert_eq!(p["detail"], "No such resource.", "{method} {path}");
    }
    let bob_list = w.app.get_json("/v1/keys", &w.bob).await;
    assert!(ids(&bob_list).is_empty());
    let bob_list = w
        .app
        .get_json(&format!("/v1/keys?owner_id={}", w.alice_id), &w.bob)
        .await;
    assert!(
        ids(&bob_list).is_empty(),
        "an owner filter cannot widen an owner's view"
    );
    let (status, _) = w
        .app
        .post_json(
            "/v1/keys",
            &w.bob,
            &json!({ "keyspace_id": w.keyspace, "name": "for alice", "owner_id": w.alice_id }),
        )
        .await;
    assert_eq!(status, 403, "owners cannot create keys for others");

    // The auditor reads everything and changes nothing.
    let view = w.app.get_json(&k(""), &w.auditor).await;
    assert_eq!(view["name"], "alice's");
    assert_eq!(
        ids(&w.app.get_json("/v1/keys", &w.auditor).await),
        vec![alices.clone()]
    );
    let auditor_writes = [
        (
            Method::POST,
            "/v1/keys".to_owned(),
            json!({ "keyspace_id": w.keyspace, "name": "x" }),
        ),
        (Method::PATCH, k(""), json!({ "name": "x" })),
        (Method::POST, k("/revoke"), json!({})),
        (Method::POST, k("/rotate"), json!({})),
        (
            Method::POST,
            "/v1/keys/bulk".to_owned(),
            json!({ "action": "revoke", "ids": [alices] }),
        ),
    ];
    for (method, path, body) in auditor_writes {
        w.app
            .refused(method.clone(), &path, &w.auditor, Some(&body), 403)
            .await;
    }

    // Alice and the admin can do everything to it.
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &k(""),
                &w.alice,
                &json!({ "name": "renamed" })
            )
            .await,
        200
    );
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &k(""),
                &w.admin,
                &json!({ "enabled": false })
            )
            .await,
        200
    );
    assert_eq!(
        w.app
            .send_status(Method::POST, &k("/revoke"), &w.admin, &json!({}))
            .await,
        200
    );
    // Without a token: 401 with the challenge.
    let res = w
        .app
        .client
        .get(w.app.url("/v1/keys"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    problem(res, 401).await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn owners_stay_within_their_policy_even_concurrently(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    w.set_policy(json!({ "max_keys": 3, "allowed_scopes": ["read", "write"] }))
        .await;

    let (status, p) = w
        .app
        .post_json(
            "/v1/keys",
            &w.alice,
            &json!({ "keyspace_id": w.keyspace, "name": "k", "scopes": ["read", "admin"] }),
        )
        .await;
    assert_eq!(status, 403);
    assert!(detail(&p).contains("admin"), "names the scope: {p}");

    // Five concurrent creations against a limit of three: exactly three succeed.
    let bodies: Vec<Value> = (0..5)
        .map(|i| json!({ "keyspace_id": w.keyspace, "name": format!("k{i}"), "scopes": ["read"] }))
        .collect();
    let create = |i: usize| w.app.post_json("/v1/keys", &w.alice, &bodies[i]);
    let (a, b, c, d, e) = tokio::join!(create(0), create(1), create(2), create(3), create(4));
    let results = [a, b, c, d, e];
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let refused = results.iter().filter(|(s, _)| *s == 403).count();
    assert_eq!((created.len(), refused), (3, 2), "{results:?}");

    // Revoking one frees a place; a batch larger than what is left is refused whole.
    let first = id(created[0]);
    w.app
        .post_json(&format!("/v1/keys/{first}/revoke"), &w.alice, &json!({}))
        .await;
    assert_eq!(w.app.send_status(Method::POST, "/v1/keys/bulk",
            &w.alice,
            &json!({ "action": "create", "keyspace_id": w.keyspace, "items": [{ "name": "a" }, { "name": "b" }] })).await, 403);
    w.key(&w.alice, json!({ "name": "fits" })).await;

    // Scope changes are held to the policy too; the admin is not bound by it.
    let second = id(created[1]);
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &format!("/v1/keys/{second}"),
                &w.alice,
                &json!({ "scopes": ["delete"] })
            )
            .await,
        403
    );
    assert_eq!(
        w.app
            .send_status(
                Method::PATCH,
                &format!("/v1/keys/{second}"),
                &w.admin,
                &json!({ "scopes": ["delete"] })
            )
            .await,
        200
    );

    // Rotation copies scopes, so they must still be allowed: Alice cannot rotate the key
    // the admin gave "delete".
    let (status, p) = w
        .app
        .post_json(&format!("/v1/keys/{second}/rotate"), &w.alice, &json!({}))
        .await;
    assert_eq!(status, 403, "{p}");
    assert!(detail(&p).contains("delete"));
    // Alice holds 3 of 3: a rotation with grace would hold a fourth working key.
    let third = id(created[2]);
    let (status, p) = w
        .app
        .post_json(&format!("/v1/keys/{third}/rotate"), &w.alice, &json!({}))
        .await;
    assert_eq!(status, 403, "{p}");
    assert!(detail(&p).contains("grace_seconds 0"));
    let (status, rotated) = w
        .app
        .post_json(
            &format!("/v1/keys/{third}/rotate"),
            &w.alice,
            &json!({ "grace_seconds": 0 }),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    // Expiring a key frees its place; bringing it back needs the place again.
    let successor = id(&rotated);
    let path = format!("/v1/keys/{successor}");
    let (_, expired) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(expired["status"], "expired");
    w.key(&w.alice, json!({ "name": "takes the place" })).await;
    let (status, p) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "expires_at": null }),
        )
        .await;
    assert_eq!(status, 403, "{p}");
    assert!(detail(&p).starts_with("max_keys:"));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn responses_with_secrets_are_never_cached(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let no_store = |res: &reqwest::Response| {
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            == Some("no-store")
    };
    let send =
        |path: String, body: Value| w.app.with(Method::POST, &path, &w.admin).json(&body).send();
    let res = send(
        "/v1/keys".into(),
        json!({ "keyspace_id": w.keyspace, "name": "k" }),
    )
    .await
    .expect("sent");
    assert_eq!(res.status(), 201);
    assert!(no_store(&res));
    let key: Value = res.json().await.expect("json");
    let res = send(format!("/v1/keys/{}/rotate", id(&key)), json!({}))
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    assert!(no_store(&res));
    let bulk = json!({ "action": "create", "keyspace_id": w.keyspace, "items": [{ "name": "b" }] });
    let res = send("/v1/keys/bulk".into(), bulk).await.expect("sent");
    assert_eq!(res.status(), 201);
    assert!(no_store(&res));
    let res = send(
        format!("/v1/keyspaces/{}/verifiers", w.keyspace),
        json!({ "name": "v" }),
    )
    .await
    .expect("sent");
    assert_eq!(res.status(), 201);
    assert!(no_store(&res));
    // Personal data is private too: every answer of the API is `no-store` unless it
    // says otherwise.
    for path in ["/v1/users", "/v1/audit", "/v1/me", "/v1/keys"] {
        let res = w
            .app
            .with(Method::GET, path, &w.admin)
            .send()
            .await
            .expect("sent");
        assert!(no_store(&res), "{path}");
    }
    // An auditor's batch is refused for the role before its contents are looked at.
    w.app
        .refused(
            Method::POST,
            "/v1/keys/bulk",
            &w.auditor,
            Some(&json!({ "action": "revoke", "ids": ["not-an-id"] })),
            403,
        )
        .await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn management_calls_are_rate_limited_per_caller(pool: PgPool) {
    let w = KeyWorld::with_settings(
        pool,
        &[
            // One a minute: nothing refills while the test runs, however slow the machine.
            ("LOCKSMITH_API_RATE_LIMIT_PER_MINUTE", "1"),
            ("LOCKSMITH_API_RATE_LIMIT_BURST", "5"),
            ("LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE", "1"),
            ("LOCKSMITH_AUTH_RATE_LIMIT_BURST", "6"),
        ],
    )
    .await;
    // The keyspace creation in KeyWorld used one of the admin's five.
    for _ in 0..4 {
        let res = w
            .app
            .with(Method::GET, "/v1/keys", &w.admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
    }
    let res = w
        .app
        .with(Method::GET, "/v1/keys", &w.admin)
        .send()
        .await
        .expect("sent");
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=60).contains(&retry), "{retry}");
    let p = problem(res, 429).await;
    assert_eq!(p["code"], "rate_limited");
    // Another caller is not affected.
    let res = w
        .app
        .with(Method::GET, "/v1/keys", &w.bob)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    // The token endpoint is limited per address: KeyWorld signed in four times already,
    // so the seventh attempt from this address is refused.
    for _ in 0..2 {
        assert_ne!(
            w.app
                .sign_in("nobody@keys.test", "wrong password!")
                .await
                .status(),
            429
        );
    }
    let res = w.app.sign_in("nobody@keys.test", "wrong password!").await;
    assert!(res.headers().contains_key("retry-after"));
    problem(res, 429).await;
}
