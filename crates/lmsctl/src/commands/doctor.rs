//! `lmsctl doctor`: one line per check, each failure followed by its fix.

use std::process::ExitCode;

use lms_config::{ConfigError, ConfigSource, Settings};
use lms_engine::doctor::{CHECK_TIMEOUT, Check, run_checks};

pub async fn run(source: &ConfigSource, settings: &Settings) -> anyhow::Result<ExitCode> {
    // The configuration loaded (main reports one that did not through
    // `report_unusable_config`); what is left to say is where it came from.
    let mut checks = vec![Check {
        name: "config",
        passed: true,
        detail: config_origin(source),
        fix: None,
    }];
    checks.extend(run_checks(settings, CHECK_TIMEOUT).await);
    for check in &checks {
        let mark = if check.passed { "ok" } else { "FAIL" };
        println!("{mark:<4} {}: {}", check.name, check.detail);
        if let Some(fix) = &check.fix {
            println!("     fix: {fix}");
        }
    }
    let failed = checks.iter().filter(|check| !check.passed).count();
    if failed == 0 {
        println!("All {} checks passed.", checks.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed.", checks.len());
        Ok(ExitCode::FAILURE)
    }
}

/// Where the settings came from: `--config`, else `$LMS_CONFIG`, else
/// `./lms.toml` when present, as `Settings::load` finds it.
fn config_origin(source: &ConfigSource) -> String {
    match source.resolve_file() {
        Ok(Some(path)) => {
            let shown = std::fs::canonicalize(&path).unwrap_or(path);
            format!(
                "loaded {}, then LMS_* environment variables",
                shown.display()
            )
        }
        _ => {
            "loaded built-in defaults, then LMS_* environment variables (no config file)".to_owned()
        }
    }
}

/// The configuration did not load: that is the one line doctor can print,
/// since every other check needs it.
pub fn report_unusable_config(error: &ConfigError) -> ExitCode {
    println!("FAIL config: {error}");
    let fix = match error {
        ConfigError::FileNotFound { .. } => {
            "point --config or LMS_CONFIG at an existing file, or unset LMS_CONFIG to use ./lms.toml and the defaults"
        }
        ConfigError::Invalid(_) => {
            "correct each key named above, in the file or the LMS_* variable it came from (README: Configuration)"
        }
    };
    println!("     fix: {fix}");
    println!("The other checks need a configuration and were not run.");
    ExitCode::FAILURE
}
