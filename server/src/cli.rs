//! The `locksmith` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use locksmith_core::identity::Role;

/// Locksmith: self-hosted API key management.
#[derive(Debug, Parser)]
#[command(name = "locksmith", version, about)]
pub struct Cli {
    /// A TOML file with settings (same names as the LOCKSMITH_* variables, lower-case,
    /// without the prefix); the environment overrides it.
    #[arg(long, env = "LOCKSMITH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal and the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent backup (database dump, secrets, manifest) into a new directory.
    Backup {
        /// The directory to create (or an empty one).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty database, checking its manifest first.
    Restore {
        /// The backup's directory.
        #[arg(long)]
        from: PathBuf,
    },
}

/// `locksmith user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (the way to make the first admin); prints its id.
    Create {
        /// The sign-in email.
        #[arg(long)]
        email: String,
        /// admin, auditor or owner.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to show.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// `locksmith audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first broken row if tampered with.
    Verify {
        /// Check this archive file (`audit archive`) instead of the database.
        #[arg(long)]
        archive: Option<PathBuf>,
    },
    /// Move the rows recorded before DATE into FILE (checked, then removed from the
    /// database, which keeps the last archived hash as its anchor).
    Archive {
        /// `2026-01-01` (UTC midnight) or an RFC 3339 instant.
        #[arg(long, value_parser = parse_instant)]
        before: chrono::DateTime<chrono::Utc>,
        /// The archive file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
}

fn parse_instant(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(at.to_utc());
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| format!("`{raw}` is neither a date like 2026-01-01 nor an RFC 3339 instant"))
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("`{raw}` is not a role (admin, auditor, owner)"))
}
