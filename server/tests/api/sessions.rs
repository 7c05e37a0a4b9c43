//! What ends a session before its time, and that it stays ended: a stolen refresh token
//! (reuse), logout, disabling a user; and the absolute lifetime of a refresh family.

use locksmith_core::identity::Role;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, create_user, problem};

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .expect("sent")
}

/// The status `GET /v1/me` answers for `access`.
async fn me(app: &TestApp, access: &serde_json::Value) -> u16 {
    app.with(Method::GET, "/v1/me", access.as_str().expect("token"))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Whether `browser` is signed in to the portal, as the portal itself asks (the
/// `current_user` server function: the user, or `null`), so that the answer depends on
/// the session alone and not on what a page loads besides.
async fn signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    let res = browser
        .post(app.url("/api/current_user"))
        .header("origin", app.url(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let user: serde_json::Value = res.json().await.expect("JSON");
    !user.is_null()
}

/// A thief replays a refresh token its owner already used: the family is revoked, and
/// so is every access token issued in it, the thief's and the owner's alike (before,
/// they kept working for up to 15 minutes, although the answer said otherwise). Another
/// sign-in of the same user is a session of its own and goes on.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_reused_refresh_token_revokes_the_access_tokens_of_its_family(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let first = app.tokens("ada@example.com").await;
    let elsewhere = app.tokens("ada@example.com").await;
    let res = refresh(&app, first["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(res.status(), 200);
    let second: serde_json::Value = res.json().await.expect("pair");
    assert_eq!(me(&app, &first["access_token"]).await, 200);
    assert_eq!(me(&app, &second["access_token"]).await, 200);

    let reused = refresh(&app, first["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(problem(reused, 401).await["code"], "token_reused");

    assert_eq!(me(&app, &first["access_token"]).await, 401, "first access");
    assert_eq!(
        me(&app, &second["access_token"]).await,
        401,
        "second access"
    );
    assert_eq!(
        me(&app, &elsewhere["access_token"]).await,
        200,
        "another session of the same user"
    );
}

/// Logging out with the newest access token ends the session: the access tokens issued
/// earlier in the same family stop working too.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn logout_revokes_every_access_token_of_the_session(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let first = app.tokens("ada@example.com").await;
    let second: serde_json::Value = refresh(&app, first["refresh_token"].as_str().expect("r"))
        .await
        .json()
        .await
        .expect("pair");
    let out = app
        .with(
            Method::POST,
            "/v1/auth/logout",
            second["access_token"].as_str().expect("access"),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), 204);
    assert_eq!(me(&app, &first["access_token"]).await, 401);
    assert_eq!(me(&app, &second["access_token"]).await, 401);
}

/// Disabling a user ends every session they have, API and portal, and enabling them
/// again brings none of it back: they sign in afresh.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn disabling_a_user_ends_their_sessions_for_good(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    let owner_id = create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.bearer("admin@example.com").await;
    let api = app.tokens("ada@example.com").await;
    let browser = app.portal_session("ada@example.com").await;
    assert!(signed_in(&app, &browser).await);
    let portal_rows = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tower_sessions.session WHERE user_id = $1",
        )
        .bind(owner_id)
        .fetch_one(&pool)
        .await
        .expect("count")
    };
    assert_eq!(portal_rows().await, 1, "the session names its user");

    let path = format!("/v1/users/{owner_id}");
    let set_disabled = |disabled: bool| {
        let (app, admin, path) = (&app, &admin, &path);
        async move {
            let (status, body) = app
                .send_json(Method::PATCH, path, admin, &json!({ "disabled": disabled }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    set_disabled(true).await;
    assert_eq!(portal_rows().await, 0, "portal sessions deleted");
    set_disabled(false).await;

    assert_eq!(
        me(&app, &api["access_token"]).await,
        401,
        "old access token"
    );
    let old_refresh = refresh(&app, api["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(old_refresh.status(), 401, "old refresh token");
    assert!(!signed_in(&app, &browser).await, "old portal session");

    let ended: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'user.sessions_end' AND target_id = $1",
    )
    .bind(owner_id.to_string())
    .fetch_one(&pool)
    .await
    .expect("audited");
    assert_eq!(
        ended,
        json!({ "reason": "disabled", "refresh_families": 1, "portal_sessions": 1 })
    );

    let fresh = app.tokens("ada@example.com").await;
    assert_eq!(me(&app, &fresh["access_token"]).await, 200, "a new sign-in");
    let browser = app.portal_session("ada@example.com").await;
    assert!(signed_in(&app, &browser).await, "a new portal session");
}

/// A refresh family ends at its absolute deadline however often it is renewed: renewing
/// forever is not possible.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_refresh_family_ends_at_its_deadline_however_often_renewed(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        &[
            ("LOCKSMITH_REFRESH_TOKEN_TTL_SECS", "3600"),
            ("LOCKSMITH_REFRESH_FAMILY_TTL_SECS", "7200"),
        ],
    )
    .await;
    let mut pair = app.tokens("ada@example.com").await;
    let deadline: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT family_expires_at FROM refresh_tokens LIMIT 1")
            .fetch_one(&pool)
            .await
            .expect("family");
    let left = deadline - chrono::Utc::now();
    assert!(
        (7190..=7200).contains(&left.num_seconds()),
        "two hours: {left}"
    );
    // The family has ten minutes left: each renewal's token ends with the family.
    sqlx::query("UPDATE refresh_tokens SET family_expires_at = now() + interval '10 minutes'")
        .execute(&pool)
        .await
        .expect("moved");
    for _ in 0..3 {
        let res = refresh(&app, pair["refresh_token"].as_str().expect("refresh")).await;
        assert_eq!(res.status(), 200);
        pair = res.json().await.expect("pair");
    }
    let (expires, family): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT expires_at, family_expires_at FROM refresh_tokens
             WHERE used_at IS NULL",
        )
        .fetch_one(&pool)
        .await
        .expect("newest");
    assert_eq!(expires, family, "the newest token ends with its family");
    // Past the deadline the family is over.
    sqlx::query("UPDATE refresh_tokens SET family_expires_at = now(), expires_at = now()")
        .execute(&pool)
        .await
        .expect("moved");
    let over = refresh(&app, pair["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(problem(over, 401).await["code"], "invalid_token");
}
