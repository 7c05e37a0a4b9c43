//! `locksmith backup --to DIR` and `locksmith restore --from DIR`.
//!
//! A backup is a directory: `database.dump` (PostgreSQL's own `pg_dump`, custom format,
//! one consistent snapshot however busy the installation is), `secrets/` (the key pepper,
//! without which no stored key digest can ever match again, and the token and session
//! secrets), and `manifest.json` with each file's SHA-256, the schema version and what
//! the database held. Restoring checks every checksum first, refuses a database that is
//! not empty, restores with `pg_restore` in one transaction, puts the secrets where this
//! installation reads them (or checks that the configured ones are the same), migrates,
//! and checks the audit chain.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use locksmith_core::audit::AuditService;
use locksmith_core::db::Schema;
use locksmith_core::identity::Actor;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::command_error::CommandError;
use crate::config::{SecretSource, Settings};
use crate::secrets;
use crate::startup::{Database, StartupError};

const FORMAT: &str = "locksmith-backup/1";
const DUMP: &str = "database.dump";
const MANIFEST: &str = "manifest.json";
/// The secrets a restored database needs, by file name under `secrets/`.
const SECRETS: [&str; 3] = ["key_pepper", "jwt_secret", "session_secret"];

/// Every file of a backup but the manifest, relative to its directory.
fn backed_up_files() -> impl Iterator<Item = String> {
    std::iter::once(DUMP.to_owned()).chain(SECRETS.iter().map(|s| format!("secrets/{s}")))
}

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    created_at: chrono::DateTime<chrono::Utc>,
    locksmith_version: String,
    schema_version: Option<i64>,
    /// Relative path to SHA-256 (hex) of every other file of the backup.
    files: std::collections::BTreeMap<String, FileSum>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct FileSum {
    sha256: String,
    bytes: u64,
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupDone {
    /// Size of the dump.
    pub dump_bytes: u64,
    /// The schema version it holds.
    pub schema_version: Option<i64>,
}

/// Writes a backup of the configured database (embedded or `DATABASE_URL`) into `dir`,
/// which must not exist or be empty.
pub async fn backup(settings: &Settings, dir: &Path) -> Result<BackupDone, CommandError> {
    prepare_empty_dir(dir)?;
    let secrets = resolve_secrets(settings)?;
    let database = Database::open(settings).await?;
    let result = async {
        let status = Schema::new(database.pool.clone())
            .status()
            .await
            .map_err(StartupError::from)?;
        let dump = dir.join(DUMP);
        run_tool(
            &database,
            settings,
            "pg_dump",
            &[
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                &format!("--file={}", dump.display()),
            ],
        )
        .await?;
        // It holds every key digest and the audit trail: for the operator's eyes only.
        std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o600))
            .map_err(file_error(&dump))?;
        Ok::<_, CommandError>(status.applied)
    }
    .await;
    database.close().await;
    let schema_version = result?;

    let secrets_dir = dir.join("secrets");
    std::fs::create_dir(&secrets_dir).map_err(file_error(&secrets_dir))?;
    std::fs::set_permissions(&secrets_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(file_error(&secrets_dir))?;
    for (name, value) in SECRETS.iter().zip(&secrets) {
        write_private(&secrets_dir.join(name), value.expose_secret())?;
    }
    let mut files = std::collections::BTreeMap::new();
    for rel in backed_up_files() {
        files.insert(rel.clone(), checksum(&dir.join(&rel))?);
    }
    let dump_bytes = files.get(DUMP).map_or(0, |f| f.bytes);
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: chrono::Utc::now(),
        locksmith_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| CommandError::Input(format!("manifest: {e}")))?;
    write_private(&dir.join(MANIFEST), &text)?;
    sync_dir(dir)?;
    Ok(BackupDone {
        dump_bytes,
        schema_version,
    })
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreDone {
    /// Audit rows verified after the restore.
    pub audit_rows: u64,
    /// Where the secrets went, when this installation generates its own.
    pub secrets_written_to: Option<PathBuf>,
}

/// Restores the backup in `dir` into the configured database, which must be empty.
pub async fn restore(settings: &Settings, dir: &Path) -> Result<RestoreDone, CommandError> {
    let manifest = check_manifest(dir)?;
    let backed_up = read_backed_up_secrets(dir)?;
    let database = Database::open(settings).await?;
    let result = async {
        let schema = Schema::new(database.pool.clone());
        if !schema.is_empty().await.map_err(StartupError::from)? {
            return Err(CommandError::Input(
                "the database is not empty: restore only into a new, empty database \
                 (nothing was changed)"
                    .into(),
            ));
        }
        let secrets_written_to = place_secrets(settings, &backed_up)?;
        let dump = dir.join(DUMP);
        run_tool(
            &database,
            settings,
            "pg_restore",
            &[
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                &dump.display().to_string(),
            ],
        )
        .await?;
        // A backup of an older version is brought up to this one.
        schema.migrate().await.map_err(StartupError::from)?;
        let report = AuditService::new(database.pool.clone())
            .verify(Actor::SYSTEM)
            .await
            .map_err(StartupError::from)?;
        match report.first_broken {
            None => Ok((report.checked, secrets_written_to)),
            Some(row) => Err(CommandError::ChainBroken {
                row,
                checked: report.checked,
            }),
        }
    }
    .await;
    database.close().await;
    let (audit_rows, secrets_written_to) = result?;
    tracing::debug!(schema = ?manifest.schema_version, "restored");
    Ok(RestoreDone {
        audit_rows,
        secrets_written_to,
    })
}

