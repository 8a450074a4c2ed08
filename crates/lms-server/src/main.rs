//! `lms-server`: serves the LMS over gRPC until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lms_config::{ConfigSource, Settings};
use lms_engine::run_metrics::refresh_run_metrics;
use lms_runtime::{init_logging, report_error, shutdown_signal};
use tokio::net::TcpListener;

/// The LMS gRPC server.
#[derive(Debug, Parser)]
#[command(name = "lms-server", version, about)]
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
    if let Err(error) = init_logging(&settings.log, false) {
        report_error(&error.context("invalid configuration"));
        return ExitCode::from(2);
    }
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report_error(&error);
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let recorder = if settings.metrics.enabled {
        Some(lms_runtime::install_recorder()?)
    } else {
        None
    };
    let listener = TcpListener::bind(settings.grpc.listen)
        .await
        .with_context(|| format!("cannot listen on {} (grpc.listen)", settings.grpc.listen))?;
    let app = lms_grpc::GrpcApp::connect(&settings).await?;
    if let Some(recorder) = recorder {
        let sources = app.data_sources().clone();
        // Scrapes only render: the gauges read from the databases are
        // refreshed here, on a timer.
        lms_runtime::start_gauge_refresh(
            settings.metrics.refresh_interval,
            move || {
                let sources = sources.clone();
                async move {
                    sources.record_pool_metrics();
                    // The run gauges come from the primary. While it is down
                    // they keep their last values.
                    if !sources.primary_is_up() {
                        return;
                    }
                    refresh_run_metrics(sources.primary_pool()).await;
                }
            },
            shutdown_signal(),
        )
        .await;
        lms_runtime::serve_metrics(settings.metrics.listen, recorder, shutdown_signal()).await?;
    }
    tracing::info!(address = %listener.local_addr()?, "serving gRPC");
    app.serve(listener, async {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}
