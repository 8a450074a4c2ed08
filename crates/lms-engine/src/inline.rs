//! Running a run's chunks in this process, without the queue: for tests of
//! the rules, and for operators who want a migration with no workers.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::Row;
use uuid::Uuid;

use crate::chunk::{ChunkOutcome, EngineContext, run_chunk};
use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

/// Runs every chunk of `run_id` as it becomes ready, `parallelism` at a
/// time, until the run ends. Returns the run's final status.
pub async fn run_inline(
    ctx: &EngineContext,
    run_id: Uuid,
    parallelism: usize,
) -> Result<RunStatus, EngineError> {
    let mut running = FuturesUnordered::new();
    let mut started = std::collections::HashSet::new();
    loop {
        if running.len() < parallelism.max(1) {
            let rows = sqlx::query(
                "SELECT c.id FROM migration.chunks c JOIN migration.runs r ON r.id = c.run_id \
                 WHERE c.run_id = $1 AND c.state = 'queued' AND r.status = 'running' ORDER BY c.id",
            )
            .bind(run_id)
            .fetch_all(&ctx.lms)
            .await
            .lms()?;
            for row in rows {
                let chunk_id: i64 = row.try_get("id").lms()?;
                if running.len() < parallelism.max(1) && started.insert(chunk_id) {
                    running.push(async move { (chunk_id, run_chunk(ctx, chunk_id).await) });
                }
            }
        }
        match running.next().await {
            Some((chunk_id, result)) => {
                started.remove(&chunk_id);
                if let ChunkOutcome::Failed(message) = result? {
                    tracing::warn!(chunk_id, message, "chunk failed");
                }
            }
            None => {
                let status: RunStatus =
                    sqlx::query("SELECT status FROM migration.runs WHERE id = $1")
                        .bind(run_id)
                        .fetch_one(&ctx.lms)
                        .await
                        .lms()?
                        .try_get("status")
                        .lms()?;
                if status != RunStatus::Running {
                    return Ok(status);
                }
                let queued: i64 = sqlx::query(
                    "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'queued'",
                )
                .bind(run_id)
                .fetch_one(&ctx.lms)
                .await
                .lms()?
                .try_get(0)
                .lms()?;
                if queued == 0 {
                    return Err(EngineError::Invariant(format!(
                        "run {run_id} is running but has no queued chunk and none in progress"
                    )));
                }
            }
        }
    }
}
