//! Gauges read from the run state in PostgreSQL, on each binary's refresh
//! timer: the latest run's progress per table and phase, and the queue's
//! depth.
//! (Chunk durations, retries and failures are recorded as they happen, in
//! `chunk`.)

use sqlx::{PgPool, Row};

use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

/// How long one refresh waits for the run gauges before it gives up and
/// leaves them at their last values.
const RUN_METRICS_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Refreshes the run and queue gauges within [`RUN_METRICS_LIMIT`], as each
/// binary's refresh timer does: a refresh that fails or runs out of time is
/// logged, and the gauges keep their last values.
pub async fn refresh_run_metrics(lms: &PgPool) {
    match tokio::time::timeout(RUN_METRICS_LIMIT, record_run_metrics(lms)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "run metrics not refreshed"),
        Err(_) => tracing::debug!("run metrics not refreshed in time"),
    }
}

/// Refreshes the run and queue gauges.
async fn record_run_metrics(lms: &PgPool) -> Result<(), EngineError> {
    let latest = sqlx::query(
        "SELECT id, status FROM migration.runs WHERE NOT dry_run ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(lms)
    .await
    .lms()?;
    let Some(latest) = latest else {
        metrics::gauge!("lms_migration_run_active").set(0.0);
        return Ok(());
    };
    let run: uuid::Uuid = latest.try_get("id").lms()?;
    let status: RunStatus = latest.try_get("status").lms()?;
    metrics::gauge!("lms_migration_run_active").set(if status.is_active() { 1.0 } else { 0.0 });
    let steps = sqlx::query(
        "SELECT s.entity, s.phase, count(c.id) FILTER (WHERE c.state = 'done') AS done, \
                count(c.id) AS total \
         FROM migration.run_steps s LEFT JOIN migration.chunks c ON c.step_id = s.id \
         WHERE s.run_id = $1 GROUP BY s.entity, s.phase",
    )
    .bind(run)
    .fetch_all(lms)
    .await
    .lms()?;
    for step in steps {
        let entity: String = step.try_get("entity").lms()?;
        let phase: String = step.try_get("phase").lms()?;
        let done: i64 = step.try_get("done").lms()?;
        let total: i64 = step.try_get("total").lms()?;
        metrics::gauge!("lms_migration_chunks_done", "entity" => entity.clone(), "phase" => phase.clone())
            .set(done as f64);
        metrics::gauge!("lms_migration_chunks_total", "entity" => entity, "phase" => phase)
            .set(total as f64);
    }
    // Queued and not started: waiting for a worker. Started and not done:
    // in a worker's hands.
    let queue = sqlx::query(
        "SELECT count(*) FILTER (WHERE started_at IS NULL) AS waiting, \
                count(*) FILTER (WHERE started_at IS NOT NULL) AS in_flight \
         FROM migration.chunks WHERE state = 'queued'",
    )
    .fetch_one(lms)
    .await
    .lms()?;
    metrics::gauge!("lms_queue_depth").set(queue.try_get::<i64, _>("waiting").lms()? as f64);
    metrics::gauge!("lms_chunks_in_flight").set(queue.try_get::<i64, _>("in_flight").lms()? as f64);
    Ok(())
}

/// Publishes one pool's occupancy under the same names the server's
/// failover pool uses (`lms_db_pool_connections{endpoint, state}`).
pub fn record_pool(endpoint: &'static str, pool: &PgPool) {
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("lms_db_pool_connections", "endpoint" => endpoint, "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("lms_db_pool_connections", "endpoint" => endpoint, "state" => "idle")
        .set(f64::from(idle));
}
