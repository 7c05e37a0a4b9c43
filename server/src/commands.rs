//! The one-shot subcommands: `user create`, `audit verify`, `audit archive`, `backup`
//! and `restore`.

use std::io::{BufRead as _, Write as _};

use locksmith_core::audit::{AuditService, Origin};
use locksmith_core::db::Schema;
use locksmith_core::identity::{Actor, NewUserInput, Role, UserService};
use secrecy::SecretString;

use crate::config::Settings;
use crate::startup::{Database, StartupError};

pub use crate::command_error::CommandError;

fn read_password() -> Result<SecretString, CommandError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        CommandError::Input(format!("cannot read the password from standard input: {e}"))
    })?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// `locksmith user create --email E --role R --password-stdin`: prints the new user's id.
pub async fn user_create(
    settings: &Settings,
    email: &str,
    role: Role,
    display_name: Option<&str>,
) -> Result<(), CommandError> {
    let input = NewUserInput {
        display_name: display_name.map(str::to_owned),
        ..NewUserInput::new(email, read_password()?, role)
    };
    let input_error = |e: locksmith_core::Error| match e {
        locksmith_core::Error::Conflict(m) => CommandError::Input(m),
        invalid @ locksmith_core::Error::Invalid { .. } => CommandError::Input(invalid.to_string()),
        other => CommandError::Startup(StartupError::from(other)),
    };
    // Checked before the database is opened: a weak password costs no start-up.
    input.precheck().map_err(input_error)?;
    let database = Database::open(settings).await?;
    let result = async {
        Schema::new(database.pool.clone())
            .migrate()
            .await
            .map_err(StartupError::from)?;
        UserService::new(database.pool.clone())
            .create(Actor::SYSTEM, input, &Origin::default())
            .await
            .map_err(input_error)
    }
    .await;
    database.close().await;
    let user = result?;
    let _ = writeln!(std::io::stdout(), "{}", user.id);
    Ok(())
}

/// `locksmith audit verify`: exit 0 when the chain is intact.
pub async fn audit_verify(settings: &Settings) -> Result<(), CommandError> {
    let database = Database::open(settings).await?;
    let report = AuditService::new(database.pool.clone())
        .verify(Actor::SYSTEM)
        .await;
    database.close().await;
    let report = report.map_err(StartupError::from)?;
    match report.first_broken {
        None => {
            let _ = writeln!(
                std::io::stdout(),
                "audit chain intact: {} rows verified",
                report.checked
            );
            Ok(())
        }
        Some(row) => Err(CommandError::ChainBroken {
            row,
            checked: report.checked,
        }),
    }
}

/// `locksmith audit verify --archive FILE`: checks an archive file on its own.
pub fn audit_verify_archive(file: &std::path::Path) -> Result<(), CommandError> {
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| CommandError::Input(format!("{}: {e}", file.display())))?;
    let (header, end) = locksmith_core::audit::archive::verify_file(reader)
        .map_err(|e| CommandError::Input(format!("{}: {e}", file.display())))?;
    let _ = writeln!(
        std::io::stdout(),
        "archive intact: {} rows #{}..#{}, from {} to {}",
        end.rows,
        end.first_id,
        end.last_id,
        header.prev_hash,
        end.last_hash
    );
    Ok(())
}

/// `locksmith audit archive --before DATE --to FILE`: the file is written, synced and
/// checked before a single row leaves the database.
pub async fn audit_archive(
    settings: &Settings,
    before: chrono::DateTime<chrono::Utc>,
    to: &std::path::Path,
) -> Result<(), CommandError> {
    let file_error = |e: std::io::Error| CommandError::Input(format!("{}: {e}", to.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(file_error)?;
    let database = Database::open(settings).await?;
    let audit = AuditService::new(database.pool.clone());
    let result = async {
        let mut out = std::io::BufWriter::new(&mut file);
        let end = audit
            .export_segment(Actor::SYSTEM, before, &mut out)
            .await
            .map_err(StartupError::from)?;
        drop(out);
        let Some(end) = end else {
            return Ok(None);
        };
        file.sync_all().map_err(file_error)?;
        let reread = std::fs::File::open(to)
            .map(std::io::BufReader::new)
            .map_err(file_error)?;
        locksmith_core::audit::archive::verify_file(reread)
            .map_err(|e| CommandError::Input(format!("{}: {e}", to.display())))?;
        audit
            .remove_segment(Actor::SYSTEM, &end)
            .await
            .map_err(StartupError::from)?;
        Ok::<_, CommandError>(Some(end))
    }
    .await;
    database.close().await;
    if result.is_err() {
        // Nothing was removed; a partial file would only mislead.
        let _ = std::fs::remove_file(to);
    }
    match result? {
        Some(end) => {
            let _ = writeln!(
                std::io::stdout(),
                "archived {} rows (#{}..#{}) to {}; the trail now starts after {}",
                end.rows,
                end.first_id,
                end.last_id,
                to.display(),
                end.last_hash
            );
        }
        None => {
            let _ = std::fs::remove_file(to);
            let _ = writeln!(std::io::stdout(), "nothing recorded before {before}");
        }
    }
    Ok(())
}

/// `locksmith backup --to DIR`.
pub async fn backup(settings: &Settings, dir: &std::path::Path) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    let done = crate::backup::backup(settings, dir).await?;
    let _ = writeln!(
        std::io::stdout(),
        "backup written to {} in {:.1} s (database dump {} bytes, schema {}); it holds the \
         key pepper: store it encrypted, and apart from the database",
        dir.display(),
        started.elapsed().as_secs_f64(),
        done.dump_bytes,
        done.schema_version
            .map_or_else(|| "empty".into(), |v| v.to_string()),
    );
    Ok(())
}

/// `locksmith restore --from DIR`.
pub async fn restore(settings: &Settings, dir: &std::path::Path) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    let done = crate::backup::restore(settings, dir).await?;
    let _ = writeln!(
        std::io::stdout(),
        "restored from {} in {:.1} s; audit chain intact ({} rows){}",
        dir.display(),
        started.elapsed().as_secs_f64(),
        done.audit_rows,
        done.secrets_written_to
            .map(|d| format!("; secrets written to {}", d.display()))
            .unwrap_or_default(),
    );
    Ok(())
}
