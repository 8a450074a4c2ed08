//! Environment variables, and the `KEY=VALUE` files that set them.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, ensure};

/// Environment variables, by name.
pub(crate) type Env = BTreeMap<String, String>;

/// `KEY=VALUE` lines as in a systemd EnvironmentFile or a Compose `.env`:
/// comments and blank lines are skipped, anything else must be an
/// assignment.
pub(crate) fn parse_env_file(text: &str) -> Result<Env> {
    let mut env = Env::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("line {}: not NAME=value: {line:?}", number + 1))?;
        ensure!(
            is_env_name(name),
            "line {}: {name:?} is not a variable name",
            number + 1
        );
        let previous = env.insert(name.to_owned(), value.to_owned());
        ensure!(previous.is_none(), "line {}: {name} set twice", number + 1);
    }
    Ok(env)
}

pub(crate) fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
