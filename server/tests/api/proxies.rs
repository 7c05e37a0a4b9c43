//! Behind a reverse proxy (`LOCKSMITH_TRUSTED_PROXIES`): the client address comes from the
//! forwarded headers of a trusted peer only, and lockouts, the audit trail and the
//! portal's origin check use it.

use locksmith_core::identity::Role;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, client_from, create_user};
use crate::nginx::{Nginx, deploy_file};

async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: &str,
    password: &str,
) -> u16 {
    client
        .post(app.url("/v1/auth/token"))
        .header("x-forwarded-for", forwarded_for)
        .json(&serde_json::json!({ "email": "ada@example.com", "password": password }))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

async fn latest_source_ip(pool: &PgPool, action: &str) -> Option<String> {
    sqlx::query_scalar("SELECT source_ip FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1")
        .bind(action)
        .fetch_one(pool)
        .await
        .expect("an audit row")
}

/// Behind a trusted proxy every client arrives from the proxy's address; one attacker's
/// wrong passwords lock only the attacker's own address, and the audit trail names it.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn behind_a_trusted_proxy_one_attacker_locks_only_their_address(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        &[("LOCKSMITH_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let proxy = client_from("127.0.0.1");
    // What nginx's `$proxy_add_x_forwarded_for` sends: the client's own claim, then the
    // address the proxy saw.
    let attacker = "10.9.9.9, 203.0.113.66";
    for _ in 0..5 {
        assert_eq!(sign_in(&app, &proxy, attacker, "wrong password").await, 401);
    }
    assert_eq!(
        sign_in(&app, &proxy, attacker, PASSWORD).await,
        429,
        "the attacker's address is locked"
    );
    assert_eq!(
        latest_source_ip(&pool, "user.lock").await.as_deref(),
        Some("203.0.113.66"),
        "the audit trail names the client, not the proxy"
    );
    assert_eq!(
        sign_in(&app, &proxy, "198.51.100.7", PASSWORD).await,
        200,
        "the owner, through the same proxy, is not locked out"
    );
    assert_eq!(
        latest_source_ip(&pool, "user.login").await.as_deref(),
        Some("198.51.100.7")
    );
    app.shutdown().await;
}

/// Without trust, forwarded headers are the client's word and count for nothing: changing
/// them neither escapes a lockout nor changes the audit trail.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn spoofed_forwarded_headers_from_an_untrusted_peer_are_ignored(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    // The proxy is 127.0.0.1; the attacker connects from 127.0.0.2 directly.
    let app = TestApp::spawn_with(
        pool.clone(),
        &[("LOCKSMITH_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let attacker = client_from("127.0.0.2");
    for i in 0..5 {
        let claimed = format!("198.51.100.{i}");
        assert_eq!(
            sign_in(&app, &attacker, &claimed, "wrong password").await,
            401
        );
    }
    assert_eq!(
        sign_in(&app, &attacker, "198.51.100.200", PASSWORD).await,
        429,
        "a new claimed address does not escape the lockout"
    );
    assert_eq!(
        latest_source_ip(&pool, "user.lock").await.as_deref(),
        Some("127.0.0.2")
    );
    app.shutdown().await;
}

/// The portal behind a TLS-terminating proxy: the page's origin is `https://` and the
/// public host, which only a trusted proxy may assert.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_portal_origin_check_uses_the_scheme_and_host_a_trusted_proxy_reports(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        &[("LOCKSMITH_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let sign_in_via = |ip: &'static str| {
        let app = &app;
        async move {
            client_from(ip)
                .post(app.url("/api/login"))
                .header("origin", "https://keys.example.com")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "keys.example.com")
                .header("x-forwarded-for", "198.51.100.7")
                .header("accept", "text/html")
                .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    let through_proxy = sign_in_via("127.0.0.1").await;
    assert!(
        (300..400).contains(&through_proxy),
        "signed in through the proxy: {through_proxy}"
    );
    assert_eq!(
        sign_in_via("127.0.0.2").await,
        403,
        "a direct caller cannot claim the public origin"
    );
    app.shutdown().await;
}

/// Through the deployment's own nginx configuration: each client is itself, whatever it
/// writes into X-Forwarded-For, so one attacker's guesses lock only the attacker.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn through_the_deployments_nginx_each_client_is_itself(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        &[("LOCKSMITH_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let include = deploy_file("nginx/locksmith-proxy.conf")
        .display()
        .to_string();
    let nginx = Nginx::start(&format!(
        "upstream locksmith {{ server {}; keepalive 4; }}
        server {{
            listen 127.0.0.1:{{port}};
            location / {{
                proxy_pass http://locksmith;
                include {include};
            }}
        }}",
        app.addr
    ));
    let sign_in = |from: &'static str, forged: &'static str, password: &'static str| {
        let port = nginx.port;
        async move {
            client_from(from)
                .post(format!("http://127.0.0.1:{port}/v1/auth/token"))
                .header("x-forwarded-for", forged)
                .json(&serde_json::json!({ "email": "ada@example.com", "password": password }))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(sign_in("127.0.0.2", "198.51.100.1", "wrong").await, 401);
    }
    assert_eq!(sign_in("127.0.0.2", "198.51.100.2", PASSWORD).await, 429);
    assert_eq!(
        latest_source_ip(&pool, "user.lock").await.as_deref(),
        Some("127.0.0.2"),
        "the address nginx saw, not the forged one nor nginx's own"
    );
    assert_eq!(sign_in("127.0.0.3", "127.0.0.2", PASSWORD).await, 200);
    assert_eq!(
        latest_source_ip(&pool, "user.login").await.as_deref(),
        Some("127.0.0.3")
    );
    drop(nginx);
    app.shutdown().await;
}
