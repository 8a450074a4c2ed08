//! Durations as the deploy files write them, and the shutdown grace every
//! flavour must give a worker.

use std::time::Duration;

use anyhow::{Result, bail, ensure};

/// How long a worker must be given to finish its chunks after SIGTERM, in
/// every flavour, before it is killed.
pub(crate) const CHUNK_GRACE: Duration = Duration::from_secs(120);

/// Parses durations as Compose (`2m`, `1m30s`) and systemd (`150s`,
/// `2min`, a bare number of seconds) write them.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    ensure!(!rest.is_empty(), "empty duration");
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        ensure!(digits > 0, "no number in duration {text:?}");
        let amount: u64 = rest[..digits].parse()?;
        rest = &rest[digits..];
        let unit_length = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_length].trim();
        rest = rest[unit_length..].trim_start();
        total += match unit {
            "h" => Duration::from_secs(amount * 3600),
            "m" | "min" => Duration::from_secs(amount * 60),
            "s" | "" => Duration::from_secs(amount),
            "ms" => Duration::from_millis(amount),
            other => bail!("unknown unit {other:?} in duration {text:?}"),
        };
    }
    Ok(total)
}
