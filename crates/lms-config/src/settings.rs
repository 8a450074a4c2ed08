use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, PostgresUrl, RedisUrl};

/// Every setting of every binary. Sections are keyed as in `lms.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The LMS database (the migration target and the domain's store).
    pub database: DatabaseSettings,
    /// The legacy EDU database: the migration source, read only.
    pub legacy: LegacySettings,
    /// Redis, which carries the job queue.
    pub redis: RedisSettings,
    /// The gRPC server.
    pub grpc: GrpcSettings,
    /// Bearer tokens and their scopes.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Worker processes.
    pub worker: WorkerSettings,
    /// The migration engine.
    pub migration: MigrationSettings,
    /// Logging.
    pub log: LogSettings,
    /// The Prometheus endpoint each binary serves.
    pub metrics: MetricsSettings,
    /// Where the server's reads go when the LMS primary is down.
    pub failover: FailoverSettings,
}

/// Each long-running binary (server, worker) serves `GET /metrics`
/// (Prometheus text) and `GET /healthz` (liveness) over plain HTTP here.
/// Two binaries on one host need two ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// How often the gauges read from elsewhere (pool occupancy, run
    /// progress, queue depth) are refreshed; a scrape only renders what the
    /// last refresh recorded and never queries a database.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

/// The most requests (or streams) a server may hold at once, as a limit.
const MAX_IN_FLIGHT: usize = 1_000_000;

/// The scopes a token can carry.
pub const KNOWN_SCOPES: [&str; 3] = ["lms.read", "lms.write", "migration.admin"];

/// Who acts from the command line, as a run's request records its caller
/// (API calls record their token's name): no token may be named so, or its
/// request ids would be the command line's.
pub const COMMAND_LINE_CALLER: &str = "lmsctl";

/// Why `name` cannot name a token (`auth.tokens[].name`, `lmsctl auth
/// hash-token --name`), if it cannot.
pub fn token_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("must name who holds the token".to_owned());
    }
    if name == COMMAND_LINE_CALLER {
        return Some(format!(
            "{COMMAND_LINE_CALLER:?} is the command line's name; name the token otherwise"
        ));
    }
    None
}

/// The LMS PostgreSQL database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: PostgresUrl,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// The most connections one process opens.
    pub max_connections: u32,
    /// How long to wait for a new connection to be established.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Read standbys of the LMS database, in the order reads fail over to
    /// them when the primary (`url`) stops answering.
    #[serde(default)]
    pub standbys: Vec<StandbySettings>,
}

/// One read standby of the LMS database. Pool settings left out are the
/// primary's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandbySettings {
    pub url: PostgresUrl,
    #[serde(default)]
    pub min_connections: Option<u32>,
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default, with = "humantime_serde::option")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    pub acquire_timeout: Option<Duration>,
}

impl StandbySettings {
    /// The standby's pool settings, the primary's filling the gaps.
    pub fn resolved(&self, primary: &DatabaseSettings) -> DatabaseSettings {
        DatabaseSettings {
            url: self.url.clone(),
            min_connections: self.min_connections.unwrap_or(primary.min_connections),
            max_connections: self.max_connections.unwrap_or(primary.max_connections),
            connect_timeout: self.connect_timeout.unwrap_or(primary.connect_timeout),
            acquire_timeout: self.acquire_timeout.unwrap_or(primary.acquire_timeout),
            standbys: Vec::new(),
        }
    }
}

/// The legacy EDU PostgreSQL database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacySettings {
    pub url: PostgresUrl,
    /// The time zone the legacy `timestamp` columns were written in; the LMS
    /// stores `timestamptz`.
    pub timezone: String,
    /// The pool the server keeps for degraded reads (see `failover`).
    pub min_connections: u32,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// The most legacy rows one degraded-mode list call examines. A filter
    /// that matches few of them gives a short page (even an empty one) with
    /// a token that resumes after the last row examined (AIP-158).
    pub max_rows_per_list: usize,
}

impl LegacySettings {
    /// The legacy database as a pool endpoint.
    pub fn as_endpoint(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.url.clone(),
            min_connections: self.min_connections,
            max_connections: self.max_connections,
            connect_timeout: self.connect_timeout,
            acquire_timeout: self.acquire_timeout,
            standbys: Vec::new(),
        }
    }
}

