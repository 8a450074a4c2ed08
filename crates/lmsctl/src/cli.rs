//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use lms_config::ConfigSource;
use lms_domain::LegacyEntity;
use lms_engine::ConflictPolicy;
use lms_legacy::Scale;
use uuid::Uuid;

/// Operate the LMS and its migration from the legacy EDU database.
#[derive(Debug, Parser)]
#[command(name = "lmsctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML). Defaults to $LMS_CONFIG, then ./lms.toml when present.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log more: -v adds the libraries' info logs (sea-orm-migration, sqlx,
    /// apalis), -vv logs everything at debug. RUST_LOG, when set, decides
    /// alone.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

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
    /// Read the LMS through its gRPC API (the server must be running).
    /// The bearer token is read from $LMSCTL_API_TOKEN.
    #[command(subcommand)]
    Api(ApiCommand),
    /// API tokens for the server's auth.tokens.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Check the setup: config, both databases, Redis, the LMS schema and the
    /// workers; each failure says what fixes it. Exit 0 only if all pass.
    Doctor,
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Get one resource by name, e.g. students/12 or courses/3/materials/2.
    Get(ApiGetArgs),
    /// List a collection, e.g. students or enrollments, one JSON object per line.
    List(ApiListArgs),
    /// Find the resource migrated from a legacy row, e.g. `students 1042`.
    Lookup(ApiLookupArgs),
}

#[derive(Debug, Args)]
pub struct ApiTarget {
    /// The server, e.g. http://127.0.0.1:50051 (https:// for TLS). Default:
    /// http:// and grpc.listen from the config.
    #[arg(long, env = "LMSCTL_API_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApiGetArgs {
    /// The resource name.
    pub name: String,
    #[command(flatten)]
    pub target: ApiTarget,
}

#[derive(Debug, Args)]
pub struct ApiListArgs {
    /// The collection: organizations, persons, users, students, staffMembers,
    /// courses, materials, enrollments, grades, assessments or submissions.
    pub collection: String,
    /// An AIP-160 filter, e.g. 'student = "students/12" AND status = active'.
    #[arg(long)]
    pub filter: Option<String>,
    /// The parent of a nested collection, e.g. courses/3 for materials.
    #[arg(long)]
    pub parent: Option<String>,
    /// Items per page (the server caps it at 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Continue from a page token an earlier call printed.
    #[arg(long)]
    pub page_token: Option<String>,
    /// Follow page tokens to the end of the collection.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub target: ApiTarget,
}

#[derive(Debug, Args)]
pub struct ApiLookupArgs {
    /// The collection, e.g. students.
    pub collection: String,
    /// The legacy row's id (any value of the legacy id column, negatives
    /// included).
    #[arg(allow_negative_numbers = true)]
    pub legacy_id: i64,
    #[command(flatten)]
    pub target: ApiTarget,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Make a new random token (or hash one read from stdin) and print the
    /// config entry that admits it. Only the hash goes into the config.
    HashToken(HashTokenArgs),
}

