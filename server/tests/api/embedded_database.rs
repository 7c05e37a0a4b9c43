//! The embedded PostgreSQL: `locksmith serve` with no `DATABASE_URL` creates, starts,
//! stops and reuses a private cluster in its data dir; readiness follows the database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use locksmith_server::embedded_pg::EmbeddedPostgres;

use crate::helpers::{TestApp, problem};

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
    locksmith_core::db::migrate(&pool)
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

/// `locksmith serve` as a user runs it: no database set up, JSON logs to read the port from.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data_dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locksmith"))
            .arg("serve")
            .env_remove("DATABASE_URL")
            .env("LOCKSMITH_DATA_DIR", data_dir)
            .env("LOCKSMITH_PORT", "0")
            .env("LOCKSMITH_LOG_FORMAT", "json")
            .env("LOCKSMITH_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("locksmith starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Wait for the line that says where it listens: an event, not a sleep.
        let addr = loop {
            let line = lines
                .next()
                .expect("locksmith exited before listening")
                .expect("readable log");
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(addr) = event["addr"].as_str() {
                break addr.to_owned();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then wait: a graceful stop exits 0 and stops the private cluster.
    fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "graceful stop exits 0, got {status}");
    }
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

    let first = Server::start(dir.path());
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

    let second = Server::start(dir.path());
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
