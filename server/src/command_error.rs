//! The error of the one-shot subcommands (`commands`, `backup`): a message for the person
//! at the terminal.

use crate::startup::StartupError;

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
