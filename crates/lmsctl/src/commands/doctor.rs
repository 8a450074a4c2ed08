//! `lmsctl doctor`: one line per check, each failure followed by its fix.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lms_config::{CONFIG_PATH_VAR, ConfigSource, DEFAULT_CONFIG_FILE, Settings};
use lms_engine::doctor::{CHECK_TIMEOUT, Check, run_checks};

pub async fn run(source: &ConfigSource, settings: &Settings) -> anyhow::Result<ExitCode> {
    // The configuration loaded, or main would have exited with 2 already;
    // what is left to say is where it came from.
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

/// The file the settings were read from, found the way `Settings::load`
/// finds it: `--config`, else `$LMS_CONFIG`, else `./lms.toml` when present.
fn config_origin(source: &ConfigSource) -> String {
    let file = source
        .file
        .clone()
        .or_else(|| std::env::var_os(CONFIG_PATH_VAR).map(PathBuf::from))
        .or_else(|| {
            let local = Path::new(DEFAULT_CONFIG_FILE);
            local.is_file().then(|| local.to_path_buf())
        });
    match file {
        Some(path) => {
            let shown = std::fs::canonicalize(&path).unwrap_or(path);
            format!(
                "loaded {}, then LMS_* environment variables",
                shown.display()
            )
        }
        None => {
            "loaded built-in defaults, then LMS_* environment variables (no config file)".to_owned()
        }
    }
}