/// How the server's reads survive the LMS primary going away: to the
/// standbys in order, then (if allowed) to the legacy database, read only;
/// writes never move.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSettings {
    /// How often endpoints that are down (and those that are up) are probed;
    /// traffic returns to the primary at the first probe it answers.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How long a probe may take before the endpoint counts as down.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// A request still running on an endpoint after this long gets that
    /// endpoint probed (one probe in flight per endpoint, however many
    /// requests are slow). If the probe fails, the endpoint is marked down
    /// and the requests on it are abandoned, so a database that silently
    /// drops packets is left within `slow_request_probe + probe_timeout`.
    #[serde(with = "humantime_serde")]
    pub slow_request_probe: Duration,
    /// A standby whose replay is further behind than this (at its last
    /// probe) is passed over for reads while another standby is not; with
    /// none that is fresh, it still serves before the legacy database.
    #[serde(with = "humantime_serde")]
    pub max_standby_lag: Duration,
    /// Serve reads from the legacy database when no LMS endpoint answers.
    pub legacy_reads: bool,
}

/// Redis, the job queue's store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: RedisUrl,
    /// Prefix of every key and queue name, so that several deployments (or
    /// tests) can share one Redis.
    pub namespace: String,
}

/// The gRPC server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// The socket address to listen on, e.g. `127.0.0.1:50051`.
    pub listen: SocketAddr,
    /// Serve gRPC server reflection (v1), which grpcurl uses.
    pub reflection: bool,
    /// Serve `grpc.health.v1.Health`.
    pub health: bool,
    /// Longest time a request may take before it is cancelled.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on the server's pools: a statement
    /// of a cancelled or runaway request stops in the database too.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Requests in flight on the whole server (health checks aside); more
    /// are refused at once (UNAVAILABLE, reason `SERVER_OVERLOADED`)
    /// instead of queueing without bound.
    pub concurrency_limit: usize,
    /// HTTP/2 streams a client may open at once on one connection (the
    /// SETTINGS_MAX_CONCURRENT_STREAMS the server announces); a client
    /// queues the rest.
    pub max_concurrent_streams: u32,
    /// A connection older than this is asked to go away (GOAWAY) once its
    /// streams finish, so no client holds one connection (and its limits)
    /// for ever and load spreads again after a deploy.
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Duration,
    /// Largest request header list, in bytes (HTTP/2
    /// SETTINGS_MAX_HEADER_LIST_SIZE). A larger one is answered HTTP 431
    /// before any handler runs; one over four times this closes the
    /// connection (GOAWAY, ENHANCE_YOUR_CALM).
    pub max_header_list_bytes: u32,
    /// `WatchRun` streams the server serves at once, over every connection;
    /// one more is refused with RESOURCE_EXHAUSTED.
    pub max_run_watchers: usize,
    /// A `WatchRun` stream older than this ends with UNAVAILABLE (reason
    /// `STREAM_MAX_AGE`); the client watches again and gets a new snapshot.
    #[serde(with = "humantime_serde")]
    pub max_run_watch_age: Duration,
    /// PEM certificate chain; with `tls_key`, the server speaks TLS.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
}

/// Who may call the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Bearer tokens, stored as the SHA-256 of the token (never the token
    /// itself); `lmsctl auth hash-token` prints one.
    pub tokens: Vec<TokenSettings>,
}

/// One bearer token and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who holds the token, for logs.
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// `lms.read`, `lms.write`, `migration.admin`.
    pub scopes: Vec<String>,
}

/// Worker processes (`lms-worker`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for new jobs. A run's first
    /// chunks, and every chunk handed to another worker, wait for that
    /// poll; each costs Redis one small script call.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A name prefix for this process; the host name when absent. A unique
    /// suffix is always appended, because apalis re-queues a crashed worker's
    /// jobs only when every process has its own name.
    pub name: Option<String>,
    /// How often a worker tells Redis it is alive (whole seconds).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Heartbeats a worker may miss before its jobs go to other workers.
    pub missed_heartbeats: usize,
}

