//! A worker process's job loop: apalis workers that run chunks, and the
//! sweeper that puts lost chunks back on the queue (and removes the change
//! logs past the undo history).
//!
//! Any number of worker processes on any number of machines can share one
//! run: they share only the queue and the LMS database.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use sqlx::Row;

use crate::chunk::{ChunkOutcome, Delivery, EngineContext, chunk_ahead_of, run_delivered_chunk};
use crate::error::{DatabaseContext, EngineError};
use crate::poll_tick::PollEvery;
use crate::queue::{ChunkJob, ChunkQueue};
use crate::undo::retention::prune_step;

const LOST_CHUNK_CANDIDATES: &str = include_str!("worker/lost_chunk_candidates.sql");
const MARK_LOST_CHUNKS_QUEUED: &str = include_str!("worker/mark_lost_chunks_queued.sql");
/// The most chunks one sweep queues again.
const SWEEP_BATCH: usize = 500;

/// How one worker process runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique per process: apalis hands a crashed worker's jobs to others
    /// only when every process has its own name.
    pub name: String,
    /// Chunks run at once.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for jobs.
    pub poll_interval: Duration,
    /// How often the sweeper looks for lost chunks.
    pub sweep_interval: Duration,
    /// A queued chunk nobody has started for this long, and with no job on
    /// the queue, is queued again.
    pub requeue_after: Duration,
    /// How many of the latest succeeded delta runs keep their change log
    /// (the sweeper removes the others').
    pub undo_history: NonZeroU32,
}

/// A unique worker name: `<prefix or host>-<pid>-<random>`.
pub fn unique_worker_name(prefix: Option<&str>) -> String {
    let base = prefix.map(str::to_owned).unwrap_or_else(|| {
        hostname::get()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "worker".to_owned())
    });
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{base}-{}-{}", std::process::id(), &random[..8])
}

struct WorkerState {
    engine: EngineContext,
    queue: ChunkQueue,
}

/// Runs chunk jobs until `shutdown` resolves, then lets running chunks finish.
pub async fn run_worker(
    engine: EngineContext,
    queue: ChunkQueue,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EngineError> {
    let state = Arc::new(WorkerState {
        engine,
        queue: queue.clone(),
    });
    let sweeper = tokio::spawn(sweep_forever(state.clone(), config.clone()));
    let storage = queue.storage();
    let factory_state = state.clone();
    let factory_config = config.clone();
    let monitor = Monitor::new()
        .register(move |restarts: usize| {
            // A restarted worker (after a Redis outage) registers anew, under
            // a fresh name so the old registration cannot block it.
            let name = if restarts == 0 {
                factory_config.name.clone()
            } else {
                format!("{}-r{restarts}", factory_config.name)
            };
            WorkerBuilder::new(name)
                .backend(storage.clone().poll_with_strategy(PollEvery::new(factory_config.poll_interval)))
                .concurrency(factory_config.concurrency)
                .enable_tracing()
                .catch_panic()
                .data(factory_state.clone())
                .build(handle_chunk)
        })
        // Any Redis error stops an apalis worker; restart it and let the
        // connection reconnect.
        .should_restart(|context, error| {
            tracing::warn!(worker = context.name(), %error, "the queue worker stopped; restarting it");
            true
        })
        .shutdown_timeout(Duration::from_secs(600));
    let result = monitor
        .run_with_signal(async move {
            shutdown.await;
            tracing::info!("stopping: finishing the chunks in progress");
            Ok(())
        })
        .await;
    sweeper.abort();
    result.map_err(|error| EngineError::Queue(error.to_string()))
}

async fn handle_chunk(job: ChunkJob, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    // A stage chunk lets a queued chunk of a later phase go first (see
    // `chunk::ahead`), and runs when that one's chain of ready chunks ends.
    // The delivered chunk is claimed as the queue's; a chunk this worker
    // finds ready itself only if no other worker has claimed it.
    let queued = Some((job.chunk_id, Delivery::Queued));
    let (mut next, mut delivered) = match chunk_ahead_of(&state.engine.lms, job.chunk_id).await {
        Ok(Some(ahead)) => (Some((ahead, Delivery::Found)), queued),
        Ok(None) => (queued, None),
        Err(error) => {
            tracing::warn!(chunk = job.chunk_id, %error, "could not look for a chunk to run ahead");
            (queued, None)
        }
    };
    while let Some((chunk_id, delivery)) = next.take().or_else(|| delivered.take()) {
        // The chunk runs on a task of its own so that it finishes even when
        // apalis drops this future (a lost Redis connection restarts the
        // queue worker). A query cancelled halfway would return its pooled
        // connection out of step with the server's protocol.
        let engine = state.engine.clone();
        let outcome =
            tokio::spawn(async move { run_delivered_chunk(&engine, chunk_id, delivery).await })
                .await
                .map_err(|error| {
                    AbortError::new(format!("chunk {chunk_id} task failed: {error}"))
                })?;
        match outcome {
            Ok(ChunkOutcome::Done(advance)) => {
                // The first chunk this one made ready runs right here: on the
                // run's critical path (one table after another) that saves a
                // round trip through the queue per step. The rest go to the
                // queue for other workers. If this process dies first, the
                // sweeper queues the kept chunk again.
                let mut ready = advance.queued;
                if !ready.is_empty() {
                    next = Some((ready.remove(0), Delivery::Found));
                }
                if let Err(error) = state.queue.push(job.run_id, &ready).await {
                    // The chunks are queued in PostgreSQL; the sweeper will push them.
                    tracing::warn!(%error, chunks = ready.len(), "could not queue the next chunks");
                }
            }
            Ok(ChunkOutcome::Skipped(reason)) => {
                tracing::debug!(chunk = chunk_id, reason, "chunk skipped");
            }
            // The failure is recorded on the chunk and its run; apalis must
            // not retry on its own.
            Ok(ChunkOutcome::Failed(message)) => return Err(AbortError::new(message).into()),
            Err(error) => {
                tracing::warn!(chunk = chunk_id, %error, "chunk could not be run; the sweeper will queue it again");
                if let Some((stage, _)) = delivered {
                    // The delivered chunk has not run: it goes back on the queue.
                    if let Err(error) = state.queue.push(job.run_id, &[stage]).await {
                        tracing::warn!(chunk = stage, %error, "could not queue a chunk again; the sweeper will");
                    }
                }
                return Err(AbortError::new(error).into());
            }
        }
    }
    Ok(())
}

async fn sweep_forever(state: Arc<WorkerState>, config: WorkerConfig) {
    let mut ticker = tokio::time::interval(config.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = state.queue.set_aside_unreadable().await {
            tracing::warn!(%error, "looking for unreadable jobs failed");
        }
        match requeue_lost_chunks(&state.engine, &state.queue, config.requeue_after).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "queued lost chunks again"),
            Err(error) => tracing::warn!(%error, "sweeping for lost chunks failed"),
        }
        if let Err(error) = state.queue.purge_finished().await {
            tracing::debug!(%error, "purging finished jobs failed");
        }
        if let Err(error) = state.queue.forget_departed_workers().await {
            tracing::debug!(%error, "forgetting departed workers failed");
        }
        // One run marked and one batch of events removed per sweep: a long
        // history is worked off over several sweeps.
        if let Err(error) = prune_step(&state.engine.lms, config.undo_history).await {
            tracing::warn!(%error, "removing change logs past the undo history failed");
        }
    }
}

