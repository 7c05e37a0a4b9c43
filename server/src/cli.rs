//! The `locksmith` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
}
