//! `lmsctl db ...`

use std::process::ExitCode;

use lms_config::Settings;

use crate::cli::DbCommand;

pub async fn run(command: DbCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let _ = (command, settings);
    anyhow::bail!("the LMS schema is not available in this build yet")
}