#[derive(Debug, Args)]
pub struct HashTokenArgs {
    /// Hash the token on stdin instead of making a new one.
    #[arg(long)]
    pub stdin: bool,
    /// The token's name in logs.
    #[arg(long, default_value = "operator")]
    pub name: String,
    /// Its scopes, comma separated: lms.read, lms.write, migration.admin.
    #[arg(long, value_delimiter = ',', default_value = "lms.read")]
    pub scopes: Vec<String>,
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
    /// Cancel the active run: queued chunks are dropped, running ones finish.
    /// A held run is discarded: the LMS stays untouched.
    Cancel(CancelArgs),
    /// Undo a succeeded delta run: every LMS and ledger row it changed goes
    /// back to what it was before it. Refused for a first load, while a run
    /// is active, and where rows it wrote changed since (they are named).
    Undo(UndoArgs),
    /// Approve a held run: it applies exactly the changes its preview
    /// counted (legacy rows changed since are left to the next run).
    Approve(ApproveArgs),
    /// Run the tables with rejected rows again (and those referencing them),
    /// after the legacy data was fixed.
    RetryRejected(RetryArgs),
    /// Reconcile the LMS against legacy, reading both directly and never
    /// trusting the migration's own records; exit 3 on any unexplained
    /// difference.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Legacy ids per checksum chunk (default: migration.chunk_size), 1 to
    /// 1000000 (as VerifyRun).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub chunk_size: Option<u32>,
    #[arg(long, value_enum, default_value_t = VerifyFormat::Table)]
    pub format: VerifyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Only these legacy tables (and those referencing them), comma separated.
    #[arg(long, value_delimiter = ',', value_parser = parse_entity)]
    pub entities: Vec<LegacyEntity>,
    /// Wait for the run to end, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// An idempotency key: retrying twice with one key gives one run; the
    /// key given with another request is refused.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Legacy tables to migrate, comma separated (default: all). Tables they
    /// reference must be in the run or migrated by an earlier one.
    #[arg(long, value_delimiter = ',', value_parser = parse_entity)]
    pub entities: Vec<LegacyEntity>,
    /// Legacy rows per chunk (default: migration.chunk_size), 1 to 1000000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub chunk_size: Option<u32>,
    /// Wait for the run to end, showing progress; exit 0 only if it succeeded
    /// with every legacy row accounted for, 4 when it is held (the preview
    /// is printed; `lmsctl migrate approve` lets it apply).
    #[arg(long)]
    pub wait: bool,
    /// An idempotency key: starting twice with one key gives one run; the
    /// key given with another request is refused.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
    /// Run the chunks in this process instead of on the workers (no Redis).
    #[arg(long)]
    pub inline: bool,
    /// Stage and resolve only: report what the rules would do, write no LMS
    /// rows and no ledger.
    #[arg(long)]
    pub dry_run: bool,
    /// Where legacy and the LMS both changed a row since the migration last
    /// wrote it: keep-lms keeps the LMS row's values and records the
    /// conflict (it stays open until legacy agrees or a take-legacy run);
    /// take-legacy writes legacy's values over them.
    #[arg(long, value_name = "POLICY", default_value = "keep-lms")]
    pub on_conflict: ConflictPolicy,
    /// Hold a delta run whose preview changes more than this percent of a
    /// table's legacy rows (default: migration.hold_percent, 10).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(0..=100), conflicts_with = "no_hold")]
    pub hold_percent: Option<u32>,
    /// The hold's floor: a table holds the run only past this many changes
    /// (default: migration.hold_min_rows, 50).
    #[arg(long, value_name = "ROWS", conflicts_with = "no_hold")]
    pub hold_min_rows: Option<u64>,
    /// No hold: apply whatever the preview would count.
    #[arg(long)]
    pub no_hold: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The held run.
    #[arg(value_name = "RUN")]
    pub run: Uuid,
    /// Wait for the run to end, showing progress, as `migrate run --wait`.
    #[arg(long)]
    pub wait: bool,
    /// Run the approved chunks in this process instead of on the workers
    /// (no Redis); waits for the run to end.
    #[arg(long)]
    pub inline: bool,
    /// An idempotency key: approving again with the same key and run is
    /// answered with the run as it is now, not refused as no longer held;
    /// the key given with another request is refused.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunSelector {
    /// The run (default: the latest).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<Uuid>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub selector: RunSelector,
    /// An idempotency key: cancelling again with the same key and run is
    /// answered with the run as it is now, not refused as ended; the key
    /// given with another request is refused.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The run to undo.
    #[arg(value_name = "RUN")]
    pub run: Uuid,
    /// An idempotency key: undoing again with the same key and run is
    /// answered with the run, undone, not refused as undone already; the
    /// key given with another request is refused.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (default: the latest).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<Uuid>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// With --format html: verify the LMS against legacy now and add the
    /// verification's section (as `migrate verify` prints it).
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Markdown,
    /// One self-contained page (no scripts, nothing fetched): coverage bars,
    /// rejected rows with examples, warnings, changes and timings.
    Html,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The legacy table, e.g. journal.
    #[arg(value_parser = parse_entity)]
    pub entity: LegacyEntity,
    /// The row's legacy id (negatives included).
    #[arg(allow_negative_numbers = true)]
    pub legacy_id: i64,
    /// Print JSON instead of prose.
    #[arg(long)]
    pub json: bool,
}

/// An idempotency key as the API takes one: not blank, at most 200
/// characters, no NUL.
fn parse_request_id(text: &str) -> Result<String, String> {
    match lms_grpc::request::request_id(text) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err("is blank".to_owned()),
        Err(error) => Err(error.to_string()),
    }
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
