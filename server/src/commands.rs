//! The one-shot subcommands: `user create` and `audit verify`.

use std::io::{BufRead as _, Write as _};

use locksmith_core::audit::{AuditService, Origin};
use locksmith_core::db::Schema;
use locksmith_core::identity::{Actor, NewUserInput, Role, UserService};
use secrecy::SecretString;

use crate::config::Settings;
use crate::startup::{Database, StartupError};

/// Why a subcommand failed; the message is for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The database could not be opened.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// Bad input (invalid email, weak password, taken email…).
    #[error("{0}")]
    Input(String),
    /// The audit chain is broken.
    #[error("audit chain broken at row {row} ({checked} rows before it are intact)")]
    ChainBroken {
        /// The first row that does not match.
        row: i64,
        /// Rows verified before it.
        checked: u64,
    },
}

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