/// The secrets to back up, in [`SECRETS`] order.
fn resolve_secrets(settings: &Settings) -> Result<Vec<SecretString>, CommandError> {
    let s = secrets::resolve_existing(&settings.secrets, &settings.data_dir)
        .map_err(|e| CommandError::Input(format!("reading the secrets: {e}")))?;
    Ok(vec![s.key_pepper, s.jwt, s.session])
}

fn read_backed_up_secrets(dir: &Path) -> Result<Vec<SecretString>, CommandError> {
    SECRETS
        .iter()
        .map(|name| {
            let path = dir.join("secrets").join(name);
            std::fs::read_to_string(&path)
                .map(|v| SecretString::from(v.trim().to_owned()))
                .map_err(file_error(&path))
        })
        .collect()
}

/// Generated secrets are written where this installation reads them. The pepper must be
/// the backed-up one, configured or generated, or no restored key and no webhook secret
/// would work; another JWT or session secret only signs everyone out, so it is kept.
fn place_secrets(
    settings: &Settings,
    backed_up: &[SecretString],
) -> Result<Option<PathBuf>, CommandError> {
    let sources = [
        ("LOCKSMITH_KEY_PEPPER", &settings.secrets.key_pepper),
        ("LOCKSMITH_JWT_SECRET", &settings.secrets.jwt_secret),
        ("LOCKSMITH_SESSION_SECRET", &settings.secrets.session_secret),
    ];
    let dir = settings.data_dir.join("secrets");
    let mut written = None;
    for (((setting, source), name), saved) in sources.iter().zip(SECRETS).zip(backed_up) {
        let essential = name == "key_pepper";
        let same = |value: &str| subtle_eq(value.as_bytes(), saved.expose_secret().as_bytes());
        match source {
            SecretSource::Provided(value) => {
                if essential && !same(value.expose_secret()) {
                    return Err(CommandError::Input(format!(
                        "{setting} is not the backed-up one: set it to the value in \
                         secrets/{name} of the backup (nothing was changed)"
                    )));
                }
            }
            SecretSource::Generate => {
                let path = dir.join(name);
                match secrets::stored(&settings.data_dir, name).map_err(file_error(&path))? {
                    Some(existing) if essential && !same(existing.expose_secret()) => {
                        return Err(CommandError::Input(format!(
                            "{} holds another {name}: restore into a new data directory \
                             (nothing was changed)",
                            path.display()
                        )));
                    }
                    Some(_) => {}
                    None => {
                        std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                            .map_err(file_error(&dir))?;
                        write_private(&path, saved.expose_secret())?;
                        written = Some(dir.clone());
                    }
                }
            }
        }
    }
    Ok(written)
}

/// Equal without telling a timing observer where they differ.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a) == Sha256::digest(b)
}

fn check_manifest(dir: &Path) -> Result<Manifest, CommandError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(file_error(&path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        CommandError::Input(format!("{}: not a backup manifest ({e})", path.display()))
    })?;
    if manifest.format != FORMAT {
        return Err(CommandError::Input(format!(
            "{}: not a {FORMAT} backup",
            path.display()
        )));
    }
    for rel in backed_up_files() {
        let expected = manifest
            .files
            .get(&rel)
            .ok_or_else(|| CommandError::Input(format!("the manifest does not list {rel}")))?;
        let actual = checksum(&dir.join(&rel))?;
        if &actual != expected {
            return Err(CommandError::Input(format!(
                "{rel} does not match the manifest's checksum: the backup is damaged \
                 (nothing was changed)"
            )));
        }
    }
    Ok(manifest)
}

async fn run_tool(
    database: &Database,
    settings: &Settings,
    tool: &str,
    args: &[&str],
) -> Result<(), CommandError> {
    let client = database.client_tool(settings, tool);
    let program = client.program;
    let mut cmd = tokio::process::Command::new(&program);
    cmd.env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .envs(client.env);
    if let Some(dbname) = client.dbname {
        cmd.arg(format!("--dbname={dbname}"));
    }
    cmd.args(args);
    let out = cmd.output().await.map_err(|e| {
        CommandError::Input(format!(
            "cannot run {} ({e}); install PostgreSQL's client tools (Debian: postgresql-client)",
            program.display()
        ))
    })?;
    if !out.status.success() {
        return Err(CommandError::Input(format!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn prepare_empty_dir(dir: &Path) -> Result<(), CommandError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CommandError::Input(format!(
                    "{} is not empty: back up into a new directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(file_error(dir))?;
        }
        Err(e) => return Err(file_error(dir)(e)),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(file_error(dir))
}

fn write_private(path: &Path, text: &str) -> Result<(), CommandError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(file_error(path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(file_error(path))
}

fn checksum(path: &Path) -> Result<FileSum, CommandError> {
    let mut file = std::fs::File::open(path).map_err(file_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 1 << 16];
    let mut bytes = 0_u64;
    loop {
        let n = file.read(&mut buf).map_err(file_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileSum {
        sha256: locksmith_core::audit::chain::hex(&hasher.finalize()),
        bytes,
    })
}

fn sync_dir(dir: &Path) -> Result<(), CommandError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(file_error(dir))
}

fn file_error(path: &Path) -> impl Fn(std::io::Error) -> CommandError + '_ {
    move |e| CommandError::Input(format!("{}: {e}", path.display()))
}
