//! `/v1/users` and `/v1/me`: validation, duplicates, role changes taking effect at once,
//! and the authorisation matrix (BFLA and BOLA attempts).

use locksmith_core::identity::Role;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, create_user, detail, problem};

struct World {
    app: TestApp,
    admin: String,
    auditor: String,
    owner: String,
    owner_id: uuid::Uuid,
    other_owner_id: uuid::Uuid,
}

async fn world(pool: PgPool) -> World {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    create_user(&pool, "auditor@example.com", Role::Auditor).await;
    let owner_id = create_user(&pool, "owner@example.com", Role::Owner).await;
    let other_owner_id = create_user(&pool, "other@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    World {
        admin: app.bearer("admin@example.com").await,
        auditor: app.bearer("auditor@example.com").await,
        owner: app.bearer("owner@example.com").await,
        app,
        owner_id,
        other_owner_id,
    }
}

fn new_user(email: &str) -> serde_json::Value {
    json!({ "email": email, "password": PASSWORD, "role": "owner", "display_name": "Grace", "max_keys": 5, "allowed_scopes": ["read:orders"] })
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_admin_creates_a_user_who_can_then_sign_in(pool: PgPool) {
    let w = world(pool).await;
    let res = w
        .app
        .with(Method::POST, "/v1/users", &w.admin)
        .json(&new_user("grace@example.com"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let user: serde_json::Value = res.json().await.expect("json");
    for field in [
        "id",
        "email",
        "role",
        "display_name",
        "disabled",
        "max_keys",
        "allowed_scopes",
        "created_at",
        "last_login_at",
    ] {
        assert!(user.get(field).is_some(), "User lacks {field}");
    }
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    assert_eq!(user["max_keys"], 5);
    assert_eq!(user["allowed_scopes"], json!(["read:orders"]));
    let me = w
        .app
        .with(
            Method::GET,
            "/v1/me",
            &w.app.bearer("grace@example.com").await,
        )
        .send()
        .await
        .expect("sent");
    let me: serde_json::Value = me.json().await.expect("json");
    assert_eq!(me["id"], user["id"]);
    assert!(me["last_login_at"].is_string());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_duplicate_email_is_a_conflict_whatever_its_case(pool: PgPool) {
    let w = world(pool).await;
    assert_eq!(
        w.app
            .refused(
                Method::POST,
                "/v1/users",
                &w.admin,
                Some(&new_user("OWNER@example.com")),
                409
            )
            .await["code"],
        "conflict"
    );
}

/// Two accounts never differ only in how their email is written: Unicode forms of one
/// accent and letter case are one address (409), stored in canonical form; invisible
/// characters, fullwidth letters and mixed scripts are refused with a 400 naming the
/// email (before, each made a separate account).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn look_alike_emails_are_one_account_or_refused(pool: PgPool) {
    let w = &world(pool).await;
    let create = |email: &str| {
        let body = new_user(email);
        async move { w.app.post_json("/v1/users", &w.admin, &body).await }
    };
    let (status, zoe) = create("Zo\u{eb}@Example.com").await;
    assert_eq!(status, 201, "{zoe}");
    assert_eq!(
        zoe["email"], "zo\u{eb}@example.com",
        "stored in canonical form"
    );
    let (status, body) = create("zoe\u{308}@example.com").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    for look_alike in [
        "owner\u{200b}@example.com",
        "\u{ff4f}wner@example.com",
        "\u{43e}wner@example.com",
        "owner@ex\u{430}mple.com",
    ] {
        let (status, body) = create(look_alike).await;
        assert_eq!(status, 400, "{look_alike:?}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("email: ")),
            "{body}"
        );
    }
    // Signing in uses the same canonical form.
    assert_eq!(
        w.app
            .sign_in("ZOE\u{308}@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn invalid_input_is_a_400_naming_the_field(pool: PgPool) {
    let w = world(pool).await;
    let cases = [
        (
            json!({ "email": "not-an-email", "password": PASSWORD, "role": "owner" }),
            "email",
        ),
        (
            json!({ "email": "x@example.com", "password": "short", "role": "owner" }),
            "password",
        ),
        (
            json!({ "email": "x@example.com", "password": "Password1234", "role": "owner" }),
            "password",
        ),
        (
            json!({ "email": "x@example.com", "password": PASSWORD, "role": "root" }),
            "role",
        ),
        (
            json!({ "email": "x@example.com", "password": PASSWORD, "role": "owner", "max_keys": -1 }),
            "max_keys",
        ),
        (
            json!({ "email": "x@example.com", "password": PASSWORD, "role": "owner", "allowed_scopes": ["Bad Scope"] }),
            "allowed_scopes",
        ),
        (
            json!({ "email": "x@example.com", "password": PASSWORD, "role": "owner", "is_admin": true }),
            "is_admin",
        ),
        (
            json!({ "email": "x@example.com", "role": "owner" }),
            "password",
        ),
    ];
    for (body, field) in cases {
        let p = w
            .app
            .refused(Method::POST, "/v1/users", &w.admin, Some(&body), 400)
            .await;
        assert!(detail(&p).contains(field), "{field}: {p}");
        assert!(!detail(&p).contains("Password1234"), "no secret echoed");
    }
    let res = w
        .app
        .with(Method::POST, "/v1/users", &w.admin)
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(res, 415).await["code"], "unsupported_media_type");
    let res = w
        .app
        .with(Method::POST, "/v1/users", &w.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(res, 400).await["code"], "invalid_request");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn sql_looking_and_unicode_input_is_stored_verbatim(pool: PgPool) {
    let w = world(pool).await;
    let name = "Robert'); DROP TABLE users;-- 🗝️ Zoë";
    let body = json!({ "email": "bobby@example.com", "password": PASSWORD, "role": "owner", "display_name": name });
    let res = w
        .app
        .with(Method::POST, "/v1/users", &w.admin)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let user: serde_json::Value = res.json().await.expect("json");
    assert_eq!(user["display_name"], name);
    let id = user["id"].as_str().expect("id");
    let again: serde_json::Value = w.app.get_json(&format!("/v1/users/{id}"), &w.admin).await;
    assert_eq!(again["display_name"], name);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn only_admins_change_users_and_only_readers_list_them(pool: PgPool) {
    let w = world(pool).await;
    let other = format!("/v1/users/{}", w.other_owner_id);
    for token in [&w.auditor, &w.owner] {
        assert_eq!(
            w.app
                .refused(
                    Method::POST,
                    "/v1/users",
                    token,
                    Some(&new_user("new@example.com")),
                    403
                )
                .await["code"],
            "forbidden"
        );
        let res = w
            .app
            .with(Method::PATCH, &other, token)
            .json(&json!({ "role": "admin" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 403);
    }
    assert_eq!(
        w.app.status(Method::GET, "/v1/users", &w.auditor).await,
        200
    );
    assert_eq!(w.app.status(Method::GET, "/v1/users", &w.owner).await, 403);
    // An owner cannot see another user, and cannot tell whether they exist.
    let hidden = w
        .app
        .with(Method::GET, &other, &w.owner)
        .send()
        .await
        .expect("sent");
    let missing = w
        .app
        .with(
            Method::GET,
            &format!("/v1/users/{}", uuid::Uuid::new_v4()),
            &w.owner,
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(
        (hidden.status(), missing.status()),
        (
            reqwest::StatusCode::NOT_FOUND,
            reqwest::StatusCode::NOT_FOUND
        )
    );
    let own = w
        .app
        .with(Method::GET, &format!("/v1/users/{}", w.owner_id), &w.owner)
        .send()
        .await
        .expect("sent");
    assert_eq!(own.status(), 200);
    assert_eq!(w.app.status(Method::GET, "/v1/audit", &w.owner).await, 403);
    assert_eq!(
        w.app.status(Method::GET, "/v1/audit", &w.auditor).await,
        200
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn role_changes_and_disabling_take_effect_on_existing_tokens(pool: PgPool) {
    let w = world(pool).await;
    let path = format!("/v1/users/{}", w.owner_id);
    let res = w
        .app
        .with(Method::PATCH, &path, &w.admin)
        .json(&json!({ "role": "auditor", "max_keys": null }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let user: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        (user["role"].as_str(), user["max_keys"].is_null()),
        (Some("auditor"), true)
    );
    assert_eq!(
        w.app.status(Method::GET, "/v1/users", &w.owner).await,
        200,
        "promoted at once"
    );

    let res = w
        .app
        .with(Method::PATCH, &path, &w.admin)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(
        w.app.status(Method::GET, "/v1/me", &w.owner).await,
        401,
        "disabled at once"
    );
    assert_eq!(
        w.app.sign_in("owner@example.com", PASSWORD).await.status(),
        401
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_admin_cannot_demote_or_disable_themselves(pool: PgPool) {
    let w = world(pool).await;
    let me: serde_json::Value = w.app.get_json("/v1/me", &w.admin).await;
    let path = format!("/v1/users/{}", me["id"].as_str().expect("id"));
    for body in [json!({ "role": "owner" }), json!({ "disabled": true })] {
        assert_eq!(
            w.app
                .refused(Method::PATCH, &path, &w.admin, Some(&body), 409)
                .await["code"],
            "conflict"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn users_are_paginated_each_exactly_once(pool: PgPool) {
    let w = world(pool).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=3&cursor={c}"),
            None => "/v1/users?limit=3".to_owned(),
        };
        let page: serde_json::Value = w.app.get_json(&path, &w.admin).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (4, 4));
    assert!(
        detail(
            &w.app
                .refused(Method::GET, "/v1/users?limit=0", &w.admin, None, 400)
                .await
        )
        .starts_with("limit")
    );
    assert!(
        detail(
            &w.app
                .refused(Method::GET, "/v1/users?cursor=garbage", &w.admin, None, 400)
                .await
        )
        .starts_with("cursor")
    );
}
