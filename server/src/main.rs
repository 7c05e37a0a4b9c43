//! `locksmith`: parses the command line and settings, then serves, migrates or runs a
//! one-shot command.

use std::process::ExitCode;

use clap::Parser as _;
use locksmith_server::cli::{AuditCommand, Cli, Command, UserCommand};
use locksmith_server::config::Settings;
use locksmith_server::{commands, startup, telemetry};

/// mimalloc instead of glibc's malloc: the verification hot path allocates per request
/// on every worker thread, and glibc's arena locks showed up in its profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("locksmith: {err}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // One-shot commands keep the terminal for their own output: warnings only.
    let filter = match command {
        Command::Serve | Command::Migrate => settings.log_filter.clone(),
        Command::User(_) | Command::Audit(_) | Command::Backup { .. } | Command::Restore { .. } => {
            "warn".to_owned()
        }
    };
    let _telemetry = telemetry::init(settings.log_format, &filter, &settings.telemetry);
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
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match command {
            Command::Serve => startup::serve(settings, cli.config.clone())
                .await
                .map_err(Into::into),
            Command::Migrate => startup::migrate(settings).await.map_err(Into::into),
            Command::User(UserCommand::Create {
                email,
                role,
                display_name,
                password_stdin: _,
            }) => commands::user_create(&settings, &email, role, display_name.as_deref())
                .await
                .map_err(Into::into),
            Command::Audit(AuditCommand::Verify { archive: None }) => {
                commands::audit_verify(&settings).await.map_err(Into::into)
            }
            Command::Audit(AuditCommand::Verify {
                archive: Some(file),
            }) => commands::audit_verify_archive(&file).map_err(Into::into),
            Command::Backup { to } => commands::backup(&settings, &to).await.map_err(Into::into),
            Command::Restore { from } => commands::restore(&settings, &from)
                .await
                .map_err(Into::into),
            Command::Audit(AuditCommand::Archive { before, to }) => {
                commands::audit_archive(&settings, before, &to)
                    .await
                    .map_err(Into::into)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("locksmith: {err}");
            ExitCode::FAILURE
        }
    }
}
