//! A private PostgreSQL cluster in the data dir, for running Locksmith with no database
//! set up beforehand: `initdb` on first run, started with Locksmith, stopped by the last
//! Locksmith process that uses it ([`sharing`]), restarted if it dies under a running
//! server ([`supervisor`]).
//!
//! The cluster listens on a Unix socket only (no TCP port), owned by the user that runs
//! it, with SCRAM password authentication; the password is generated once and kept in
//! the data dir with mode 0600. PostgreSQL refuses to run as root, so when Locksmith
//! runs as root the cluster runs as the unprivileged `postgres` user (or `nobody`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use nix::unistd::{Gid, Uid, User};
use rand::RngCore as _;
use sqlx::postgres::PgConnectOptions;
use tokio::process::Command;

mod sharing;
mod supervisor;

use sharing::ClusterUse;
pub use supervisor::Supervisor;

/// The database Locksmith uses inside the private cluster.
pub const DATABASE: &str = "locksmith";
/// The superuser role created by `initdb`.
pub const ROLE: &str = "locksmith";
/// The port only names the socket file; nothing listens on TCP.
const PORT: u16 = 5432;

/// Why the embedded database could not be started.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No `initdb`/`pg_ctl` on this machine.
    #[error(
        "no PostgreSQL server binaries found (looked for pg_ctl and initdb on PATH and under \
         /usr/lib/postgresql/*/bin). Install PostgreSQL (Debian: `apt-get install postgresql`) \
         or set DATABASE_URL to an existing server"
    )]
    BinariesNotFound,
    /// Locksmith runs as root and found no unprivileged user to run PostgreSQL as.
    #[error(
        "running as root, but neither a `postgres` nor a `nobody` user exists to run PostgreSQL as"
    )]
    NoUnprivilegedUser,
    /// The unprivileged user cannot reach the data dir.
    #[error(
        "the PostgreSQL user `{user}` cannot reach {path}: a parent directory is not searchable \
         by others. Choose another LOCKSMITH_DATA_DIR (e.g. /var/lib/locksmith) or set DATABASE_URL"
    )]
    Unreachable {
        /// The unprivileged user.
        user: String,
        /// The directory it cannot reach.
        path: PathBuf,
    },
    /// A PostgreSQL tool failed.
    #[error("{tool} failed ({status}); its output:\n{output}")]
    Tool {
        /// Which tool.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// What it printed, and the server log's tail when starting.
        output: String,
    },
    /// The cluster died under a running server and could not be started again.
    #[error(
        "the embedded PostgreSQL stopped and could not be restarted after {attempts} attempts; \
         Locksmith stops so that its supervisor can restart it. Last error: {last}"
    )]
    Lost {
        /// How many restarts were tried.
        attempts: u32,
        /// Why the last one failed.
        last: Box<EmbeddedPgError>,
    },
    /// A file system operation in the data dir failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, EmbeddedPgError>;

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let path = path.to_path_buf();
    move |source| EmbeddedPgError::Io {
        action,
        path,
        source,
    }
}

/// How to run a PostgreSQL client tool against a database.
#[derive(Debug)]
pub struct ClientTool {
    /// The binary.
    pub program: PathBuf,
    /// libpq's environment (`PGHOST`, `PGPASSWORD`, …): a password never goes on a
    /// command line, where other users of the machine could read it.
    pub env: Vec<(&'static str, String)>,
    /// `--dbname`: a database name or a connection URI without its password.
    pub dbname: Option<String>,
}

/// A running private cluster, claimed by this process. Call [`EmbeddedPostgres::release`]
/// when done with it: it stops the cluster unless another Locksmith process still uses
/// it. A cluster left running by a crash is found and reused by the next start.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster: Cluster,
    password: String,
    claim: ClusterUse,
}

/// Where the cluster lives and how its tools are run; cheap to clone for the supervisor.
#[derive(Debug, Clone)]
struct Cluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<User>,
}

