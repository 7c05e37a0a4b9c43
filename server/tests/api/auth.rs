//! `/v1/auth/*`: sign-in, lockout, refresh rotation and reuse, logout across instances,
//! forged tokens.

use base64::Engine as _;
use locksmith_core::identity::Role;
use reqwest::Method;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TEST_JWT_SECRET, TestApp, client_from, create_user, problem};

/// How many `user.lock` rows name this user.
async fn user_locks(pool: &PgPool, id: uuid::Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'user.lock' AND target_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .expect("count")
}

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims JSON")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn sign_in_returns_a_short_lived_jwt_and_a_refresh_token(pool: PgPool) {
    let id = create_user(&pool, "Ada@Example.com", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    // Emails are matched case-insensitively.
    let res = app.sign_in("ada@example.COM", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 40)
    );
    let c = claims(body["access_token"].as_str().expect("token"));
    assert_eq!(c["sub"], id.to_string());
    assert_eq!(c["role"], "admin");
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().expect("jti")).is_ok());
    let lifetime = c["exp"].as_i64().expect("exp") - c["iat"].as_i64().expect("iat");
    assert!(lifetime > 0 && lifetime <= 900, "{lifetime}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn wrong_email_and_wrong_password_get_the_same_answer(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let mut wrong_password = problem(
        app.sign_in("ada@example.com", "not the password at all")
            .await,
        401,
    )
    .await;
    let mut wrong_email = problem(app.sign_in("nobody@example.com", PASSWORD).await, 401).await;
    wrong_password["request_id"] = serde_json::Value::Null;
    wrong_email["request_id"] = serde_json::Value::Null;
    assert_eq!(wrong_password, wrong_email);
    assert_eq!(wrong_email["code"], "invalid_credentials");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn five_failures_lock_the_account_even_for_the_right_password(pool: PgPool) {
    let id = create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool.clone()).await;
    for _ in 0..5 {
        assert_eq!(
            app.sign_in("ada@example.com", "wrong password, again")
                .await
                .status(),
            401
        );
    }
    let res = app.sign_in("ada@example.com", PASSWORD).await;
    let retry_after: i64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    let body = problem(res, 429).await;
    assert_eq!(body["code"], "account_locked");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Sign-in opens again at 20")),
        "the answer says when the lock ends: {body}"
    );
    let locks = user_locks(&pool, id).await;
    assert_eq!(locks, 1, "the lockout itself is audited");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn many_failures_from_one_address_lock_the_address(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        &[("LOCKSMITH_LOCKOUT_ADDRESS_FAILURES", "20")],
    )
    .await;
    for i in 0..20 {
        assert_eq!(
            app.sign_in(&format!("guess{i}@example.com"), "whatever it may be")
                .await
                .status(),
            401
        );
    }
    let body = problem(app.sign_in("ada@example.com", PASSWORD).await, 429).await;
    assert_eq!(body["code"], "account_locked");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'address.lock'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(audited, 1);
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/refresh"))
        .json(&serde_json::json!({ "refresh_token": token }))
        .send()
        .await
        .expect("sent")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_family(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let first = app.tokens("ada@example.com").await;
    let first_refresh = first["refresh_token"].as_str().expect("refresh");

    let res = refresh(&app, first_refresh).await;
    assert_eq!(res.status(), 200);
    let second: serde_json::Value = res.json().await.expect("json");
    let second_refresh = second["refresh_token"].as_str().expect("refresh");
    assert_ne!(first_refresh, second_refresh);
    let me = app
        .with(
            Method::GET,
            "/v1/me",
            second["access_token"].as_str().expect("access"),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 200);

    let reused = problem(refresh(&app, first_refresh).await, 401).await;
    assert_eq!(reused["code"], "token_reused");
    let revoked = problem(refresh(&app, second_refresh).await, 401).await;
    assert_eq!(
        revoked["code"], "invalid_token",
        "the whole family is revoked"
    );
    assert_eq!(
        problem(refresh(&app, "lsr_made_up").await, 401).await["code"],
        "invalid_token"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn logout_on_one_instance_is_seen_by_another_at_once(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let a = TestApp::spawn(pool.clone()).await;
    let b = TestApp::spawn(pool).await;
    let tokens = a.tokens("ada@example.com").await;
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        b.with(Method::GET, "/v1/me", access)
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );

    let out = a
        .with(Method::POST, "/v1/auth/logout", access)
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), 204);

    let after = problem(
        b.with(Method::GET, "/v1/me", access)
            .send()
            .await
            .expect("sent"),
        401,
    )
    .await;
    assert_eq!(after["code"], "unauthorized");
    let refreshed = refresh(&b, tokens["refresh_token"].as_str().expect("refresh")).await;
    assert_eq!(refreshed.status(), 401, "the refresh family is revoked too");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn forged_tokens_are_refused(pool: PgPool) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let id = create_user(&pool, "ada@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({ "sub": id, "role": "admin", "jti": uuid::Uuid::new_v4(), "iat": now, "exp": now + 300 });
    let sign = |alg, secret: &str, claims: &serde_json::Value| {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    };

    let genuine = sign(Algorithm::HS256, TEST_JWT_SECRET, &claims);
    assert_eq!(
        app.with(Method::GET, "/v1/me", &genuine)
            .send()
            .await
            .expect("sent")
            .status(),
        200,
        "control"
    );

    let other_key = sign(
        Algorithm::HS256,
        "another-secret-that-is-long-enough-000",
        &claims,
    );
    let other_alg = sign(Algorithm::HS384, TEST_JWT_SECRET, &claims);
    let payload = genuine.split('.').nth(1).expect("payload");
    let none_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{payload}.");
    let mut expired_claims = claims.clone();
    expired_claims["iat"] = (now - 3600).into();
    expired_claims["exp"] = (now - 1800).into();
    let expired = sign(Algorithm::HS256, TEST_JWT_SECRET, &expired_claims);

    for (name, token) in [
        ("other key", other_key),
        ("HS384", other_alg),
        ("alg none", alg_none),
        ("expired", expired),
        ("garbage", "a.b.c".into()),
    ] {
        let res = app
            .with(Method::GET, "/v1/me", &token)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 401, "{name}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{name}");
    }
    let missing = app
        .client
        .get(app.url("/v1/me"))
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(missing, 401).await["code"], "unauthorized");
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is this machine);
/// it does not follow redirects, as a browser's form post is seen here.
async fn sign_in_from(app: &TestApp, client: &reqwest::Client, password: &str) -> u16 {
    client
        .post(app.url("/v1/auth/token"))
        .json(&serde_json::json!({ "email": "ada@example.com", "password": password }))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Five wrong passwords from one address lock the account *for that address*: the owner
/// signing in from elsewhere, or a colleague behind the same NAT with their own account,
/// is not locked out by a stranger's guesses.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_low_threshold_locks_an_account_from_one_address_only(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    create_user(&pool, "colleague@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool.clone()).await;
    let attacker = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&app, &attacker, "wrong password, again").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&app, &attacker, PASSWORD).await,
        429,
        "locked for the guessing address"
    );
    assert_eq!(
        sign_in_from(&app, &client_from("127.0.0.3"), PASSWORD).await,
        200,
        "not for another"
    );
    let colleague = attacker
        .post(app.url("/v1/auth/token"))
        .json(&serde_json::json!({ "email": "colleague@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        colleague.status(),
        200,
        "nor for another account from the same address"
    );
}

/// Guesses spread over addresses meet the account-wide threshold, which locks the account
/// from everywhere; an unknown email locks exactly the same way (nothing is disclosed).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_account_wide_threshold_locks_everywhere(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app =
        TestApp::spawn_with(pool.clone(), &[("LOCKSMITH_LOCKOUT_ACCOUNT_FAILURES", "8")]).await;
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let client = client_from(ip);
        for _ in 0..4 {
            assert_eq!(
                sign_in_from(&app, &client, "wrong password, again").await,
                401
            );
        }
    }
    assert_eq!(
        sign_in_from(&app, &client_from("127.0.0.4"), PASSWORD).await,
        429
    );
    let scope: String =
        sqlx::query_scalar("SELECT after->>'scope' FROM audit_log WHERE action = 'user.lock'")
            .fetch_one(&pool)
            .await
            .expect("one lock audited");
    assert_eq!(scope, "account");

    let nobody = client_from("127.0.0.5");
    let answers: Vec<u16> = {
        let mut answers = Vec::new();
        for _ in 0..6 {
            let res = nobody
                .post(app.url("/v1/auth/token"))
                .json(&serde_json::json!({ "email": "nobody@example.com", "password": "wrong password, again" }))
                .send()
                .await
                .expect("sent");
            answers.push(res.status().as_u16());
        }
        answers
    };
    assert_eq!(
        answers,
        [401, 401, 401, 401, 401, 429],
        "an unknown email locks like a real one"
    );
}

