//! `lmsctl`: the operator's command line.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match lms_config::Settings::load(&cli.config_source()) {
        Ok(settings) => settings,
        Err(error) => {
            report_error(&anyhow::Error::new(error).context("invalid configuration"));
            return ExitCode::from(2);
        }
    };
    logging::init(&settings.log, cli.verbose);
    let outcome = match cli.command {
        Command::Db(command) => commands::db::run(command, &settings).await,
        Command::Legacy(command) => commands::legacy::run(command, &settings).await,
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            report_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error and its causes, one per line, the way operators read them.
#[allow(clippy::print_stderr)]
fn report_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
