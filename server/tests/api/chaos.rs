//! Chaos: real `locksmith serve` processes broken on purpose, under load. Each test asserts
//! invariants (never overspent, never VALID when revoked, no usage lost, no request
//! hanging past its timeout), never timings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use locksmith_core::identity::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{DbProxy, PASSWORD, create_user};
use crate::process::Server;

/// The URL of the test's database, optionally through a proxy's port.
fn database_url(pool: &PgPool, port: Option<u16>) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        port.unwrap_or(options.get_port()),
        options.get_database().expect("a database")
    )
}

/// Starts an instance off the async runtime (reading its log blocks, and the proxy it may
/// connect through runs on this runtime).
async fn instance(url: &str, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), url.to_owned()),
        ("LOCKSMITH_DATA_DIR".into(), data_dir.display().to_string()),
        ("LOCKSMITH_API_RATE_LIMIT_PER_MINUTE".into(), "0".into()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start(&env, &[])
    })
    .await
    .expect("started")
}

/// An admin's token, a keyspace and a verifier token on `server`.
struct Setup {
    admin: String,
    keyspace: String,
    verifier: String,
}

async fn setup(client: &reqwest::Client, server: &Server) -> Setup {
    let tokens: Value = client
        .post(server.url("/v1/auth/token"))
        .json(&json!({ "email": "admin@chaos.test", "password": PASSWORD }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("tokens");
    let admin = tokens["access_token"].as_str().expect("token").to_owned();
    let keyspace = post(
        client,
        server,
        &admin,
        "/v1/keyspaces",
        json!({ "name": "Chaos", "prefix": "chaos" }),
    )
    .await;
    let keyspace = keyspace["id"].as_str().expect("id").to_owned();
    let verifier = post(
        client,
        server,
        &admin,
        &format!("/v1/keyspaces/{keyspace}/verifiers"),
        json!({ "name": "svc" }),
    )
    .await;
    Setup {
        admin,
        keyspace,
        verifier: verifier["token"].as_str().expect("token").to_owned(),
    }
}

async fn post(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    path: &str,
    body: Value,
) -> Value {
    let res = client
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.expect("JSON")
}

/// One verification at `endpoint` (an instance's `/v1/verify`): the status, and the code
/// when it was processed.
async fn verify(client: &reqwest::Client, endpoint: &str, token: &str, key: &str) -> (u16, String) {
    let res = client
        .post(endpoint)
        .bearer_auth(token)
        .json(&json!({ "key": key }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let Ok(res) = res else {
        return (0, "connection failed".into());
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or_default();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("locksmith-chaos-")
        .tempdir()
        .expect("tempdir")
}

/// Two instances spend one quota; one is killed (SIGKILL) while holding leased credit and
/// the other keeps verifying until the quota is spent. Never more VALID answers than the
/// limit, and every credit is accounted for: spent, or lost with the dead lease (counted as
/// spent, as the README says), so `quota_used` ends exactly at the limit.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_killed_instance_never_lets_a_quota_be_overspent(pool: PgPool) {
    create_user(&pool, "admin@chaos.test", Role::Admin).await;
    let dir = data_dir();
    let url = database_url(&pool, None);
    let a = instance(&url, dir.path(), &[]).await;
    let b = instance(&url, dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let s = setup(&client, &a).await;
    const LIMIT: i64 = 400;
    let key = post(
        &client,
        &a,
        &s.admin,
        "/v1/keys",
        json!({ "keyspace_id": s.keyspace, "name": "metered", "quota": { "limit": LIMIT, "period": "total" } }),
    )
    .await;
    let secret = key["key"].as_str().expect("secret").to_owned();
    let key_id: uuid::Uuid = key["id"].as_str().expect("id").parse().expect("uuid");

    // B verifies all along; A verifies, leasing credit, and is killed mid-stream.
    let on_b = {
        let (client, b, token, secret) = (
            client.clone(),
            b.url("/v1/verify"),
            s.verifier.clone(),
            secret.clone(),
        );
        tokio::spawn(async move {
            let mut valid = 0_i64;
            for _ in 0..(LIMIT * 3) {
                match verify(&client, &b, &token, &secret).await {
                    (200, code) if code == "VALID" => valid += 1,
                    (200, code) if code == "QUOTA_EXCEEDED" => return (valid, true),
                    (status, code) => panic!("B answered {status} {code}"),
                }
            }
            (valid, false)
        })
    };
    let mut valid_a = 0_i64;
    for _ in 0..100 {
        let (status, code) = verify(&client, &a.url("/v1/verify"), &s.verifier, &secret).await;
        assert_eq!(status, 200);
        if code == "VALID" {
            valid_a += 1;
        }
    }
    a.kill();
    let (valid_b, exhausted) = on_b.await.expect("B's load");
    assert!(exhausted, "B spends what is left and then refuses");
    let valid = valid_a + valid_b;
    assert!(
        valid <= LIMIT,
        "overspent: {valid} VALID answers for a limit of {LIMIT}"
    );
    let used: i64 = sqlx::query_scalar("SELECT quota_used FROM keys WHERE id = $1")
        .bind(key_id)
        .fetch_one(&pool)
        .await
        .expect("quota_used");
    assert_eq!(
        used, LIMIT,
        "every credit is spent or lost with the dead lease"
    );
    let lost = LIMIT - valid;
    eprintln!(
        "chaos: {valid_a} VALID on A before SIGKILL, {valid_b} on B, {lost} credits lost with A's lease"
    );
}

/// PostgreSQL goes away under verification load (every connection dropped, new ones
/// refused), then comes back; then it stalls (connections accepted, never answered);
/// then it answers every round trip 1.5 s late.
/// Throughout: a revoked key is never VALID; an uncached key answers 503 within its
/// timeout instead of hanging; readiness says 503 and then 200 again; the usage counted
/// meanwhile is written once the database is back, none of it lost.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_database_outage_under_load_loses_nothing_and_admits_no_revoked_key(pool: PgPool) {
    create_user(&pool, "admin@chaos.test", Role::Admin).await;
    let proxy = DbProxy::start(&pool).await;
    let dir = data_dir();
    let server = instance(
        &database_url(&pool, Some(proxy.port)),
        dir.path(),
        &[("LOCKSMITH_DB_ACQUIRE_TIMEOUT_SECS", "1")],
    )
    .await;
    let endpoint = server.url("/v1/verify");
    let client = reqwest::Client::new();
    let s = setup(&client, &server).await;
    let key = |name: &'static str| {
        let body = json!({ "keyspace_id": s.keyspace, "name": name });
        let (client, server, admin) = (client.clone(), &server, s.admin.clone());
        async move { post(&client, server, &admin, "/v1/keys", body).await }
    };
    let good = key("good").await;
    let revoked = key("revoked").await;
    let cold = key("never verified before the outage").await;
    let secret = |k: &Value| k["key"].as_str().expect("secret").to_owned();
    let revoked_id = revoked["id"].as_str().expect("id").to_owned();
    post(
        &client,
        &server,
        &s.admin,
        &format!("/v1/keys/{revoked_id}/revoke"),
        json!({}),
    )
    .await;
    // Both in this instance's cache before the database goes.
    assert_eq!(
        verify(&client, &endpoint, &s.verifier, &secret(&good))
            .await
            .1,
        "VALID"
    );
    assert_eq!(
        verify(&client, &endpoint, &s.verifier, &secret(&revoked))
            .await
            .1,
        "REVOKED"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, endpoint, token) = (client.clone(), endpoint.clone(), s.verifier.clone());
        let (good, revoked, stop) = (secret(&good), secret(&revoked), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut valid_good, mut answers) = (0_u64, 0_u64);
            while !stop.load(Ordering::SeqCst) {
                let (status, code) = verify(&client, &endpoint, &token, &revoked).await;
                assert!(code != "VALID", "a revoked key was VALID ({status})");
                if verify(&client, &endpoint, &token, &good).await.1 == "VALID" {
                    valid_good += 1;
                }
                answers += 1;
            }
            (valid_good, answers)
        })
    };

    for outage in ["cut", "stall", "slow"] {
        match outage {
            "cut" => proxy.cut(),
            "stall" => proxy.stall(),
            // Every round trip 1.5 s late: past the hot path's 1 s budget and the 1 s
            // acquire timeout, under readiness' 2 s.
            _ => proxy.slow_down(Duration::from_millis(1500)),
        }
        let started = Instant::now();
        loop {
            let res = client
                .get(server.url("/readyz"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .expect("readiness answers, never hangs");
            if res.status() == 503 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{outage}: readiness never said 503"
            );
        }
        let asked = Instant::now();
        let (status, _) = verify(&client, &endpoint, &s.verifier, &secret(&cold)).await;
        assert_eq!(status, 503, "{outage}: an uncached key cannot be answered");
        assert!(
            asked.elapsed() < Duration::from_secs(4),
            "{outage}: answered after {:?}",
            asked.elapsed()
        );

        proxy.restore();
        let started = Instant::now();
        while client
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status()
            != 200
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{outage}: never ready again"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (valid_good, answers) = load.await.expect("load");
    assert!(answers > 0);
    // The breaker stays open for its cool-down after the last failure, then closes: the
    // cold key verifies without anyone touching the instance.
    let started = Instant::now();
    loop {
        match verify(&client, &endpoint, &s.verifier, &secret(&cold)).await {
            (200, code) if code == "VALID" => break,
            (503, _) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "the breaker never closed"
            ),
            other => panic!("the cold key answered {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        verify(&client, &endpoint, &s.verifier, &secret(&revoked))
            .await
            .1,
        "REVOKED"
    );
    assert!(
        metric(&client, &server, "verify_breaker_trips_total").await > 0.0,
        "the breaker opened"
    );

    // A graceful stop writes what is left; no VALID answer goes uncounted.
    // Off the runtime: the server's last writes go through the proxy, which runs on it.
    tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("stopped");
    let counted: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(valid), 0)::bigint FROM key_usage WHERE key_id = $1",
    )
    .bind(
        good["id"]
            .as_str()
            .expect("id")
            .parse::<uuid::Uuid>()
            .expect("uuid"),
    )
    .fetch_one(&pool)
    .await
    .expect("usage");
    // One VALID before the load started.
    assert_eq!(
        counted,
        i64::try_from(valid_good).expect("count") + 1,
        "usage complete after recovery"
    );
    eprintln!(
        "chaos: {answers} rounds under three outages, {valid_good} VALID for the cached key, all counted"
    );
}

/// A private `redis-server` (no persistence) on a fixed port, that a test stops with
/// SIGKILL and starts again.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) and waits until it answers a PING.
    async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/bootstrap.sh installs it)");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut reply = [0_u8; 5];
                if stream.write_all(b"PING\r\n").await.is_ok()
                    && stream.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG"
                {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server never answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: connections drop, counts are gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of a counter in an instance's `/metrics` (0 before its first increment).
async fn metric(client: &reqwest::Client, server: &Server, name: &str) -> f64 {
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `verify_rate_fallbacks_total` of an instance.
async fn fallbacks(client: &reqwest::Client, server: &Server) -> f64 {
    metric(client, server, "verify_rate_fallbacks_total").await
}

/// Verifications of one key, alternating between two instances: how many were VALID, and
/// the slowest answer.
async fn valid_of(
    client: &reqwest::Client,
    endpoints: [&str; 2],
    token: &str,
    key: &str,
    n: usize,
) -> (usize, Duration) {
    let (mut valid, mut slowest) = (0, Duration::ZERO);
    for i in 0..n {
        let asked = Instant::now();
        match verify(client, endpoints[i % 2], token, key).await {
            (200, code) if code == "VALID" => valid += 1,
            (200, code) if code == "RATE_LIMITED" => {}
            other => panic!("answered {other:?}"),
        }
        slowest = slowest.max(asked.elapsed());
    }
    (valid, slowest)
}

/// Redis is killed under verification load in the global rate mode, then started again
/// (empty). Verifications never fail meanwhile: each instance falls back to counting on
/// its own (counted in `verify_rate_fallbacks_total`), and once Redis is back the limit
/// holds across instances again.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn redis_lost_under_load_falls_back_and_is_used_again(pool: PgPool) {
    create_user(&pool, "admin@chaos.test", Role::Admin).await;
    let mut redis = PrivateRedis::start().await;
    let dir = data_dir();
    let url = database_url(&pool, None);
    let redis_url = redis.url();
    let env = [("LOCKSMITH_REDIS_URL", redis_url.as_str())];
    let a = instance(&url, dir.path(), &env).await;
    let b = instance(&url, dir.path(), &env).await;
    let client = reqwest::Client::new();
    let s = setup(&client, &a).await;
    let limited = |name: &'static str| {
        let body = json!({ "keyspace_id": s.keyspace, "name": name,
                           "rate_limit": { "limit": 20, "window_seconds": 3600 } });
        let (client, a, admin) = (client.clone(), &a, s.admin.clone());
        async move {
            post(&client, a, &admin, "/v1/keys", body).await["key"]
                .as_str()
                .expect("secret")
                .to_owned()
        }
    };
    let (before, during, after) = (
        limited("before").await,
        limited("during").await,
        limited("after").await,
    );
    let endpoints = [a.url("/v1/verify"), b.url("/v1/verify")];
    let endpoints = [endpoints[0].as_str(), endpoints[1].as_str()];

    let (shared, _) = valid_of(&client, endpoints, &s.verifier, &before, 60).await;
    assert!(
        (18..=20).contains(&shared),
        "shared through Redis: {shared} of 60 allowed"
    );

    redis.kill();
    // Each instance now counts on its own: no verification fails, and up to the limit on
    // each instance is allowed.
    let (alone, slowest) = valid_of(&client, endpoints, &s.verifier, &during, 60).await;
    assert!(
        alone > 20,
        "each instance counts on its own: {alone} of 60 allowed"
    );
    // Redis' breaker: one call a second waits for the client's timeout, the rest count
    // locally at once; nothing waits past that timeout.
    assert!(
        slowest < Duration::from_secs(2),
        "a verification took {slowest:?} without Redis"
    );
    assert!(
        fallbacks(&client, &a).await > 0.0,
        "A counted its fallbacks"
    );
    assert!(
        fallbacks(&client, &b).await > 0.0,
        "B counted its fallbacks"
    );

    redis.restart().await;
    // Back on Redis once a verification no longer falls back, on both instances.
    let started = Instant::now();
    for server in [&a, &b] {
        let endpoint = server.url("/v1/verify");
        loop {
            let before = fallbacks(&client, server).await;
            verify(&client, &endpoint, &s.verifier, &during).await;
            if fallbacks(&client, server).await == before {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "Redis never used again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (shared_again, _) = valid_of(&client, endpoints, &s.verifier, &after, 60).await;
    assert!(
        (18..=20).contains(&shared_again),
        "shared again: {shared_again} of 60 allowed"
    );
    eprintln!(
        "chaos: Redis shared {shared}/60, alone {alone}/60 (slowest {slowest:?}), shared again {shared_again}/60 after {:?}",
        started.elapsed()
    );
}