/// A burst of guesses sent at once is checked only up to the threshold: each attempt is
/// counted before its password is, and a success does not clear the lock the burst set.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_burst_of_guesses_cannot_race_the_lockout(pool: PgPool) {
    let id = create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = std::sync::Arc::new(TestApp::spawn(pool.clone()).await);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(9));
    let mut attempts = Vec::new();
    for i in 0..9 {
        let (app, barrier) = (app.clone(), barrier.clone());
        let password = if i == 4 {
            PASSWORD
        } else {
            "wrong password, again"
        };
        attempts.push(tokio::spawn(async move {
            let request = app
                .client
                .post(app.url("/v1/auth/token"))
                .json(&serde_json::json!({ "email": "ada@example.com", "password": password }));
            barrier.wait().await;
            request.send().await.expect("sent").status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s != 429).count();
    assert!(
        checked <= 5,
        "at most the threshold's attempts are checked: {statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        app.sign_in("ada@example.com", PASSWORD).await.status(),
        429,
        "the lock stands"
    );
    let locks = user_locks(&pool, id).await;
    assert_eq!(locks, 1, "the lock is recorded once");
}

/// Whatever the email holds (a NUL byte, which PostgreSQL's text cannot store; found by
/// the schema fuzzer; look-alike characters; a megabyte), a sign-in answers 401, never a
/// server error.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn any_email_is_answered_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for email in [
        "\u{0}@example.com",
        "a\u{0}b",
        &"x".repeat(10_000),
        "ａｄａ@example.com",
        "a\u{200b}@b.c",
    ] {
        let res = app.sign_in(email, "whatever it may be").await;
        assert_eq!(res.status(), 401, "{email:?}");
    }
}

