//! `locksmith`: parses the command line and settings, then serves or migrates.

use std::process::ExitCode;

use clap::Parser as _;
use locksmith_server::cli::{Cli, Command};
use locksmith_server::config::Settings;
use locksmith_server::{startup, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("locksmith: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("locksmith: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => startup::serve(settings).await,
            Command::Migrate => startup::migrate(settings).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "locksmith stopped");
            eprintln!("locksmith: {err}");
            ExitCode::FAILURE
        }
    }
}