/// The migration engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSettings {
    /// Legacy rows per chunk (a range of legacy ids).
    pub chunk_size: u32,
    /// The most ranged chunks one run may plan, over all its tables. Each
    /// is a row per ranged phase, a job on the queue and a transaction, so
    /// a chunk size of 1 over a real legacy database would plan millions;
    /// a run that would plan more is refused, naming the smallest chunk
    /// size that fits.
    pub max_chunks: usize,
    /// Attempts of one chunk before it fails the run.
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles with every attempt.
    #[serde(with = "humantime_serde")]
    pub retry_base_delay: Duration,
    /// The longest delay between two attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// A queued chunk that nobody has started after this long, and that has
    /// no job on the queue, is queued again (it was lost with a worker, a
    /// Redis restart or a failed push).
    #[serde(with = "humantime_serde")]
    pub requeue_after: Duration,
    /// How often each worker looks for such lost chunks.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// How long a chunk waits for a lock before failing (transiently) and
    /// being retried, so that it never waits behind a stuck session forever.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Whether a delta run first previews its changes and stops `held`
    /// when a table's exceed the threshold below (never a first load).
    pub hold: bool,
    /// The hold's threshold: more than max(`hold_percent` % of a table's
    /// legacy rows, `hold_min_rows`) changes in one table hold the run.
    pub hold_percent: u32,
    pub hold_min_rows: u64,
    /// How many of the latest succeeded delta runs keep their change log,
    /// and so can be undone. Every other finished run's log is removed (by
    /// the workers' sweeper, and after an inline run), and an undo of such
    /// a run is refused, naming when.
    pub undo_history: u32,
}

impl MigrationSettings {
    /// The default of [`MigrationSettings::max_chunks`].
    pub const DEFAULT_MAX_CHUNKS: usize = 50_000;

    /// The largest hold floor (`hold_min_rows`, and a run's own): a row
    /// count, as PostgreSQL's `bigint` keeps it on the run.
    pub const MAX_HOLD_MIN_ROWS: u64 = i64::MAX.unsigned_abs();
}

impl GrpcSettings {
    /// The connections of the server's own pool on the LMS primary for
    /// migration control (starting, approving, cancelling and undoing
    /// runs, retrying rejected rows), beside `database.max_connections` for the domain API and
    /// the migration service's reads: its statements take as long as the
    /// data needs, as lmsctl's do (a plan reads every table's ranges at
    /// once and may repair an unfinished first load), so the pool has no
    /// `grpc.statement_timeout`.
    pub const MIGRATION_CONTROL_CONNECTIONS: u32 = 10;
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `lms_engine=debug,info`; `RUST_LOG`
    /// wins when set.
    pub filter: String,
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database: DatabaseSettings {
                url: default_postgres("lms"),
                min_connections: 1,
                max_connections: 20,
                connect_timeout: Duration::from_secs(5),
                acquire_timeout: Duration::from_secs(10),
                standbys: Vec::new(),
            },
            legacy: LegacySettings {
                url: default_postgres("edu"),
                timezone: "UTC".to_owned(),
                min_connections: 1,
                max_connections: 20,
                connect_timeout: Duration::from_secs(5),
                acquire_timeout: Duration::from_secs(10),
                max_rows_per_list: 10_000,
            },
            redis: RedisSettings {
                url: RedisUrl::parse("redis://127.0.0.1:6379")
                    .unwrap_or_else(|_| unreachable_url()),
                namespace: "lms".to_owned(),
            },
            grpc: GrpcSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
                reflection: true,
                health: true,
                request_timeout: Duration::from_secs(30),
                statement_timeout: Duration::from_secs(30),
                max_message_bytes: 4 * 1024 * 1024,
                concurrency_limit: 256,
                max_concurrent_streams: 256,
                max_connection_age: Duration::from_secs(30 * 60),
                max_header_list_bytes: 16 * 1024,
                max_run_watchers: 1_000,
                max_run_watch_age: Duration::from_secs(60 * 60),
                tls_cert: None,
                tls_key: None,
            },
            auth: AuthSettings::default(),
            worker: WorkerSettings {
                concurrency: 2,
                // At 100 ms an unchanged seed-scale re-run took 0.72-0.95 s
                // (six runs), at 20 ms 0.67-0.75 s: the wait for the
                // first poll was a tenth of it.
                poll_interval: Duration::from_millis(20),
                name: None,
                heartbeat_interval: Duration::from_secs(5),
                missed_heartbeats: 3,
            },
            migration: MigrationSettings {
                chunk_size: 25_000,
                max_chunks: MigrationSettings::DEFAULT_MAX_CHUNKS,
                max_attempts: 5,
                retry_base_delay: Duration::from_millis(200),
                retry_max_delay: Duration::from_secs(10),
                requeue_after: Duration::from_secs(60),
                sweep_interval: Duration::from_secs(5),
                lock_timeout: Duration::from_secs(30),
                hold: true,
                hold_percent: 10,
                hold_min_rows: 50,
                undo_history: 10,
            },
            log: LogSettings {
                filter: "info".to_owned(),
                format: LogFormat::Text,
            },
            metrics: MetricsSettings {
                enabled: true,
                listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
                refresh_interval: Duration::from_secs(5),
            },
            failover: FailoverSettings {
                probe_interval: Duration::from_secs(60),
                probe_timeout: Duration::from_secs(2),
                slow_request_probe: Duration::from_millis(500),
                max_standby_lag: Duration::from_secs(30),
                legacy_reads: true,
            },
        }
    }
}

