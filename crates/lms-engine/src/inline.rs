//! Running a run's chunks in this process, without the queue: for tests of
//! the rules, and for operators who want a migration with no workers.

use std::collections::HashSet;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use lms_pg::FailureClass;
use sqlx::Row;
use uuid::Uuid;

use crate::chunk::{ChunkOutcome, EngineContext, run_chunk};
use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

/// Runs every chunk of `run_id` as it becomes ready, `parallelism` at a
/// time, until the run ends. Returns the run's final status.
///
/// A transient error (the LMS restarting, a pool timeout) is waited out
/// with the chunks' own backoff, up to `ctx.retry.max_attempts` turns in
/// a row that meet one (errors of chunks in flight during a wait count
/// with it): a chunk that did not finish is still queued and is taken up
/// again.
/// Returning early would leave the run active, with nobody running it,
/// and every later run refused until it is cancelled or workers take it.
pub async fn run_inline(
    ctx: &EngineContext,
    run_id: Uuid,
    parallelism: usize,
) -> Result<RunStatus, EngineError> {
    let mut running = FuturesUnordered::new();
    let mut started = HashSet::new();
    let mut failures_in_a_row = 0;
    loop {
        let step = next_step(ctx, run_id, parallelism, &mut running, &mut started).await;
        match step {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => failures_in_a_row = 0,
            Err(error)
                if error.class() == FailureClass::Transient
                    && failures_in_a_row + 1 < ctx.retry.max_attempts =>
            {
                failures_in_a_row += 1;
                let delay = ctx.retry.delay(failures_in_a_row);
                tracing::warn!(%run_id, %error, ?delay, "the inline run waits out a transient error");
                wait_out(delay, &mut running, &mut started).await?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Waits `delay` while the chunks in flight go on (their transactions hold
/// locks that must not wait for this). A transient error one of them
/// meets meanwhile is the same outage, not another attempt: it is still
/// queued and taken up again after the wait.
async fn wait_out(
    delay: std::time::Duration,
    running: &mut FuturesUnordered<Delivery<'_>>,
    started: &mut HashSet<i64>,
) -> Result<(), EngineError> {
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return Ok(()),
            Some((chunk_id, result)) = running.next() => {
                started.remove(&chunk_id);
                match result {
                    Ok(ChunkOutcome::Failed(message)) => {
                        tracing::warn!(chunk_id, message, "chunk failed");
                    }
                    Ok(_) => {}
                    Err(error) if error.class() == FailureClass::Transient => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
}

/// A chunk's delivery in flight, with the chunk it runs.
type Delivery<'a> = BoxFuture<'a, (i64, Result<ChunkOutcome, EngineError>)>;

/// One turn of [`run_inline`]: starts what is ready, then waits for one
/// chunk to end (or, with none running, reads whether the run has ended).
/// `Some` once the run has ended.
async fn next_step<'a>(
    ctx: &'a EngineContext,
    run_id: Uuid,
    parallelism: usize,
    running: &mut FuturesUnordered<Delivery<'a>>,
    started: &mut HashSet<i64>,
) -> Result<Option<RunStatus>, EngineError> {
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
                running.push(Box::pin(async move {
                    (chunk_id, run_chunk(ctx, chunk_id).await)
                }));
            }
        }
    }
    match running.next().await {
        Some((chunk_id, result)) => {
            // Ended either way: a chunk that did not finish is still
            // queued, and the next turn takes it up again.
            started.remove(&chunk_id);
            if let ChunkOutcome::Failed(message) = result? {
                tracing::warn!(chunk_id, message, "chunk failed");
            }
            Ok(None)
        }
        None => {
            let status: RunStatus = sqlx::query("SELECT status FROM migration.runs WHERE id = $1")
                .bind(run_id)
                .fetch_one(&ctx.lms)
                .await
                .lms()?
                .try_get("status")
                .lms()?;
            if status != RunStatus::Running {
                return Ok(Some(status));
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
            Ok(None)
        }
    }
}
