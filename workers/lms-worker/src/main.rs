//! `lms-worker`: runs queued jobs until SIGTERM or Ctrl-C.
//!
//! No job kinds exist yet; the migration engine adds them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lms_config::{ConfigSource, Settings};
use lms_runtime::{init_logging, report_error, shutdown_signal};

/// The LMS job worker.
#[derive(Debug, Parser)]
#[command(name = "lms-worker", version, about)]
struct Cli {
    /// Config file (TOML). Defaults to $LMS_CONFIG, then ./lms.toml when present.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&ConfigSource { file: cli.config }) {
        Ok(settings) => settings,
        Err(error) => {
            report_error(&anyhow::Error::new(error).context("invalid configuration"));
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log, false);
    tracing::info!(
        concurrency = settings.worker.concurrency,
        "worker started; no job kinds are registered yet"
    );
    shutdown_signal().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
