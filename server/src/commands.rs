//! The one-shot subcommands: `user create` and `audit verify`.

use std::io::{BufRead as _, Write as _};

use locksmith_core::audit::Origin;
use locksmith_core::identity::Role;
use locksmith_core::identity::admin::{self, NewUserInput};
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
        email: email.to_owned(),
        password: read_password()?,
        role,
        display_name: display_name.map(str::to_owned),
        max_keys: None,
        allowed_scopes: None,
        may_change_limits: None,
        max_quota: None,
        max_rate_limit: None,
        max_key_lifetime_seconds: None,
    };
    let input_error = |e: locksmith_core::Error| match e {
        locksmith_core::Error::Conflict(m) | locksmith_core::Error::Invalid(m) => {
            CommandError::Input(m)
        }
        other => CommandError::Startup(StartupError::from(other)),
    };
    // Validated before the database is opened: a weak password costs no start-up.
    let new = input.validate().await.map_err(input_error)?;
    let database = Database::open(settings).await?;
    let result = async {
        locksmith_core::db::migrate(&database.pool)
            .await
            .map_err(StartupError::from)?;
        admin::create_user(&database.pool, None, new, &Origin::default())
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
    let report = locksmith_core::audit::verify(&database.pool).await;
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
