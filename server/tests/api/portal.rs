//! The portal renders on the server, behind a session, with live data from the database.

use locksmith_core::identity::Role;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, create_user};

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn anonymous_visitors_are_sent_to_the_sign_in_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/").await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/login");
    let login = app.get("/login").await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.expect("html");
    assert!(html.contains("<title>Sign in · Locksmith</title>"));
    assert!(html.contains(r#"autocomplete="current-password""#));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_overview_renders_the_installation_from_the_database(pool: PgPool) {
    // The installation's status is for admins and auditors (owners see their keys).
    create_user(&pool, "ada@example.com", Role::Auditor).await;
    let instance_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM instance")
        .fetch_one(&pool)
        .await
        .expect("the migration created the instance row");
    let app = TestApp::spawn(pool).await;
    let browser = app.portal_session("ada@example.com").await;
    let res = app.page(&browser, "/").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = res.text().await.expect("html");
    assert!(
        html.contains("<title>Overview · Locksmith</title>"),
        "{html}"
    );
    assert!(
        html.contains(&instance_id.to_string()),
        "server-rendered status"
    );
    assert!(html.contains("PostgreSQL 1"), "server-rendered version");
    assert!(
        html.contains("ada@example.com"),
        "the signed-in user in the header"
    );
    assert!(html.contains("/pkg/locksmith.js"), "hydration script");
    assert!(html.contains("/pkg/locksmith.css"), "stylesheet");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_session_cookie_is_hardened_and_rotated_at_sign_in(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = app
        .server_fn(
            &client,
            "login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("locksmith_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP in development");
    // Signed in twice: two different session ids.
    let again = app
        .server_fn(
            &client,
            "login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    let second = again.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(cookie.split(';').next(), second.split(';').next());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_wrong_password_signs_nobody_in(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = app
        .server_fn(
            &client,
            "login",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password!"),
            ],
        )
        .await;
    assert!(!res.status().is_success());
    let page = app.page(&client, "/").await;
    assert_eq!(page.headers()["location"], "/login");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn sign_out_ends_the_session(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let browser = app.portal_session("ada@example.com").await;
    assert_eq!(app.page(&browser, "/").await.status(), 200);
    let out = app.server_fn(&browser, "logout", &[]).await;
    assert!(out.status().is_redirection(), "{}", out.status());
    let after = browser.get(app.url("/")).send().await.expect("sent");
    let status = after.status();
    let location = after
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_owned());
    let body: String = after
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    assert_eq!(
        location.as_deref(),
        Some("/login"),
        "GET / after signing out answered {status}: {body}"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn server_functions_refuse_cross_site_calls(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/api/login"))
        .header("origin", "https://evil.example")
        .header("accept", "text/html")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("set-cookie").is_none());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_unknown_page_is_a_404_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/definitely/not/here").await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.expect("html");
    assert!(html.contains("Page not found"));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_status_is_for_admins_and_auditors_only(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let anonymous = app
        .client
        .post(app.url("/api/system_status"))
        .header("origin", app.url(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous
            .text()
            .await
            .expect("body")
            .contains("Unauthorized")
    );

    // As the hydrated page calls it (fetch, no `accept: text/html`): a JSON answer.
    let status_as = |browser: reqwest::Client| {
        let url = app.url("/api/system_status");
        let origin = app.url("");
        async move {
            browser
                .post(url)
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .send()
                .await
                .expect("sent")
        }
    };
    let admin = app.portal_session("admin@example.com").await;
    let res = status_as(admin).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["schema_current"], true);
    assert!(
        body["postgres_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );

    // Owners see their keys, not the installation: no status panel, and the server
    // function refuses them (before, both showed an owner the database version and the
    // instance id).
    let owner = app.portal_session("ada@example.com").await;
    let overview = app.page(&owner, "/").await;
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.expect("html");
    assert!(html.contains("Overview"), "{html}");
    assert!(!html.contains("System status") && !html.contains("instance-id"));
    assert_eq!(status_as(owner).await.status(), 403);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn owners_get_a_403_page_and_admin_server_functions_refuse_them(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    create_user(&pool, "owner@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool.clone()).await;

    let admin = app.portal_session("admin@example.com").await;
    let page = app.page(&admin, "/users").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("owner@example.com")
    );

    let owner = app.portal_session("owner@example.com").await;
    let page = app.page(&owner, "/users").await;
    assert_eq!(page.status(), 403);
    let html = page.text().await.expect("html");
    assert!(html.contains("You do not have access to this page"));
    assert!(
        !html.contains("admin@example.com"),
        "no admin data leaks into the 403 page"
    );

    // Calling the server function directly, as an attacker would, is refused too.
    let form = [
        ("email", "sneaky@example.com"),
        ("password", PASSWORD),
        ("role", "admin"),
        ("display_name", ""),
        ("max_keys", ""),
        ("allowed_scopes", ""),
    ];
    let res = app.server_fn(&owner, "create_user", &form).await;
    assert_eq!(res.status(), 403);
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'sneaky@example.com'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(created, 0);
    let res = app.server_fn(&owner, "list_users", &[]).await;
    assert_eq!(res.status(), 403);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_admin_creates_users_from_the_portal_and_it_is_audited(pool: PgPool) {
    let admin_id = create_user(&pool, "admin@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.portal_session("admin@example.com").await;
    let form = [
        ("email", "grace@example.com"),
        ("password", PASSWORD),
        ("role", "owner"),
        ("display_name", "Grace"),
        ("max_keys", "3"),
        ("allowed_scopes", "read:orders, write:orders"),
    ];
    let res = app.server_fn(&admin, "create_user", &form).await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let (max_keys, scopes): (Option<i32>, Option<Vec<String>>) = sqlx::query_as(
        "SELECT max_keys, allowed_scopes FROM users WHERE email = 'grace@example.com'",
    )
    .fetch_one(&pool)
    .await
    .expect("created");
    assert_eq!(max_keys, Some(3));
    assert_eq!(
        scopes,
        Some(vec!["read:orders".to_owned(), "write:orders".to_owned()])
    );
    let actor: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT actor_id FROM audit_log WHERE action = 'user.create' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("audited");
    assert_eq!(actor, Some(admin_id));

    let bad = [
        ("email", "not-an-email"),
        ("password", PASSWORD),
        ("role", "owner"),
        ("display_name", ""),
        ("max_keys", ""),
        ("allowed_scopes", ""),
    ];
    let res = app.server_fn(&admin, "create_user", &bad).await;
    assert_eq!(res.status(), 400, "invalid input is a 400, never a 500");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_audit_page_is_for_admins_and_auditors(pool: PgPool) {
    create_user(&pool, "auditor@example.com", Role::Auditor).await;
    create_user(&pool, "owner@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;

    let auditor = app.portal_session("auditor@example.com").await;
    let page = app.page(&auditor, "/audit?action=user.create").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("user.create") && html.contains("owner@example.com"),
        "server-rendered entries"
    );
    assert!(
        !html.contains(r#"data-action="user.login""#),
        "the action filter applies"
    );

    let res = app.server_fn(&auditor, "verify_audit_chain", &[]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );

    let owner = app.portal_session("owner@example.com").await;
    let page = app.page(&owner, "/audit").await;
    assert_eq!(page.status(), 403);
    assert!(!page.text().await.expect("html").contains("user.create"));
    let res = app.server_fn(&owner, "verify_audit_chain", &[]).await;
    assert_eq!(res.status(), 403);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn bad_audit_filters_are_a_clear_error(pool: PgPool) {
    create_user(&pool, "auditor@example.com", Role::Auditor).await;
    let app = TestApp::spawn(pool).await;
    let auditor = app.portal_session("auditor@example.com").await;
    let page = app.page(&auditor, "/audit?from=yesterday").await;
    let html = page.text().await.expect("html");
    assert!(
        html.contains("from: use the form YYYY-MM-DDTHH:MM (UTC)"),
        "{html}"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_admin_edits_and_clears_an_owners_policy(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    let owner = create_user(&pool, "owner@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.portal_session("admin@example.com").await;
    let id = owner.to_string();
    let policy = |pool: PgPool| async move {
        sqlx::query_as::<_, (Option<i32>, Option<Vec<String>>)>(
            "SELECT max_keys, allowed_scopes FROM users WHERE email = 'owner@example.com'",
        )
        .fetch_one(&pool)
        .await
        .expect("user")
    };
    let res = app
        .server_fn(
            &admin,
            "set_owner_policy",
            &[
                ("id", &id),
                ("max_keys", "5"),
                ("allowed_scopes", "read:orders"),
            ],
        )
        .await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    assert_eq!(
        policy(pool.clone()).await,
        (Some(5), Some(vec!["read:orders".to_owned()]))
    );
    // Empty fields mean "no limit" and "any scope".
    app.server_fn(
        &admin,
        "set_owner_policy",
        &[("id", &id), ("max_keys", ""), ("allowed_scopes", "")],
    )
    .await;
    assert_eq!(policy(pool.clone()).await, (None, None));
    let bad = app
        .server_fn(
            &admin,
            "set_owner_policy",
            &[
                ("id", &id),
                ("max_keys", ""),
                ("allowed_scopes", "Not A Scope"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn expired_sessions_and_tokens_are_purged(pool: PgPool) {
    use locksmith_core::identity::PortalSession;
    use locksmith_core::identity::gate::{HashingLimit, SignInGate};
    use locksmith_core::identity::login::LockoutPolicy;
    use locksmith_core::identity::tokens::RefreshLifetime;
    use locksmith_core::limits::Rate;
    let sessions = locksmith_core::identity::SessionService::new(
        pool.clone(),
        std::sync::Arc::new(SignInGate::new(
            LockoutPolicy::default(),
            Rate::OFF,
            HashingLimit::for_this_machine(),
        )),
        RefreshLifetime {
            token: std::time::Duration::from_secs(3600),
            family: std::time::Duration::from_secs(86_400),
        },
    );
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    sessions
        .save_portal_session(&PortalSession {
            id: "old".into(),
            user_id: None,
            data: b"{}".to_vec(),
            expires_at: past,
        })
        .await
        .expect("save");
    sessions
        .save_portal_session(&PortalSession {
            id: "live".into(),
            user_id: None,
            data: b"{}".to_vec(),
            expires_at: future,
        })
        .await
        .expect("save");
    assert_eq!(
        sessions.load_portal_session("old").await.expect("load"),
        None,
        "expired sessions never load"
    );
    sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2), ($3, $4)")
        .bind(uuid::Uuid::new_v4())
        .bind(past)
        .bind(uuid::Uuid::new_v4())
        .bind(future)
        .execute(&pool)
        .await
        .expect("insert");
    let purged = sessions.purge().await.expect("purge");
    assert_eq!((purged.portal_sessions, purged.tokens), (1, 1));
    assert!(
        sessions
            .load_portal_session("live")
            .await
            .expect("load")
            .is_some()
    );
}
