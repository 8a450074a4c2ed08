//! What every LMS binary does the same way: log to stderr as configured,
//! stop on SIGTERM or Ctrl-C, and print errors with their causes.

mod metrics_endpoint;
pub mod terminal;

pub use metrics_endpoint::{install_recorder, serve_metrics, start_gauge_refresh};

use lms_config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The prefix of every target our own crates log under (`lmsctl`,
/// `lms_engine`, `lms_data`, `lms_migration`, ...): a tracing directive's
/// target matches every target that starts with it.
pub const OWN_TARGETS: &str = "lms";

/// Installs the global tracing subscriber for a server or worker. `RUST_LOG`
/// wins over the config's filter; `verbose` raises the default to debug.
/// Colour only when stderr is a terminal and `NO_COLOR` is unset or empty.
/// A `RUST_LOG` tracing cannot read is an error (the config's
/// `log.filter` was checked when the settings loaded).
pub fn init_logging(settings: &LogSettings, verbose: bool) -> anyhow::Result<()> {
    let fallback = if verbose {
        "debug"
    } else {
        settings.filter.as_str()
    };
    install(settings.format, fallback)
}

/// Installs the global tracing subscriber for a command-line tool. Without
/// `RUST_LOG`, the config's filter applies to our own crates only, and
/// libraries (sea-orm-migration, sqlx, apalis, ...) log warnings and errors
/// unless `verbosity` raises them: see [`cli_filter`].
pub fn init_cli_logging(settings: &LogSettings, verbosity: u8) -> anyhow::Result<()> {
    install(settings.format, &cli_filter(&settings.filter, verbosity))
}

/// The filter a command-line tool uses when `RUST_LOG` is unset.
///
/// - 0: libraries at `warn`; the config's filter (`log.filter`) for our
///   own crates: a bare level such as `info` is applied to [`OWN_TARGETS`],
///   directives naming a target are kept as they are.
/// - 1 (`-v`): libraries at `info`, our crates as at 0.
/// - 2 (`-vv`): everything at `debug`; 3 and more: `trace`.
pub fn cli_filter(config_filter: &str, verbosity: u8) -> String {
    let libraries = match verbosity {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => return LevelFilter::DEBUG.to_string(),
        _ => return LevelFilter::TRACE.to_string(),
    };
    let mut directives = vec![libraries.to_string()];
    for directive in config_filter
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
    {
        if directive.parse::<LevelFilter>().is_ok() {
            directives.push(format!("{OWN_TARGETS}={directive}"));
        } else {
            directives.push(directive.to_owned());
        }
    }
    directives.join(",")
}

fn install(format: LogFormat, fallback: &str) -> anyhow::Result<()> {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref(), fallback)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal::colour(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests that run a binary's main twice) is harmless.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// `RUST_LOG` when it is set (and not blank), else `fallback`; a filter
/// tracing cannot read is an error naming where it came from, never a
/// silent `info`.
fn log_filter(rust_log: Option<&str>, fallback: &str) -> anyhow::Result<EnvFilter> {
    match rust_log.filter(|value| !value.trim().is_empty()) {
        Some(value) => EnvFilter::try_new(value).map_err(|error| {
            anyhow::anyhow!("RUST_LOG is not a tracing filter ({value:?}): {error}")
        }),
        None => EnvFilter::try_new(fallback).map_err(|error| {
            anyhow::anyhow!("log.filter is not a tracing filter ({fallback:?}): {error}")
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(filter: &str) -> bool {
        EnvFilter::try_new(filter).is_ok()
    }

    #[test]
    fn a_rust_log_tracing_cannot_read_is_an_error_naming_it() {
        let error = log_filter(Some("lms_engine=verbose"), "info").expect_err("bad level");
        assert!(error.to_string().starts_with("RUST_LOG "), "{error}");
    }

    #[test]
    fn a_blank_rust_log_leaves_the_configured_filter() {
        assert!(log_filter(Some("  "), "lms=debug").is_ok());
        let error = log_filter(Some(""), "lms=verbose").expect_err("bad level");
        assert!(error.to_string().starts_with("log.filter "), "{error}");
    }

    #[test]
    fn by_default_libraries_log_warnings_and_our_crates_the_configured_level() {
        let filter = cli_filter("info", 0);
        assert_eq!(filter, "warn,lms=info");
        assert!(parses(&filter));
    }

    #[test]
    fn one_v_brings_library_info_back() {
        assert_eq!(cli_filter("info", 1), "info,lms=info");
    }

    #[test]
    fn two_vs_log_everything_at_debug() {
        assert_eq!(cli_filter("info", 2), "debug");
        assert_eq!(cli_filter("info", 5), "trace");
    }

    #[test]
    fn directives_naming_a_target_are_kept() {
        let filter = cli_filter("lms_engine=debug, info,sqlx=info", 0);
        assert_eq!(filter, "warn,lms_engine=debug,lms=info,sqlx=info");
        assert!(parses(&filter));
    }
}