impl EmbeddedPostgres {
    /// Initialises (first run) and starts the cluster under `data_dir`, and makes sure the
    /// `locksmith` database exists.
    pub async fn start(data_dir: &Path) -> Result<Self> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedPgError::BinariesNotFound)?;
        std::fs::create_dir_all(data_dir).map_err(io_err("creating", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("resolving", data_dir))?;
        let run_as = unprivileged_user()?;

        let cluster_dir = data_dir.join("postgres");
        let socket_dir = data_dir.join("run");
        if let Some(user) = &run_as {
            // Root's data dir must be searchable (not readable) for the cluster's owner.
            set_mode(&data_dir, 0o711)?;
            check_reachable(&data_dir, user)?;
        }
        let socket_dir = if socket_path_fits(&socket_dir) {
            socket_dir
        } else {
            // Unix socket paths are limited to 107 bytes; fall back to a short private dir.
            std::env::temp_dir().join(format!("locksmith-pg-{:016x}", path_hash(&data_dir)))
        };
        for dir in [&cluster_dir, &socket_dir] {
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
            set_mode(dir, 0o700)?;
            if let Some(user) = &run_as {
                chown(dir, user)?;
            }
        }

        let password = load_or_create_password(&data_dir.join("postgres-password"))?;
        // Claimed before anything is started, so that a process stopping the cluster
        // finishes before this one looks at it.
        let claim = ClusterUse::join(&data_dir).await?;
        let cluster = Cluster {
            bin_dir,
            data_dir,
            cluster_dir,
            socket_dir,
            run_as,
        };
        if !cluster.cluster_dir.join("PG_VERSION").exists() {
            cluster.initdb(&password).await?;
        }
        if cluster.is_running().await {
            tracing::info!(cluster = %cluster.cluster_dir.display(), "using the embedded PostgreSQL that is already running");
        } else {
            cluster.pg_ctl_start().await?;
        }
        let pg = Self {
            cluster,
            password,
            claim,
        };
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// Watches the cluster and restarts it if it dies; see [`Supervisor`].
    pub fn supervisor(&self) -> Supervisor {
        Supervisor::new(self.cluster.clone())
    }

    /// Leaves the cluster: stops it if no other Locksmith process uses it, else leaves it
    /// running for them (the last one out stops it).
    pub async fn release(self) -> Result<()> {
        if self.claim.is_last() {
            self.stop().await
        } else {
            tracing::info!("the embedded PostgreSQL stays up: another Locksmith process uses it");
            Ok(())
        }
    }

    /// Stops the cluster now, whoever else uses it (tests take the database away with it).
    pub async fn stop(&self) -> Result<()> {
        self.cluster.stop().await
    }

    /// A PostgreSQL client tool (`pg_dump`, `pg_restore`) of the cluster's own version,
    /// with the libpq environment and `--dbname` that reach the `locksmith` database.
    pub fn client_tool(&self, tool: &str) -> ClientTool {
        ClientTool {
            program: self.cluster.bin_dir.join(tool),
            env: vec![
                ("PGHOST", self.cluster.socket_dir.display().to_string()),
                ("PGPORT", PORT.to_string()),
                ("PGUSER", ROLE.to_owned()),
                ("PGPASSWORD", self.password.clone()),
            ],
            // pg_restore needs it as an argument; PGDATABASE does not do.
            dbname: Some(DATABASE.to_owned()),
        }
    }

    /// Connect options for the `locksmith` database over the private socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DATABASE)
    }

    fn options_for(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.cluster.socket_dir)
            .port(PORT)
            .username(ROLE)
            .password(&self.password)
            .database(database)
            .application_name("locksmith")
    }

    async fn ensure_database(&self) -> Result<()> {
        locksmith_core::db::ensure_database(&self.options_for("postgres"), DATABASE)
            .await
            .map(drop)
            .map_err(|e| EmbeddedPgError::Tool {
                tool: "creating the locksmith database",
                status: "error".into(),
                output: e.to_string(),
            })
    }
}

impl Cluster {
    /// Stops the cluster, waiting for it to shut down cleanly.
    async fn stop(&self) -> Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output()
            .await
            .map_err(io_err("running pg_ctl in", &self.cluster_dir))?;
        if !out.status.success() {
            return Err(tool_error("pg_ctl stop", &out, None));
        }
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    /// Whether `pg_ctl` finds the cluster's server running.
    async fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    }

    async fn initdb(&self, password: &str) -> Result<()> {
        tracing::info!(cluster = %self.cluster_dir.display(), "creating the embedded PostgreSQL cluster (first run)");
        // initdb reads the superuser password from a file that its (unprivileged) user can
        // read; it is removed again straight after.
        let pwfile = self.data_dir.join("initdb-password.tmp");
        write_private(&pwfile, password.as_bytes())?;
        if let Some(user) = &self.run_as {
            chown(&pwfile, user)?;
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args([
                "-U",
                ROLE,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .await;
        let _ = std::fs::remove_file(&pwfile);
        let out = out.map_err(io_err("running initdb in", &self.cluster_dir))?;
        if !out.status.success() {
            // Leave no half-made cluster behind, so the next start tries again from scratch.
            if let Ok(entries) = std::fs::read_dir(&self.cluster_dir) {
                for entry in entries.flatten() {
                    let p = entry.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
            return Err(tool_error("initdb", &out, None));
        }
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        let log = self.data_dir.join("postgres.log");
        if let Some(user) = &self.run_as {
            // The server appends to its log as its own user.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&log)
                .map_err(io_err("creating", &log))?;
            chown(&log, user)?;
        }
        let server_options = format!(
            "-c listen_addresses='' -k {} -p {PORT}",
            self.socket_dir.display()
        );
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(server_options)
            .output()
            .await
            .map_err(io_err("running pg_ctl in", &self.cluster_dir))?;
        if !out.status.success() {
            return Err(tool_error("pg_ctl start", &out, Some(&log)));
        }
        tracing::info!(cluster = %self.cluster_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        cmd.env("LC_ALL", "C")
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null());
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.current_dir(&self.cluster_dir);
        }
        cmd
    }

    /// Whether the postmaster named in `postmaster.pid` is alive: a file read and a
    /// signal 0, cheap enough to ask every second. A `kill -9`ed postmaster leaves its
    /// pid file behind, so the file alone proves nothing.
    fn postmaster_alive(&self) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(self.cluster_dir.join("postmaster.pid")) else {
            return false;
        };
        let Some(pid) = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
        else {
            return false;
        };
        let signalable = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Ok(()) | Err(nix::errno::Errno::EPERM)
        );
        // A killed postmaster is reparented to init, and stays a zombie (still
        // signalable) until init reaps it, which some container inits do late.
        signalable && !is_zombie(pid)
    }
}

/// Whether `/proc` shows the process as a zombie (`Z`) or dead (`X`); false where there
/// is no `/proc` to ask.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) S …`: the state follows the last `)`, as comm may hold one.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| matches!(state, "Z" | "X"))
    })
}

