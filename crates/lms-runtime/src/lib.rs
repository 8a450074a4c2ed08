//! What every LMS binary does the same way: log to stderr as configured,
//! stop on SIGTERM or Ctrl-C, and print errors with their causes.

mod metrics_endpoint;

pub use metrics_endpoint::{BeforeScrape, install_recorder, serve_metrics};

use lms_config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. `RUST_LOG` wins over the config's
/// filter; `verbose` raises the default to debug.
pub fn init_logging(settings: &LogSettings, verbose: bool) {
    let fallback = if verbose {
        "debug"
    } else {
        settings.filter.as_str()
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(fallback))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests that run a binary's main twice) is harmless.
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Prints an error and its chain of causes, one per line.
#[allow(clippy::print_stderr)]
pub fn report_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
