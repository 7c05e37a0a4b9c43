//! Security headers: a nonce-based CSP on portal pages that still lets the hydration
//! script run, a deny-all CSP elsewhere, and the usual hardening headers everywhere.

use sqlx::PgPool;

use crate::helpers::TestApp;

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing {name}"))
        .to_owned()
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_kind_of_response_is_hardened(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in [
        "/",
        "/healthz",
        "/v1/nothing",
        "/no-such-page",
        "/favicon.svg",
    ] {
        let res = app.get(path).await;
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&res, "referrer-policy"), "no-referrer", "{path}");
        assert!(
            header(&res, "content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_portal_csp_allows_exactly_the_scripts_carrying_its_nonce(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/login").await;
    assert_eq!(res.status(), 200);
    let header_csp = header(&res, "content-security-policy");
    assert!(
        header_csp.contains("frame-ancestors 'none'"),
        "{header_csp}"
    );
    let html = res.text().await.expect("html");
    // The script policy travels in the page, first in <head>, before any script.
    let meta = regex::Regex::new(r#"<meta http-equiv="Content-Security-Policy" content="([^"]+)""#)
        .expect("regex")
        .captures(&html)
        .map(|c| c[1].to_owned())
        .expect("the page carries its CSP");
    let nonce = regex::Regex::new(r"'nonce-([A-Za-z0-9_\-]+)'")
        .expect("regex")
        .captures(&meta)
        .map(|c| c[1].to_owned())
        .expect("the portal CSP carries a nonce");
    assert!(
        meta.contains("'wasm-unsafe-eval'"),
        "WASM must be allowed to compile: {meta}"
    );
    assert!(
        !meta.contains("'unsafe-inline'") && !meta.contains("'unsafe-eval'"),
        "{meta}"
    );
    let meta_at = html.find("Content-Security-Policy").expect("meta");
    let scripts = regex::Regex::new(r"<script[^>]*>").expect("regex");
    let tags: Vec<(usize, &str)> = scripts
        .find_iter(&html)
        .map(|m| (m.start(), m.as_str()))
        .collect();
    assert!(!tags.is_empty(), "the page has its hydration script");
    for (at, tag) in tags {
        assert!(at > meta_at, "a script before the policy: {tag}");
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "inline script without the nonce: {tag}"
        );
    }

    let again = app.get("/login").await.text().await.expect("html");
    assert!(!again.contains(&nonce), "a fresh nonce for every response");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn api_responses_get_the_deny_all_policy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let csp = header(&app.get("/healthz").await, "content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn hsts_is_sent_when_served_over_https(pool: PgPool) {
    let app = TestApp::spawn_with(
        pool,
        &[("LOCKSMITH_PUBLIC_URL", "https://keys.example.com")],
    )
    .await;
    assert!(header(&app.get("/healthz").await, "strict-transport-security").contains("max-age="));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn cors_is_off_unless_configured(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .get(app.url("/v1/nothing"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("sent");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn cors_allows_only_the_configured_origins(pool: PgPool) {
    let app = TestApp::spawn_with(
        pool,
        &[("LOCKSMITH_CORS_ALLOWED_ORIGINS", "https://app.example")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/nothing"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://app.example").await.expect("sent");
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        "https://app.example"
    );
    let other = preflight("https://evil.example").await.expect("sent");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