/// The portal's sign-in spends the same per-address budget as the REST token endpoint
/// (before, it had none): an address over it gets 429 with `retry-after` at either door,
/// and other addresses are not affected.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_sign_in_door_shares_one_rate_per_address(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool,
        &[
            ("LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE", "6"),
            ("LOCKSMITH_AUTH_RATE_LIMIT_BURST", "3"),
        ],
    )
    .await;
    let noisy = client_from("127.0.0.21");
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(&app, &noisy, "wrong password, again").await,
            401
        );
    }
    let portal = app
        .server_fn(
            &noisy,
            "login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(portal.status(), 429, "the portal door is limited too");
    assert!(portal.headers().contains_key("retry-after"));
    let rest = noisy
        .post(app.url("/v1/auth/token"))
        .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(rest, 429).await["code"], "rate_limited");

    let quiet = client_from("127.0.0.22");
    let portal = app
        .server_fn(
            &quiet,
            "login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(portal.status().is_redirection(), "{}", portal.status());
}

/// Password checks run a bounded number at a time: a burst beyond the checks running and
/// the queue is refused at once with 503 and `retry-after`, at both doors, instead of
/// piling 19 MiB argon2 hashes onto the blocking pool. Sign-in works again after it.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_burst_of_sign_ins_beyond_the_hashing_bound_is_refused_at_once(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = std::sync::Arc::new(
        TestApp::spawn_with(
            pool,
            &[
                ("LOCKSMITH_PASSWORD_CHECKS_CONCURRENT", "1"),
                ("LOCKSMITH_PASSWORD_CHECKS_QUEUE", "0"),
                ("LOCKSMITH_AUTH_RATE_LIMIT_PER_MINUTE", "0"),
            ],
        )
        .await,
    );
    const BURST: usize = 12;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(BURST));
    let mut attempts = Vec::new();
    for i in 0..BURST {
        let (app, barrier) = (app.clone(), barrier.clone());
        attempts.push(tokio::spawn(async move {
            // Each guesses another email, so that no lockout counter is involved.
            let email = format!("guess{i}@example.com");
            let browser = reqwest::Client::new();
            barrier.wait().await;
            let res = if i % 2 == 0 {
                app.sign_in(&email, "wrong password, again").await
            } else {
                app.server_fn(
                    &browser,
                    "login",
                    &[
                        ("email", email.as_str()),
                        ("password", "wrong password, again"),
                    ],
                )
                .await
            };
            let retry = res.headers().contains_key("retry-after");
            (i % 2 == 0, res.status().as_u16(), retry)
        }));
    }
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("task"));
    }
    let busy: Vec<_> = outcomes.iter().filter(|(_, s, _)| *s == 503).collect();
    assert!(!busy.is_empty(), "some were refused: {outcomes:?}");
    assert!(busy.iter().all(|(_, _, retry)| *retry), "{outcomes:?}");
    assert!(
        outcomes.iter().all(|(_, s, _)| *s == 503 || *s == 401),
        "the others were checked: {outcomes:?}"
    );
    assert_eq!(app.sign_in("ada@example.com", PASSWORD).await.status(), 200);
}
