//! The checks behind `lmsctl doctor`: can this machine reach what a
//! migration needs, is the schema current, and is anyone working the queue.
//!
//! Every check has a time limit, so a stopped service fails within seconds
//! instead of hanging the command, and every failure says what fixes it.

use std::future::Future;
use std::time::Duration;

use lms_config::{PostgresUrl, Settings};
use lms_data::{Database, schema};
use lms_pg::PoolConfig;
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::queue::ChunkQueue;
use crate::setup::queue_config;
use crate::state::RunStatus;

/// How long each check may take by default.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// For a failure: the command or setting that fixes it.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: String) -> Check {
        Check {
            name,
            passed: true,
            detail,
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: String, fix: String) -> Check {
        Check {
            name,
            passed: false,
            detail,
            fix: Some(fix),
        }
    }
}

/// Runs `work` with a time limit; a timeout reads as an error.
async fn limited<T, E: std::fmt::Display>(
    timeout: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f64())),
    }
}

/// The checks after the configuration's, in order: the LMS database, the
/// legacy database, Redis, the LMS schema, the workers.
pub async fn run_checks(settings: &Settings, timeout: Duration) -> Vec<Check> {
    let pool = PoolConfig {
        min_connections: 0,
        max_connections: 2,
        connect_timeout: timeout,
        acquire_timeout: timeout,
        application_name: "lmsctl-doctor".to_owned(),
    };
    let (lms, legacy, queue) = tokio::join!(
        connect_postgres(&settings.database.url, &pool, timeout),
        connect_postgres(&settings.legacy.url, &pool, timeout),
        connect_redis(settings, timeout),
    );
    let mut checks = vec![
        lms_check(&settings.database.url, &lms),
        legacy_check(&settings.legacy.url, &legacy),
        redis_check(settings, &queue),
    ];
    let lms_pool = lms.as_ref().ok().map(|(pool, _)| pool);
    let schema = schema_check(lms_pool, timeout).await;
    let schema_ready = schema.passed;
    checks.push(schema);
    let run_pool = lms_pool.filter(|_| schema_ready);
    checks.push(workers_check(queue.as_ref().ok(), run_pool, timeout).await);
    // Bounded: closing waits for every connection, and one abandoned by a
    // timed-out check may be stuck on a stalled server.
    for pool in [lms, legacy].into_iter().flatten().map(|(pool, _)| pool) {
        let _ = tokio::time::timeout(timeout, pool.close()).await;
    }
    checks
}

/// A pool and the server's version, or why there is none.
async fn connect_postgres(
    url: &PostgresUrl,
    config: &PoolConfig,
    timeout: Duration,
) -> Result<(PgPool, String), sqlx::Error> {
    let pool = lms_pg::connect(url, config).await?;
    let version = tokio::time::timeout(
        timeout,
        sqlx::query("SELECT current_setting('server_version')").fetch_one(&pool),
    )
    .await
    .map_err(|_| sqlx::Error::PoolTimedOut)??
    .try_get::<String, _>(0)?;
    Ok((pool, version))
}

/// The SQLSTATE of a database error, if the server sent one.
fn sql_state(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(error) => error.code().map(|code| code.into_owned()),
        _ => None,
    }
}

fn postgres_failure(
    name: &'static str,
    url: &PostgresUrl,
    error: &sqlx::Error,
    setting: &str,
    missing_fix: &str,
) -> Check {
    let fix = match sql_state(error).as_deref() {
        // invalid_catalog_name: the server answers, the database is not there.
        Some("3D000") => missing_fix.to_owned(),
        // invalid_password, invalid_authorization_specification.
        Some("28P01" | "28000") => format!("fix the user or password in {setting}"),
        _ => format!(
            "start PostgreSQL at {} (`scripts/ensure-services.sh` on a development machine) or set {setting}",
            url.host_port()
        ),
    };
    let problem = match error {
        sqlx::Error::PoolTimedOut => "no answer in time".to_owned(),
        other => other.to_string(),
    };
    Check::fail(name, format!("{url}: {problem}"), fix)
}

fn lms_check(url: &PostgresUrl, connected: &Result<(PgPool, String), sqlx::Error>) -> Check {
    const NAME: &str = "LMS database";
    match connected {
        Ok((_, version)) => Check::pass(NAME, format!("{url} answers (PostgreSQL {version})")),
        Err(error) => postgres_failure(
            NAME,
            url,
            error,
            "database.url / LMS_DATABASE__URL",
            "run `lmsctl db up` (it creates the database and applies the schema)",
        ),
    }
}

fn legacy_check(url: &PostgresUrl, connected: &Result<(PgPool, String), sqlx::Error>) -> Check {
    const NAME: &str = "legacy database";
    match connected {
        Ok((_, version)) => Check::pass(NAME, format!("{url} answers (PostgreSQL {version})")),
        Err(error) => postgres_failure(
            NAME,
            url,
            error,
            "legacy.url / LMS_LEGACY__URL",
            "set legacy.url / LMS_LEGACY__URL to the EDU database (for a development stand-in: `lmsctl legacy seed`)",
        ),
    }
}

