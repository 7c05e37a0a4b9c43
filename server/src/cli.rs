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
    Verify,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("`{raw}` is not a role (admin, auditor, owner)"))
}