/// Puts back on the queue the chunks of running runs that were queued long
/// ago, that no worker holds and that have no job on the queue: lost with a
/// crashed worker, with Redis, or with a push that failed. A cancelling or
/// failed run's lost chunks go back too: delivering one cancels it, and the
/// last one closes the cancelling run or gives back what the failed run's
/// bulk loads took, which nothing else would.
///
/// A chunk queued long ago may only be waiting its turn: a first load at
/// ten times the seed scale queues some two hundred journal apply chunks at
/// once, and the last of them start after `requeue_after` (a sweep that
/// did not ask the queue queued 115 of them a second time). So the
/// candidates are read without locks, those with a job on the queue are
/// left to it, and only the rest are locked, marked queued now, committed
/// and pushed. No row is held while Redis is asked: a delivery finding its
/// chunk's row held skips the chunk, leaving it to the holder.
pub async fn requeue_lost_chunks(
    engine: &EngineContext,
    queue: &ChunkQueue,
    requeue_after: Duration,
) -> Result<usize, EngineError> {
    let candidates: Vec<i64> = sqlx::query_scalar(LOST_CHUNK_CANDIDATES)
        .bind(requeue_after.as_secs_f64())
        .fetch_all(&engine.lms)
        .await
        .lms()?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let with_jobs = queue.chunks_with_jobs().await?;
    let lost: Vec<i64> = candidates
        .into_iter()
        .filter(|chunk| !with_jobs.contains(chunk))
        .take(SWEEP_BATCH)
        .collect();
    if lost.is_empty() {
        return Ok(0);
    }
    // Marked in one statement, committed before the push: a worker that
    // took a job while the rows were still locked here would skip it as
    // held by another worker. (Another sweeper finds them queued just now,
    // and leaves them.)
    let rows = sqlx::query(MARK_LOST_CHUNKS_QUEUED)
        .bind(&lost)
        .bind(requeue_after.as_secs_f64())
        .fetch_all(&engine.lms)
        .await
        .lms()?;
    let mut by_run: std::collections::BTreeMap<uuid::Uuid, Vec<(i64, DateTime<Utc>)>> =
        std::collections::BTreeMap::new();
    for row in &rows {
        by_run
            .entry(row.try_get("run_id").lms()?)
            .or_default()
            .push((
                row.try_get("id").lms()?,
                row.try_get("queued_before").lms()?,
            ));
    }
    // Each run's chunks are pushed in the order they were planned.
    for chunks in by_run.values_mut() {
        chunks.sort_unstable();
    }
    let mut pushed = 0;
    for (run_id, chunks) in &by_run {
        let chunk_ids: Vec<i64> = chunks.iter().map(|(id, _)| *id).collect();
        match queue.push(*run_id, &chunk_ids).await {
            Ok(()) => pushed += chunk_ids.len(),
            Err(error) => {
                // They keep the time they were queued before, so the next
                // sweep tries them again.
                tracing::warn!(%run_id, %error, chunks = chunk_ids.len(), "could not queue lost chunks again");
                let queued_at: Vec<DateTime<Utc>> = chunks.iter().map(|(_, at)| *at).collect();
                sqlx::query(
                    "UPDATE migration.chunks c SET queued_at = lost.queued_at \
                     FROM unnest($1::bigint[], $2::timestamptz[]) AS lost(id, queued_at) \
                     WHERE c.id = lost.id AND c.state = 'queued'",
                )
                .bind(&chunk_ids)
                .bind(&queued_at)
                .execute(&engine.lms)
                .await
                .lms()?;
            }
        }
    }
    Ok(pushed)
}
