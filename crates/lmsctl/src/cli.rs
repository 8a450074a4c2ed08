//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lms_config::ConfigSource;
use lms_legacy::Scale;

/// Operate the LMS and its migration from the legacy EDU database.
#[derive(Debug, Parser)]
#[command(name = "lmsctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Defaults to $LMS_CONFIG, then ./lms.toml when present.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log more (debug level).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn config_source(&self) -> ConfigSource {
        ConfigSource {
            file: self.config.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The LMS database: create it and apply the schema.
    #[command(subcommand)]
    Db(DbCommand),
    /// The legacy EDU database: generate a stand-in for production.
    #[command(subcommand)]
    Legacy(LegacyCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the LMS database if it is absent and apply every pending migration.
    Up,
    /// Show which migrations are applied and which are pending.
    Status,
    /// Roll back the most recent migrations.
    Down(DownArgs),
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// How many migrations to roll back.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
}

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    /// Create the legacy schema at legacy.url and fill it deterministically.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// `seed` (the report's production volumes), `small` (about 1%) or a multiplier such as 10.
    #[arg(long, default_value = "seed", value_parser = parse_scale)]
    pub scale: Scale,
    /// The random seed; the same seed gives the same database.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Replace the legacy tables even if the database is not empty.
    #[arg(long)]
    pub force: bool,
}

fn parse_scale(text: &str) -> Result<Scale, String> {
    text.parse::<Scale>().map_err(|error| error.to_string())
}
