//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lms_config::ConfigSource;
use lms_domain::LegacyEntity;
use lms_legacy::Scale;
use uuid::Uuid;

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
    /// Migrations from the legacy database: start, watch, report, explain.
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Plan a migration run and put it on the queue for the workers.
    Run(RunArgs),
    /// Show a run's progress.
    Status(RunSelector),
    /// Print a run's coverage report.
    Report(ReportArgs),
    /// Explain what became of one legacy row.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Legacy tables to migrate, comma separated (default: all). Tables they
    /// reference must be in the run or migrated by an earlier one.
    #[arg(long, value_delimiter = ',', value_parser = parse_entity)]
    pub entities: Vec<LegacyEntity>,
    /// Legacy rows per chunk (default: migration.chunk_size).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: Option<u32>,
    /// Wait for the run to end, showing progress; exit 0 only if it succeeded
    /// with every legacy row accounted for.
    #[arg(long)]
    pub wait: bool,
    /// An idempotency key: starting twice with one key gives one run.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Run the chunks in this process instead of on the workers (no Redis).
    #[arg(long)]
    pub inline: bool,
}

#[derive(Debug, Args)]
pub struct RunSelector {
    /// The run (default: the latest).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<Uuid>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (default: the latest).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<Uuid>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The legacy table, e.g. journal.
    #[arg(value_parser = parse_entity)]
    pub entity: LegacyEntity,
    /// The row's legacy id.
    pub legacy_id: i64,
    /// Print JSON instead of prose.
    #[arg(long)]
    pub json: bool,
}

fn parse_entity(text: &str) -> Result<LegacyEntity, String> {
    text.parse::<LegacyEntity>()
        .map_err(|error| error.to_string())
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
