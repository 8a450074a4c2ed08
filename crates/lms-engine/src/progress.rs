//! Moving a run forward when a chunk is done, inside the chunk's own
//! transaction: the run's state is the orchestration, so a worker that dies
//! at any point leaves nothing half-advanced.

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

/// What completing a chunk set in motion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advance {
    /// Chunks that became ready and must be put on the queue after commit.
    pub queued: Vec<i64>,
    /// Set when the run has ended by this chunk's commit: this chunk
    /// finished it, or the run failed while the chunk ran.
    pub finished: Option<RunStatus>,
    /// The run had failed or closed before this chunk could commit. Its
    /// work must not commit: the run is no longer active, so a later run
    /// may already be recording changes the work would clear (a finalize's
    /// `caught_up`, say). The chunk's delivery rolls the work back and
    /// cancels the chunk.
    pub run_ended_first: bool,
}

/// The channel `pg_notify` announces progress on (payload: the run id).
pub const PROGRESS_CHANNEL: &str = "migration_progress";

/// Marks the chunk done and advances its step, the steps waiting for it,
/// and the run. `legacy` serves the hold gate, which stages again what a
/// crash emptied before it counts its preview: it COPYs into `tx`, which
/// must be a [`lms_pg::CopyConnection`] where it is pooled.
pub async fn complete_chunk(
    tx: &mut PgConnection,
    legacy: &PgPool,
    run_id: Uuid,
    chunk_id: i64,
    step_id: i64,
    stats: &Value,
) -> Result<Advance, EngineError> {
    sqlx::query(
        "UPDATE migration.chunks SET state = 'done', finished_at = clock_timestamp(), stats = $2, last_error = NULL WHERE id = $1",
    )
    .bind(chunk_id)
    .bind(stats)
    .execute(&mut *tx)
    .await
    .lms()?;
    let row = sqlx::query(
        "UPDATE migration.run_steps SET chunks_done = chunks_done + 1 WHERE id = $1 RETURNING chunks_done, chunks_total",
    )
    .bind(step_id)
    .fetch_one(&mut *tx)
    .await
    .lms()?;
    let (done, total): (i32, i32) = (
        row.try_get("chunks_done").lms()?,
        row.try_get("chunks_total").lms()?,
    );
    // The run's row is locked before its status is read, and held to
    // commit: a cancel (or a failure) either comes first, and this chunk
    // sees it and closes the run if it was the last, or waits for this
    // commit and finds the chunk done. Read without the lock, a cancel
    // counting this chunk as busy left the run to it, and the chunk, having
    // read `running`, never closed it. NO KEY UPDATE, because foreign-key
    // checks hold KEY SHARE locks on the run's row.
    let status: RunStatus =
        sqlx::query("SELECT status FROM migration.runs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .lms()?
            .try_get("status")
            .lms()?;
    let mut advance = Advance::default();
    match status {
        // A cancelled run starts nothing new; the last chunk to finish closes it.
        RunStatus::Cancelling => {
            advance.finished = close_cancelled_run(tx, run_id, chunk_id).await?;
        }
        // Another chunk failed the run while this one ran: nothing new
        // starts, this chunk's work is rolled back (`run_ended_first`), and
        // the run's end is passed on, so that what its bulk loads took is
        // given back once its last chunk has settled.
        RunStatus::Failed | RunStatus::Cancelled => {
            advance.finished = Some(status);
            advance.run_ended_first = true;
        }
        _ if done >= total => advance = complete_step(tx, legacy, run_id, step_id).await?,
        _ => {}
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(advance)
}

async fn complete_step(
    tx: &mut PgConnection,
    legacy: &PgPool,
    run_id: Uuid,
    step_id: i64,
) -> Result<Advance, EngineError> {
    // Steps completing at once serialise on their run's row, which
    // `complete_chunk` locked before any other step's row: exactly one of
    // them then sees the run finished, and they cannot deadlock on the
    // steps they wake.
    sqlx::query("UPDATE migration.run_steps SET state = 'done', finished_at = clock_timestamp() WHERE id = $1")
        .bind(step_id)
        .execute(&mut *tx)
        .await
        .lms()?;
    // Lock the waiting steps in id order: two steps finishing at once may
    // share waiting steps, and locking them in any other order deadlocks.
    sqlx::query(
        "SELECT s.id FROM migration.run_steps s JOIN migration.step_dependencies d ON d.step_id = s.id \
         WHERE d.depends_on = $1 ORDER BY s.id FOR UPDATE OF s",
    )
    .bind(step_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    // The steps this one was the last dependency of.
    let ready: Vec<i64> = sqlx::query_scalar(
        "WITH lowered AS ( \
             UPDATE migration.run_steps s SET pending_dependencies = s.pending_dependencies - 1 \
             FROM migration.step_dependencies d \
             WHERE d.depends_on = $1 AND s.id = d.step_id \
             RETURNING s.id, s.pending_dependencies) \
         SELECT id FROM lowered WHERE pending_dependencies = 0",
    )
    .bind(step_id)
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    let mut advance = Advance::default();
    if !ready.is_empty() {
        sqlx::query(
            "UPDATE migration.run_steps SET state = 'ready', started_at = now() WHERE id = ANY($1)",
        )
        .bind(&ready)
        .execute(&mut *tx)
        .await
        .lms()?;
        advance.queued = sqlx::query(
            "UPDATE migration.chunks SET state = 'queued', queued_at = now() \
             WHERE step_id = ANY($1) AND state = 'waiting' RETURNING id",
        )
        .bind(&ready)
        .fetch_all(&mut *tx)
        .await
        .lms()?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .lms()?;
    }
    // The run's last stage step lets a gated run's hold gate decide.
    advance
        .queued
        .extend(crate::hold::decide_when_staged(tx, legacy, run_id).await?);
    let remaining: i64 = sqlx::query(
        "SELECT count(*) FROM migration.run_steps WHERE run_id = $1 AND state <> 'done'",
    )
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    if remaining == 0 {
        advance.finished = Some(finish_run(tx, run_id).await?);
    }
    Ok(advance)
}

/// Closes a cancelling run once no other chunk of it is in progress.
pub(crate) async fn close_cancelled_run(
    tx: &mut PgConnection,
    run_id: Uuid,
    chunk_id: i64,
) -> Result<Option<RunStatus>, EngineError> {
    sqlx::query("SELECT 1 FROM migration.runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .lms()?;
    let busy: i64 = sqlx::query(
        "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'queued' AND id <> $2",
    )
    .bind(run_id)
    .bind(chunk_id)
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    if busy > 0 {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE migration.runs SET status = 'cancelled', finished_at = clock_timestamp() \
         WHERE id = $1 AND status = 'cancelling'",
    )
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(Some(RunStatus::Cancelled))
}

/// Closes a run whose every step is done: it succeeded only if no legacy
/// row of any table is left without an outcome.
async fn finish_run(tx: &mut PgConnection, run_id: Uuid) -> Result<RunStatus, EngineError> {
    let rows = sqlx::query(
        "SELECT entity, coalesce((stats->>'unexplained')::bigint, 0) AS unexplained \
         FROM migration.run_steps \
         WHERE run_id = $1 AND phase = 'finalize' ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    let mut unexplained = Vec::new();
    for row in &rows {
        let count: i64 = row.try_get("unexplained").lms()?;
        if count != 0 {
            unexplained.push(format!(
                "{} {count}",
                row.try_get::<String, _>("entity").lms()?
            ));
        }
    }
    let (status, error) = if unexplained.is_empty() {
        (RunStatus::Succeeded, None)
    } else {
        (
            RunStatus::Failed,
            Some(format!(
                "legacy rows without an outcome: {}",
                unexplained.join(", ")
            )),
        )
    };
    sqlx::query(
        "UPDATE migration.runs SET status = $2, error = coalesce($3, error), finished_at = clock_timestamp() \
         WHERE id = $1 AND status IN ('running', 'cancelling')",
    )
    .bind(run_id)
    .bind(status)
    .bind(error)
    .execute(&mut *tx)
    .await
    .lms()?;
    tracing::info!(%run_id, %status, "migration run finished");
    Ok(status)
}

/// Fails a chunk and its run (in its own transaction): the run stops, the
/// chunk and its error stay visible, queued chunks are cancelled. Returns
/// `false`, failing nothing, when the chunk is no longer queued: another
/// worker ran it meanwhile (this waits for one still running it), or its
/// run was cancelled.
pub async fn fail_chunk(
    lms: &PgPool,
    run_id: Uuid,
    chunk_id: i64,
    error: &str,
) -> Result<bool, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    let failed = sqlx::query(
        "UPDATE migration.chunks SET state = 'failed', finished_at = clock_timestamp(), last_error = $2 \
         WHERE id = $1 AND state = 'queued'",
    )
    .bind(chunk_id)
    .bind(error)
    .execute(&mut *tx)
    .await
    .lms()?
    .rows_affected();
    if failed == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE migration.run_steps SET state = 'failed', finished_at = clock_timestamp() \
         WHERE id = (SELECT step_id FROM migration.chunks WHERE id = $1)",
    )
    .bind(chunk_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::query(
        "UPDATE migration.runs SET status = 'failed', finished_at = clock_timestamp(), failed_chunk_id = $2, error = $3 \
         WHERE id = $1 AND status IN ('running', 'cancelling')",
    )
    .bind(run_id)
    .bind(chunk_id)
    .bind(error)
    .execute(&mut *tx)
    .await
    .lms()?;
    // Chunks other workers are running right now keep their locks and finish
    // (their work commits or rolls back whole); only idle ones are cancelled,
    // without waiting for the busy ones, which would deadlock with them.
    sqlx::query(
        "UPDATE migration.chunks SET state = 'cancelled' WHERE id IN ( \
             SELECT id FROM migration.chunks WHERE run_id = $1 AND state IN ('waiting', 'queued') \
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *tx)
        .await
        .lms()?;
    tx.commit().await.lms()?;
    tracing::error!(%run_id, chunk_id, error, "migration run failed");
    crate::bulk::release_ended_run(lms, run_id).await;
    Ok(true)
}
