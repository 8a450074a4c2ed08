//! Building the engine's parts from the configuration.

use std::num::NonZeroU32;

use lms_config::Settings;
use lms_pg::PoolConfig;
use sqlx::PgPool;

use crate::chunk::{EngineContext, RetryPolicy};
use crate::error::EngineError;
use crate::queue::{ChunkQueue, QueueConfig};
use crate::worker::WorkerConfig;

/// The retry policy the configuration describes.
pub fn retry_policy(settings: &Settings) -> RetryPolicy {
    RetryPolicy {
        max_attempts: settings.migration.max_attempts,
        base_delay: settings.migration.retry_base_delay,
        max_delay: settings.migration.retry_max_delay,
    }
}

/// The queue the configuration describes.
pub fn queue_config(settings: &Settings) -> QueueConfig {
    QueueConfig {
        namespace: settings.redis.namespace.clone(),
        heartbeat_interval: settings.worker.heartbeat_interval,
        missed_heartbeats: settings.worker.missed_heartbeats,
        batch_size: settings.worker.concurrency,
    }
}

/// A worker's job loop settings.
pub fn worker_config(settings: &Settings, name: String) -> WorkerConfig {
    WorkerConfig {
        name,
        concurrency: settings.worker.concurrency,
        poll_interval: settings.worker.poll_interval,
        sweep_interval: settings.migration.sweep_interval,
        requeue_after: settings.migration.requeue_after,
        undo_history: undo_history(settings),
    }
}

/// How many of the latest succeeded delta runs keep their change log.
pub fn undo_history(settings: &Settings) -> NonZeroU32 {
    // Settings::validate refuses 0; the latest run stays undoable.
    NonZeroU32::new(settings.migration.undo_history).unwrap_or(NonZeroU32::MIN)
}

/// Connects to both databases with pools sized for `concurrency` chunks.
pub async fn connect_engine(
    settings: &Settings,
    worker_name: String,
    concurrency: usize,
) -> Result<EngineContext, EngineError> {
    let connections = u32::try_from(concurrency)
        .unwrap_or(u32::MAX)
        .saturating_mul(2)
        .saturating_add(2);
    let mut lms_pool = PoolConfig::from_settings(&settings.database, "lms-engine");
    lms_pool.max_connections = lms_pool.max_connections.max(connections);
    let mut legacy_pool = PoolConfig::small("lms-engine-legacy");
    legacy_pool.max_connections = connections;
    legacy_pool.connect_timeout = settings.database.connect_timeout;
    // Both at once: each connection costs a handshake or two.
    let (lms, legacy) = tokio::try_join!(
        async {
            lms_pg::connect(&settings.database.url, &lms_pool)
                .await
                .map_err(EngineError::Lms)
        },
        async {
            lms_pg::connect(&settings.legacy.url, &legacy_pool)
                .await
                .map_err(EngineError::Legacy)
        },
    )?;
    // Legacy times are read in both: staged and applied in the LMS,
    // verified in legacy.
    check_legacy_timezone(&lms, &settings.legacy.timezone, EngineError::Lms).await?;
    check_legacy_timezone(&legacy, &settings.legacy.timezone, EngineError::Legacy).await?;
    Ok(EngineContext {
        lms,
        legacy,
        retry: retry_policy(settings),
        legacy_timezone: settings.legacy.timezone.clone(),
        worker_name,
        lock_timeout: settings.migration.lock_timeout,
    })
}

/// The legacy zone must be a zone's name ([`lms_config::is_named_zone`]:
/// not an offset, not a POSIX form such as `UTC+5`, which PostgreSQL reads
/// as five hours *west* of Greenwich, so that every legacy time would move
/// by ten hours and nothing would fail), and one the PostgreSQL in `db`
/// knows (a typo such as `Asia/Almati` would fail a run at its first
/// chunk). It is checked where a worker, `lmsctl` or a verification starts;
/// `database` labels a failure to ask (`EngineError::Lms` or `Legacy`).
/// (Looking the name up in `pg_timezone_names` reads every zone file: 50 to
/// 110 ms a database, on every `lmsctl migrate run`; `set_config` takes a
/// millisecond.)
pub(crate) async fn check_legacy_timezone(
    db: &PgPool,
    zone: &str,
    database: fn(sqlx::Error) -> EngineError,
) -> Result<(), EngineError> {
    if !lms_config::is_named_zone(zone) {
        return Err(EngineError::Settings(format!(
            "legacy.timezone: {zone:?} is not a zone's name; offsets (+05) and POSIX \
             forms (UTC+5) are refused because PostgreSQL reads their offsets as hours \
             west of UTC (the zone named Etc/GMT-5 is UTC+05)"
        )));
    }
    let mut tx = db.begin().await.map_err(database)?;
    let set = sqlx::query("SELECT set_config('TimeZone', $1, true)")
        .bind(zone)
        .execute(&mut *tx)
        .await;
    match set {
        Ok(_) => tx.rollback().await.map_err(database),
        Err(error)
            if error
                .as_database_error()
                .and_then(|error| error.code())
                .is_some_and(|code| code == "22023") =>
        {
            Err(EngineError::Settings(format!(
                "legacy.timezone: PostgreSQL knows no time zone {zone:?} \
                 (its names are in pg_timezone_names, e.g. Asia/Almaty)"
            )))
        }
        Err(error) => Err(database(error)),
    }
}

/// Connects to the queue the configuration names.
pub async fn connect_queue(settings: &Settings) -> Result<ChunkQueue, EngineError> {
    ChunkQueue::connect(settings.redis.url.expose(), &queue_config(settings)).await
}

/// The queue the configuration names, connected at its first use
/// ([`ChunkQueue::connect_lazily`]).
pub fn connect_queue_lazily(settings: &Settings) -> Result<ChunkQueue, EngineError> {
    ChunkQueue::connect_lazily(settings.redis.url.expose(), &queue_config(settings))
}