/// The directory holding `pg_ctl` and `initdb`: PATH first, then the newest Debian version.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("pg_ctl").is_file() && dir.join("initdb").is_file();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find_map(|dir| {
            let pg_ctl = dir.join("pg_ctl");
            // Follow symlinks such as /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl
            // so that initdb and postgres are looked up beside the real binary.
            let real = pg_ctl.canonicalize().ok()?;
            real.parent()
                .filter(|d| has_tools(d))
                .map(Path::to_path_buf)
        })
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                has_tools(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

fn unprivileged_user() -> Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            return Ok(Some(user));
        }
    }
    Err(EmbeddedPgError::NoUnprivilegedUser)
}

/// Every ancestor of `dir` must be searchable by `user` (via "other" or its group).
fn check_reachable(dir: &Path, user: &User) -> Result<()> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.permissions().mode();
        use std::os::unix::fs::MetadataExt;
        let searchable = mode & 0o001 != 0
            || (meta.gid() == user.gid.as_raw() && mode & 0o010 != 0)
            || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0);
        if !searchable {
            return Err(EmbeddedPgError::Unreachable {
                user: user.name.clone(),
                path: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn socket_path_fits(dir: &Path) -> bool {
    // sun_path holds 108 bytes including the NUL; the file is `.s.PGSQL.5432`.
    dir.as_os_str().len() + "/.s.PGSQL.5432".len() < 108
}

fn path_hash(path: &Path) -> u64 {
    // FNV-1a: a stable name for the fallback socket dir, not a security measure.
    path.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("setting permissions on", path))
}

fn chown(path: &Path, user: &User) -> Result<()> {
    nix::unistd::chown(path, Some(user.uid), Some(Gid::from_raw(user.gid.as_raw()))).map_err(|e| {
        EmbeddedPgError::Io {
            action: "changing the owner of",
            path: path.to_path_buf(),
            source: std::io::Error::from(e),
        }
    })
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("writing", path))?;
    file.write_all(contents).map_err(io_err("writing", path))
}

fn load_or_create_password(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => return Ok(existing.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("reading", path)(e)),
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(path, password.as_bytes())?;
    Ok(password)
}

fn tool_error(
    tool: &'static str,
    out: &std::process::Output,
    log: Option<&Path>,
) -> EmbeddedPgError {
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if let Some(log) = log.and_then(|l| std::fs::read_to_string(l).ok()) {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        output.push_str("\n--- server log (last lines) ---\n");
        for line in tail.into_iter().rev() {
            output.push_str(line);
            output.push('\n');
        }
    }
    EmbeddedPgError::Tool {
        tool,
        status: out.status.to_string(),
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = i32::try_from(child.id()).expect("pid");
        // Not reaped yet: `true` exits at once and stays a zombie until `wait`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !is_zombie(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "never became a zombie"
            );
            std::thread::yield_now();
        }
        child.wait().expect("reaped");
        assert!(!is_zombie(std::process::id().try_into().expect("pid")));
    }

    #[test]
    fn long_socket_dirs_are_detected() {
        assert!(socket_path_fits(Path::new("/var/lib/locksmith/run")));
        assert!(!socket_path_fits(&PathBuf::from(format!(
            "/{}",
            "x".repeat(100)
        ))));
    }

    #[test]
    fn the_fallback_socket_name_is_stable_and_distinct() {
        let a = path_hash(Path::new("/a/data"));
        assert_eq!(a, path_hash(Path::new("/a/data")));
        assert_ne!(a, path_hash(Path::new("/b/data")));
    }

    #[test]
    fn the_password_is_generated_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        let first = load_or_create_password(&path).expect("create");
        assert_eq!(first, load_or_create_password(&path).expect("reload"));
        assert!(first.len() >= 32);
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
