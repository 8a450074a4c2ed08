//! `lms-worker`: runs migration chunks from the queue until SIGTERM or
//! Ctrl-C, then finishes the chunks in progress. Start as many as you like,
//! on as many machines as you like: they share the Redis queue and the LMS
//! database, and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lms_config::{ConfigSource, Settings};
use lms_engine::run_metrics::{record_pool, refresh_run_metrics};
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use lms_engine::{run_worker, unique_worker_name};
use lms_runtime::{init_logging, report_error, shutdown_signal};

/// The LMS job worker.
#[derive(Debug, Parser)]
#[command(name = "lms-worker", version, about)]
struct Cli {
    /// Config file (TOML). Defaults to $LMS_CONFIG, then ./lms.toml when present.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Chunks to run at once, 1 to 10000 (overrides worker.concurrency).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    concurrency: Option<u16>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(&ConfigSource {
        file: cli.config.clone(),
    }) {
        Ok(settings) => settings,
        Err(error) => {
            report_error(&anyhow::Error::new(error).context("invalid configuration"));
            return ExitCode::from(2);
        }
    };
    if let Some(concurrency) = cli.concurrency {
        settings.worker.concurrency = usize::from(concurrency);
    }
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
    let name = unique_worker_name(settings.worker.name.as_deref());
    let engine = connect_engine(&settings, name.clone(), settings.worker.concurrency)
        .await
        .context("connecting to the LMS and legacy databases")?;
    let queue = connect_queue(&settings)
        .await
        .with_context(|| format!("connecting to Redis at {}", settings.redis.url))?;
    queue
        .ping()
        .await
        .with_context(|| format!("Redis at {} does not answer", settings.redis.url))?;
    if let Some(recorder) = recorder {
        let (lms, legacy) = (engine.lms.clone(), engine.legacy.clone());
        // Scrapes only render: the gauges read from the databases are
        // refreshed here, on a timer.
        lms_runtime::start_gauge_refresh(
            settings.metrics.refresh_interval,
            move || {
                let (lms, legacy) = (lms.clone(), legacy.clone());
                async move {
                    record_pool("primary", &lms);
                    record_pool("legacy", &legacy);
                    refresh_run_metrics(&lms).await;
                }
            },
            shutdown_signal(),
        )
        .await;
        lms_runtime::serve_metrics(settings.metrics.listen, recorder, shutdown_signal()).await?;
    }
    tracing::info!(worker = %name, concurrency = settings.worker.concurrency, queue = queue.name(), "worker started");
    run_worker(
        engine,
        queue,
        worker_config(&settings, name),
        shutdown_signal(),
    )
    .await?;
    tracing::info!("worker stopped");
    Ok(())
}