/// The chunk queue, once Redis has answered a PING.
async fn connect_redis(settings: &Settings, timeout: Duration) -> Result<ChunkQueue, String> {
    let client =
        redis::Client::open(settings.redis.url.expose()).map_err(|error| error.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut connection = limited(
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await?;
    limited(
        timeout,
        redis::cmd("PING").query_async::<String>(&mut connection),
    )
    .await?;
    limited(
        timeout,
        ChunkQueue::connect(settings.redis.url.expose(), &queue_config(settings)),
    )
    .await
}

fn redis_check(settings: &Settings, queue: &Result<ChunkQueue, String>) -> Check {
    const NAME: &str = "Redis";
    let url = &settings.redis.url;
    match queue {
        Ok(_) => Check::pass(NAME, format!("{url} answers")),
        Err(problem) => Check::fail(
            NAME,
            format!("{url}: {problem}"),
            "start Redis (`redis-server --daemonize yes --bind 127.0.0.1 --port 6379`, or `scripts/ensure-services.sh` on a development machine) or set redis.url / LMS_REDIS__URL".to_owned(),
        ),
    }
}

async fn schema_check(lms: Option<&PgPool>, timeout: Duration) -> Check {
    const NAME: &str = "LMS schema";
    const FIX: &str = "run `lmsctl db up`";
    let Some(pool) = lms else {
        return Check::fail(
            NAME,
            "not checked: the LMS database does not answer".to_owned(),
            format!("fix the LMS database (above), then {FIX}"),
        );
    };
    let db = Database::from_pool(pool.clone());
    let states = match limited(timeout, schema::status(&db)).await {
        Ok(states) => states,
        Err(problem) => {
            return Check::fail(
                NAME,
                format!("could not read the migration state: {problem}"),
                FIX.to_owned(),
            );
        }
    };
    let pending: Vec<&str> = states
        .iter()
        .filter(|state| !state.applied)
        .map(|state| state.name.as_str())
        .collect();
    if pending.is_empty() {
        let latest = states.last().map_or("none", |state| state.name.as_str());
        Check::pass(
            NAME,
            format!(
                "up to date: {} migrations applied (latest {latest})",
                states.len()
            ),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "{} of {} migrations pending: {}",
                pending.len(),
                states.len(),
                pending.join(", ")
            ),
            FIX.to_owned(),
        )
    }
}

async fn workers_check(
    queue: Option<&ChunkQueue>,
    lms: Option<&PgPool>,
    timeout: Duration,
) -> Check {
    const NAME: &str = "workers";
    const FIX: &str = "start workers: `lms-worker` (on any machine that reaches Redis and both databases), or run a migration in-process with `lmsctl migrate run --inline`";
    let Some(queue) = queue else {
        return Check::fail(
            NAME,
            "not checked: Redis does not answer".to_owned(),
            format!("fix Redis (above), then {FIX}"),
        );
    };
    let alive = match limited(timeout, queue.alive_workers()).await {
        Ok(alive) => alive,
        Err(problem) => {
            return Check::fail(
                NAME,
                format!("could not list workers: {problem}"),
                FIX.to_owned(),
            );
        }
    };
    let mut detail = match alive.len() {
        0 => format!("no worker has sent a heartbeat on queue {}", queue.name()),
        count => format!("{count} alive ({})", names(&alive)),
    };
    match limited(timeout, queue.depth()).await {
        Ok(depth) => {
            detail.push_str(&format!(
                "; queue: {} waiting, {} delayed, {} running",
                depth.waiting, depth.delayed, depth.running
            ));
            if depth.set_aside > 0 {
                detail.push_str(&format!(
                    "; {} unreadable jobs set aside in {}",
                    depth.set_aside,
                    queue.unreadable_hash()
                ));
            }
        }
        Err(problem) => detail.push_str(&format!("; queue depth unknown: {problem}")),
    }
    if let Some(pool) = lms {
        match limited(timeout, active_run(pool)).await {
            Ok(Some(run)) => detail.push_str(&format!("; {run}")),
            Ok(None) => detail.push_str("; no active run"),
            Err(problem) => detail.push_str(&format!("; run state unknown: {problem}")),
        }
    }
    if alive.is_empty() {
        Check::fail(NAME, detail, FIX.to_owned())
    } else {
        Check::pass(NAME, detail)
    }
}

/// A few names, and how many more there are.
fn names(all: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = all
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > SHOWN {
        text.push_str(&format!(" and {} more", all.len() - SHOWN));
    }
    text
}

/// The active run's work in flight as PostgreSQL records it: chunks queued,
/// and those a worker has started (and holds, or left behind when it died).
async fn active_run(lms: &PgPool) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT r.id, r.status, \
                count(c.id) FILTER (WHERE c.state = 'queued') AS queued, \
                count(c.id) FILTER (WHERE c.state = 'queued' AND c.started_at IS NOT NULL) AS started, \
                coalesce(array_agg(DISTINCT c.worker) FILTER (WHERE c.state = 'queued' AND c.worker IS NOT NULL), '{}') \
                    AS workers \
         FROM migration.runs r LEFT JOIN migration.chunks c ON c.run_id = r.id \
         WHERE r.status IN ('running', 'held', 'cancelling') GROUP BY r.id ORDER BY r.id DESC LIMIT 1",
    )
    .fetch_optional(lms)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let run_id: Uuid = row.try_get("id")?;
    let status: RunStatus = row.try_get("status")?;
    let queued: i64 = row.try_get("queued")?;
    let started: i64 = row.try_get("started")?;
    let workers: Vec<String> = row.try_get("workers")?;
    let mut text = format!("run {run_id} {status}: {queued} chunks queued, {started} started");
    if !workers.is_empty() {
        text.push_str(&format!(" (by {})", names(&workers)));
    }
    Ok(Some(text))
}
