//! `lmsctl`: the operator's command line.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// `migrate verify` holds both databases' rows in memory at once; glibc's
/// allocator spent a fifth of its time in malloc and free (README, "How
/// long it takes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match lms_config::Settings::load(&cli.config_source()) {
        Ok(settings) => settings,
        Err(error) if matches!(cli.command, Command::Doctor) => {
            return commands::doctor::report_unusable_config(&error);
        }
        Err(error) => {
            lms_runtime::report_error(&anyhow::Error::new(error).context("invalid configuration"));
            return ExitCode::from(2);
        }
    };
    if let Err(error) = lms_runtime::init_cli_logging(&settings.log, cli.verbose) {
        lms_runtime::report_error(&error.context("invalid configuration"));
        return ExitCode::from(2);
    }
    let config_source = cli.config_source();
    let outcome = match cli.command {
        Command::Db(command) => commands::db::run(command, &settings).await,
        Command::Legacy(command) => commands::legacy::run(command, &settings).await,
        Command::Migrate(command) => commands::migrate::run(command, &settings).await,
        Command::Api(command) => commands::api::run(command, &settings).await,
        Command::Auth(command) => commands::auth::run(command),
        Command::Doctor => commands::doctor::run(&config_source, &settings).await,
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            lms_runtime::report_error(&error);
            if commands::usage::is_usage(&error) {
                ExitCode::from(commands::usage::USAGE_EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
