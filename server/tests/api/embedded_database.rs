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
    /// The server's log events after the listening line, for tests that wait on one.
    events: std::sync::mpsc::Receiver<serde_json::Value>,
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
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        Self {
            child,
            addr,
            events,
        }
    }

    /// Waits (at most `within`) for a log event whose message contains `text`.
    fn wait_for_log(&self, text: &str, within: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line containing {text:?} within {within:?}"));
            if event["message"].as_str().is_some_and(|m| m.contains(text)) {
                return event;
            }
        }
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

/// The README's first-admin step, exactly as a new user takes it: the server runs on the
/// embedded database, and `locksmith user create` is run beside it with the same data dir.
/// The command must not stop the cluster under the server; the server's own stop does.
#[tokio::test]
async fn the_first_admin_is_created_beside_a_running_server() {
    let dir = data_dir();
    let client = reqwest::Client::new();
    let server = Server::start(dir.path());

    let mut create = Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args([
            "user",
            "create",
            "--email",
            "first@example.com",
            "--role",
            "admin",
        ])
        .arg("--password-stdin")
        .env_remove("DATABASE_URL")
        .env("LOCKSMITH_DATA_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("locksmith user create starts");
    {
        use std::io::Write as _;
        let mut stdin = create.stdin.take().expect("stdin");
        writeln!(stdin, "a long passphrase of ours").expect("password written");
    }
    let out = create.wait_with_output().expect("user create ends");
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
    let server = Server::start(dir.path());
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