fn default_postgres(database: &str) -> PostgresUrl {
    PostgresUrl::parse(&format!("postgres://postgres@127.0.0.1:5432/{database}"))
        .unwrap_or_else(|_| unreachable_url())
}

/// The defaults above are literals that parse; this documents that the
/// fallback cannot be reached rather than hiding a panic in `unwrap`.
fn unreachable_url<T>() -> T {
    unreachable!("built-in default URLs are valid")
}

impl Settings {
    /// Checks relations between values that serde cannot express.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                errors.push(crate::KeyError {
                    key: key.to_owned(),
                    origin: None,
                    message: message.to_owned(),
                });
            }
        };
        let db = &self.database;
        check(
            db.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        );
        check(
            db.min_connections <= db.max_connections,
            "database.min_connections",
            "must not exceed database.max_connections",
        );
        for (index, standby) in db.standbys.iter().enumerate() {
            let standby = standby.resolved(db);
            check(
                standby.max_connections >= 1 && standby.min_connections <= standby.max_connections,
                &format!("database.standbys[{index}].max_connections"),
                "must be at least 1 and at least min_connections",
            );
        }
        check(
            self.legacy.max_connections >= 1
                && self.legacy.min_connections <= self.legacy.max_connections,
            "legacy.max_connections",
            "must be at least 1 and at least legacy.min_connections",
        );
        check(
            self.legacy.max_rows_per_list >= 1,
            "legacy.max_rows_per_list",
            "must be at least 1",
        );
        check(
            self.failover.probe_timeout > Duration::ZERO
                && self.failover.probe_timeout <= self.failover.probe_interval,
            "failover.probe_timeout",
            "must be positive and at most failover.probe_interval",
        );
        check(
            is_named_zone(&self.legacy.timezone),
            "legacy.timezone",
            "must name a time zone such as UTC, Asia/Almaty or Etc/GMT-5 (UTC+05); \
             offsets (+05) and POSIX forms (UTC+5) are refused, because PostgreSQL \
             reads them with POSIX's inverted sign in some places and ISO's in others",
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_ok(),
            "log.filter",
            "must be a tracing filter: a level (info) or comma-separated directives \
             (lms_engine=debug,warn)",
        );
        check(
            !self.redis.namespace.is_empty() && !self.redis.namespace.contains(char::is_whitespace),
            "redis.namespace",
            "must be a non-empty name without spaces",
        );
        check(
            (1..=MAX_WORKER_CONCURRENCY).contains(&self.worker.concurrency),
            "worker.concurrency",
            "must be between 1 and 10000",
        );
        check(
            self.worker.heartbeat_interval.as_secs() >= 1,
            "worker.heartbeat_interval",
            "must be at least 1s (Redis records heartbeats in whole seconds)",
        );
        check(
            self.worker.heartbeat_interval.as_secs() <= 3_600,
            "worker.heartbeat_interval",
            "must be at most 1h (a dead worker would hold its chunks that long)",
        );
        check(
            (1..=100).contains(&self.worker.missed_heartbeats),
            "worker.missed_heartbeats",
            "must be between 1 and 100",
        );
        let migration = &self.migration;
        check(
            (1..=MAX_CHUNK_SIZE).contains(&migration.chunk_size),
            "migration.chunk_size",
            "must be between 1 and 1000000",
        );
        check(
            migration.max_chunks >= 1,
            "migration.max_chunks",
            "must be at least 1",
        );
        check(
            migration.hold_percent <= 100,
            "migration.hold_percent",
            "must be between 0 and 100",
        );
        check(
            migration.hold_min_rows <= MigrationSettings::MAX_HOLD_MIN_ROWS,
            "migration.hold_min_rows",
            "must be at most 9223372036854775807 (a row count)",
        );
        check(
            migration.undo_history >= 1,
            "migration.undo_history",
            "must be at least 1 (the latest run stays undoable)",
        );
        check(
            migration.max_attempts >= 1,
            "migration.max_attempts",
            "must be at least 1",
        );
        check(
            migration.retry_base_delay <= migration.retry_max_delay,
            "migration.retry_base_delay",
            "must not exceed migration.retry_max_delay",
        );
        // A chunk waiting to be retried is queued, with no job: were the
        // wait as long as requeue_after, the sweeper would take it for lost
        // and queue a second delivery of it.
        check(
            migration.retry_max_delay < migration.requeue_after,
            "migration.requeue_after",
            "must exceed migration.retry_max_delay (a chunk waiting to be retried is not lost)",
        );
        let grpc = &self.grpc;
        check(
            grpc.statement_timeout >= Duration::from_millis(1)
                && grpc.statement_timeout.as_millis() <= 2_147_483_647,
            "grpc.statement_timeout",
            "must be between 1ms (0 would mean no limit) and 24 days (PostgreSQL's maximum)",
        );
        check(
            grpc.max_concurrent_streams >= 1,
            "grpc.max_concurrent_streams",
            "must be at least 1",
        );
        check(
            grpc.max_connection_age >= Duration::from_secs(1),
            "grpc.max_connection_age",
            "must be at least 1s",
        );
        check(
            grpc.max_header_list_bytes >= 1024,
            "grpc.max_header_list_bytes",
            "must be at least 1024",
        );
        check(
            (1..=MAX_IN_FLIGHT).contains(&grpc.max_run_watchers),
            "grpc.max_run_watchers",
            "must be between 1 and 1000000",
        );
        check(
            (1..=MAX_IN_FLIGHT).contains(&grpc.concurrency_limit),
            "grpc.concurrency_limit",
            "must be between 1 and 1000000",
        );
        check(
            grpc.max_message_bytes >= 4 * 1024,
            "grpc.max_message_bytes",
            "must be at least 4096 (a List response keeps 128 bytes for its page token)",
        );
        check(
            grpc.max_run_watch_age >= Duration::from_secs(1),
            "grpc.max_run_watch_age",
            "must be at least 1s",
        );
        check(
            grpc.tls_cert.is_some() == grpc.tls_key.is_some(),
            if grpc.tls_cert.is_some() {
                "grpc.tls_key"
            } else {
                "grpc.tls_cert"
            },
            "grpc.tls_cert and grpc.tls_key go together: set both for TLS, or neither",
        );
        for (key, value, shortest) in self.timers() {
            check(
                value >= shortest && value <= LONGEST_TIMER,
                &key,
                &format!(
                    "must be between {} and 1 day",
                    humantime_serde::re::humantime::format_duration(shortest)
                ),
            );
        }
        for (index, token) in self.auth.tokens.iter().enumerate() {
            let key = |field: &str| format!("auth.tokens[{index}].{field}");
            let name_problem = token_name_problem(&token.name);
            check(
                name_problem.is_none(),
                &key("name"),
                name_problem.as_deref().unwrap_or_default(),
            );
            check(
                self.auth.tokens[..index]
                    .iter()
                    .all(|earlier| earlier.name != token.name),
                &key("name"),
                &format!("{:?} names an earlier token too", token.name),
            );
            check(
                self.auth.tokens[..index]
                    .iter()
                    .all(|earlier| !earlier.sha256.eq_ignore_ascii_case(&token.sha256)),
                &key("sha256"),
                "is the hash of an earlier token too: one token, one entry",
            );
            check(
                token.sha256.len() == 64 && token.sha256.chars().all(|c| c.is_ascii_hexdigit()),
                &key("sha256"),
                "must be the token's SHA-256 as 64 hex digits (`lmsctl auth hash-token` prints it)",
            );
            for (scope_index, scope) in token.scopes.iter().enumerate() {
                check(
                    KNOWN_SCOPES.contains(&scope.as_str()),
                    &format!("auth.tokens[{index}].scopes[{scope_index}]"),
                    &format!(
                        "{scope:?} is not a scope; the scopes are {}",
                        KNOWN_SCOPES.join(", ")
                    ),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }
}

impl Settings {
    /// Every duration that arms a timer or bounds a wait, with the shortest
    /// it may be. Zero would fail every wait or spin a loop; a typo of years
    /// would overflow a timer's deadline (a panic) or PostgreSQL's interval.
    fn timers(&self) -> Vec<(String, Duration, Duration)> {
        let millisecond = Duration::from_millis(1);
        let db = &self.database;
        let mut timers = vec![
            (
                "database.connect_timeout".to_owned(),
                db.connect_timeout,
                millisecond,
            ),
            (
                "database.acquire_timeout".to_owned(),
                db.acquire_timeout,
                millisecond,
            ),
            (
                "legacy.connect_timeout".to_owned(),
                self.legacy.connect_timeout,
                millisecond,
            ),
            (
                "legacy.acquire_timeout".to_owned(),
                self.legacy.acquire_timeout,
                millisecond,
            ),
            (
                "failover.probe_interval".to_owned(),
                self.failover.probe_interval,
                Duration::from_millis(100),
            ),
            (
                "failover.slow_request_probe".to_owned(),
                self.failover.slow_request_probe,
                Duration::from_millis(10),
            ),
            (
                "failover.max_standby_lag".to_owned(),
                self.failover.max_standby_lag,
                Duration::from_millis(100),
            ),
            (
                "grpc.request_timeout".to_owned(),
                self.grpc.request_timeout,
                millisecond,
            ),
            (
                "worker.poll_interval".to_owned(),
                self.worker.poll_interval,
                millisecond,
            ),
            (
                "migration.sweep_interval".to_owned(),
                self.migration.sweep_interval,
                millisecond,
            ),
            (
                "migration.requeue_after".to_owned(),
                self.migration.requeue_after,
                Duration::from_secs(1),
            ),
            (
                "migration.lock_timeout".to_owned(),
                self.migration.lock_timeout,
                millisecond,
            ),
            (
                "migration.retry_base_delay".to_owned(),
                self.migration.retry_base_delay,
                millisecond,
            ),
            (
                "migration.retry_max_delay".to_owned(),
                self.migration.retry_max_delay,
                millisecond,
            ),
            (
                "metrics.refresh_interval".to_owned(),
                self.metrics.refresh_interval,
                Duration::from_millis(100),
            ),
        ];
        for (index, standby) in db.standbys.iter().enumerate() {
            let standby = standby.resolved(db);
            timers.push((
                format!("database.standbys[{index}].connect_timeout"),
                standby.connect_timeout,
                millisecond,
            ));
            timers.push((
                format!("database.standbys[{index}].acquire_timeout"),
                standby.acquire_timeout,
                millisecond,
            ));
        }
        timers
    }
}

/// The longest duration a timer setting may have.
const LONGEST_TIMER: Duration = Duration::from_secs(86_400);
/// The most chunks one worker may run at once.
const MAX_WORKER_CONCURRENCY: usize = 10_000;
/// The largest chunk a run may plan (the gRPC API's bound too).
const MAX_CHUNK_SIZE: u32 = 1_000_000;

/// tzdata's names with digits in them, besides `Etc/GMT±N`: the four US
/// zones named for their offsets, and Greenwich. Each means what it says.
const ZONES_NAMED_WITH_OFFSETS: [&str; 7] = [
    "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "GMT0", "GMT+0", "GMT-0",
];

/// A time zone by its tzdata name (`UTC`, `Asia/Almaty`, `Etc/GMT-5`), not
/// an offset (`+05`) or a POSIX TZ string (`UTC+5`, `<+05>-5`,
/// `Asia/Almaty+5`, `EST5EDT,M3.2.0/2,M11.1.0`): PostgreSQL takes those
/// too, but reads a POSIX offset as hours *west* of UTC, the opposite of
/// what most people who write `UTC+5` mean. A name starts with a letter,
/// and has digits only if it is `Etc/GMT±N` or one of
/// [`ZONES_NAMED_WITH_OFFSETS`] (under `posix/` or `right/` too). (Whether
/// PostgreSQL knows the name is asked of PostgreSQL when a worker starts:
/// `lms_engine::setup`.)
pub fn is_named_zone(zone: &str) -> bool {
    let starts_with_letter = zone
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic());
    if !zone.contains(|c: char| c.is_ascii_digit()) {
        return starts_with_letter;
    }
    let lower = zone.to_ascii_lowercase();
    let name = lower
        .strip_prefix("posix/")
        .or_else(|| lower.strip_prefix("right/"))
        .unwrap_or(&lower);
    let etc_gmt_offset = name.strip_prefix("etc/gmt").is_some_and(|offset| {
        let hours = offset.strip_prefix(['+', '-']).unwrap_or(offset);
        !hours.is_empty() && hours.chars().all(|c| c.is_ascii_digit())
    });
    etc_gmt_offset
        || ZONES_NAMED_WITH_OFFSETS
            .iter()
            .any(|named| named.eq_ignore_ascii_case(name))
}
