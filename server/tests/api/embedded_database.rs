//! The embedded PostgreSQL: `locksmith serve` with no `DATABASE_URL` creates, starts,
//! stops and reuses a private cluster in its data dir; readiness follows the database.

use std::time::Duration;

use locksmith_server::embedded_pg::EmbeddedPostgres;

use crate::helpers::{TestApp, problem};
use crate::process::Server;

/// A data dir the unprivileged PostgreSQL user can reach when the tests run as root.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("locksmith-test-")
        .tempdir_in(std::env::temp_dir())
        .expect("tempdir")
}

#[tokio::test]
async fn readiness_follows_the_database_going_down_and_coming_back() {
    let dir = data_dir();
    let pg = EmbeddedPostgres::start(dir.path())
        .await
        .expect("embedded PostgreSQL starts");
    let pool = locksmith_core::db::PoolSettings {
        acquire_timeout: Duration::from_secs(1),
        ..Default::default()
    }
    .connect_lazy(pg.connect_options());
    locksmith_core::db::Schema::new(pool.clone())
        .migrate()
        .await
        .expect("migrations apply");
    let app = TestApp::spawn(pool).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    pg.stop().await.expect("stops");
    let body = problem(app.get("/readyz").await, 503).await;
    assert_eq!(body["code"], "not_ready");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "no crash while the database is down"
    );

    let pg = EmbeddedPostgres::start(dir.path())
        .await
        .expect("restarts on the same data");
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "the pool reconnects by itself"
    );
    app.shutdown().await;
    pg.stop().await.expect("stops");
}

/// `locksmith serve` as a new user runs it: no `DATABASE_URL`, a data dir of its own.
fn embedded(data_dir: &std::path::Path) -> Server {
    Server::start(
        &[("LOCKSMITH_DATA_DIR", data_dir.to_str().expect("utf-8 path"))],
        &["DATABASE_URL"],
    )
}

/// The instance id, read from the running private cluster (which this attaches to
/// without starting or stopping it).
async fn instance_id(data_dir: &std::path::Path) -> String {
    let pg = EmbeddedPostgres::start(data_dir)
        .await
        .expect("attaches to the running cluster");
    let pool = locksmith_core::db::PoolSettings::default().connect_lazy(pg.connect_options());
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM instance")
        .fetch_one(&pool)
        .await
        .expect("instance row");
    pool.close().await;
    id.to_string()
}

#[tokio::test]
async fn serve_without_a_database_url_runs_and_reuses_a_private_cluster() {
    let dir = data_dir();
    let client = reqwest::Client::new();

    let first = embedded(dir.path());
    assert_eq!(
        client
            .get(first.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    let id = instance_id(dir.path()).await;
    first.terminate();
    assert!(
        !dir.path().join("postgres/postmaster.pid").exists(),
        "the private cluster is stopped with Locksmith"
    );
    assert!(dir.path().join("postgres/PG_VERSION").exists());
    assert!(
        dir.path().join("secrets/jwt_secret").exists(),
        "development secrets are generated once"
    );

    let second = embedded(dir.path());
    assert_eq!(
        client
            .get(second.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    assert_eq!(
        instance_id(dir.path()).await,
        id,
        "the second start reuses the same data"
    );
    second.terminate();
}

/// The README's first-admin step, exactly as a new user takes it: the server runs on the
/// embedded database, and `locksmith user create` is run beside it with the same data dir.
/// The command must not stop the cluster under the server; the server's own stop does.
#[tokio::test]
async fn the_first_admin_is_created_beside_a_running_server() {
    let dir = data_dir();
    let client = reqwest::Client::new();
    let server = embedded(dir.path());

    let out = crate::process::run(
        &[
            "user",
            "create",
            "--email",
            "first@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &[(
            "LOCKSMITH_DATA_DIR",
            dir.path().to_str().expect("utf-8 path"),
        )],
        &["DATABASE_URL"],
        "a long passphrase of ours\n",
    );
    assert!(
        out.status.success(),
        "user create exits 0, got {}",
        out.status
    );
    let id = String::from_utf8(out.stdout).expect("utf-8");
    uuid::Uuid::parse_str(id.trim()).expect("it prints the new user's id");

    assert!(
        dir.path().join("postgres/postmaster.pid").exists(),
        "the command leaves the server's cluster running"
    );
    let ready = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 200, "the server is still ready");
    let token = client
        .post(server.url("/v1/auth/token"))
        .json(&serde_json::json!({"email": "first@example.com", "password": "a long passphrase of ours"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(token.status(), 200, "the new admin signs in");

    server.terminate();
    assert!(
        !dir.path().join("postgres/postmaster.pid").exists(),
        "the last user of the cluster, the server, stops it"
    );
}

/// A postmaster killed under a running server (OOM killer, `kill -9`) is noticed and
/// started again; readiness comes back without anyone touching the server.
#[tokio::test]
async fn a_killed_embedded_postmaster_is_restarted_by_the_server() {
    let dir = data_dir();
    let client = reqwest::Client::new();
    let server = embedded(dir.path());
    let ready = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 200, "ready before the postmaster is killed");
    let pid_file = dir.path().join("postgres/postmaster.pid");
    let postmaster = |file: &std::path::Path| -> i32 {
        std::fs::read_to_string(file)
            .expect("postmaster.pid")
            .lines()
            .next()
            .expect("pid line")
            .trim()
            .parse()
            .expect("pid")
    };
    let killed = postmaster(&pid_file);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(killed),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("postmaster killed");

    server.wait_for_log("restarting it", Duration::from_secs(10));
    server.wait_for_log("embedded PostgreSQL restarted", Duration::from_secs(60));
    assert_ne!(postmaster(&pid_file), killed, "a new postmaster runs");
    let ready = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        ready.status(),
        200,
        "the pool reconnects to the restarted cluster"
    );
    server.terminate();
}

/// Backup and restore with the embedded cluster, as a new user would: `locksmith backup`
/// beside a running `serve` (sharing its cluster), then `locksmith restore` into a new
/// data dir, whose new cluster and generated secrets make the same installation: the
/// first admin signs in there.
#[tokio::test]
async fn the_embedded_cluster_is_backed_up_while_serving_and_restored_into_a_new_data_dir() {
    let first = data_dir();
    let first_dir = first.path().to_str().expect("utf-8 path").to_owned();
    let server = embedded(first.path());
    let env = [("LOCKSMITH_DATA_DIR", first_dir.as_str())];
    let out = crate::process::run(
        &[
            "user",
            "create",
            "--email",
            "first@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &env,
        &["DATABASE_URL"],
        &format!("{}\n", crate::helpers::PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backups = data_dir();
    let backup = backups.path().join("nightly");
    let backup_arg = backup.to_str().expect("utf-8 path").to_owned();
    let out = crate::process::run(
        &["backup", "--to", &backup_arg],
        &env,
        &["DATABASE_URL"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.terminate();

    let second = data_dir();
    let second_dir = second.path().to_str().expect("utf-8 path").to_owned();
    let out = crate::process::run(
        &["restore", "--from", &backup_arg],
        &[("LOCKSMITH_DATA_DIR", second_dir.as_str())],
        &["DATABASE_URL"],
        "",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("secrets written to"), "{said}");
    let pepper = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("secrets/key_pepper")).expect("a pepper")
    };
    assert_eq!(pepper(second.path()), pepper(first.path()));

    let server = embedded(second.path());
    let signed_in = reqwest::Client::new()
        .post(server.url("/v1/auth/token"))
        .json(&serde_json::json!({
            "email": "first@example.com",
            "password": crate::helpers::PASSWORD,
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_in.status(), 200);
    tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("stopped");
}
