//! A table whose resolve step found that nothing can have changed (a delta
//! run's usual case for most tables) has an apply step that looks at no row
//! and a finalize step that records the coverage its last run recorded.
//! They run in the resolve chunk's own transaction, one after the other,
//! instead of as two more chunks, each with a claim transaction and a
//! transaction of its own: the small tables stand one after another on the
//! run's critical path (organizations, users, teachers, groups, students,
//! then the journal), and those transactions cost more than the work.
//!
//! The chunks are claimed, worked and completed as any chunk is, so that
//! the run's bookkeeping (attempts, timings, statistics, the steps they
//! make ready) reads the same. They run under a savepoint: if either fails,
//! the resolve commits alone and they are left queued, to run (and fail,
//! and be retried) as chunks of their own, under their own names. A table
//! with no coverage recorded by an earlier run is finalized in full, which
//! reads the whole ledger: that finalize too is left to run on its own,
//! since the run's row stays locked from a chunk's completion to commit,
//! and every other chunk of the run completing meanwhile waits for it.

use serde_json::Value;
use sqlx::{PgConnection, Row};

use super::{ChunkInfo, EngineContext, do_work};
use crate::error::{DatabaseContext, EngineError};
use crate::finalize;
use crate::plan::{IdRange, Phase};
use crate::progress::{self, Advance};
use crate::state::ChunkState;

/// Whether a completed chunk is a resolve step that skipped its table.
pub(super) fn skipped_resolve(info: &ChunkInfo, stats: &Value) -> bool {
    info.phase == Phase::Resolve && stats.get("skipped").and_then(Value::as_bool) == Some(true)
}

/// Runs, in `tx`, the table's apply and then finalize chunks that the
/// resolve chunk `resolved` made ready; returns the run's advance with them
/// taken out of what is left to queue and what they made ready put in. On
/// a failure, `advance` as it was: the chunks stay queued.
pub(super) async fn complete_with_resolve(
    ctx: &EngineContext,
    tx: &mut PgConnection,
    resolved: &ChunkInfo,
    advance: Advance,
) -> Result<Advance, EngineError> {
    sqlx::raw_sql("SAVEPOINT unchanged_table")
        .execute(&mut *tx)
        .await
        .lms()?;
    match complete_phases(ctx, tx, resolved, advance.clone()).await {
        Ok(completed) => {
            sqlx::raw_sql("RELEASE SAVEPOINT unchanged_table")
                .execute(&mut *tx)
                .await
                .lms()?;
            Ok(completed)
        }
        Err(error) => {
            tracing::warn!(
                entity = %resolved.entity,
                %error,
                "an unchanged table's apply or finalize failed in its resolve's transaction; they run as chunks of their own"
            );
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT unchanged_table")
                .execute(&mut *tx)
                .await
                .lms()?;
            Ok(advance)
        }
    }
}

async fn complete_phases(
    ctx: &EngineContext,
    tx: &mut PgConnection,
    resolved: &ChunkInfo,
    mut advance: Advance,
) -> Result<Advance, EngineError> {
    for phase in [Phase::Apply, Phase::Finalize] {
        if phase == Phase::Finalize
            && !finalize::previous_coverage_recorded(tx, resolved.run_id, resolved.entity).await?
        {
            break;
        }
        let chunks = ready_chunks(tx, resolved, &advance.queued, phase).await?;
        if chunks.is_empty() {
            // Not made ready (a cancelled run readies nothing): the queue
            // runs whatever is left, as usual.
            break;
        }
        for chunk in chunks {
            advance.queued.retain(|&queued| queued != chunk.id);
            claim_without_queue(tx, &chunk, &ctx.worker_name).await?;
            let stats = do_work(ctx, tx, &chunk).await?;
            let next = progress::complete_chunk(
                tx,
                &ctx.legacy,
                chunk.run_id,
                chunk.id,
                chunk.step_id,
                &stats,
            )
            .await?;
            advance.queued.extend(next.queued);
            advance.finished = next.finished.or(advance.finished);
        }
    }
    Ok(advance)
}

/// The chunks of the resolved table's `phase` among those just made ready,
/// locked, in id order.
async fn ready_chunks(
    tx: &mut PgConnection,
    resolved: &ChunkInfo,
    queued: &[i64],
    phase: Phase,
) -> Result<Vec<ChunkInfo>, EngineError> {
    let rows = sqlx::query(include_str!("sql/ready_chunks_of_phase.sql"))
        .bind(queued)
        .bind(resolved.entity.as_str())
        .bind(phase)
        .bind(ChunkState::Queued)
        .fetch_all(&mut *tx)
        .await
        .lms()?;
    rows.iter()
        .map(|row| {
            Ok(ChunkInfo {
                id: row.try_get("id").lms()?,
                step_id: row.try_get("step_id").lms()?,
                phase,
                range: IdRange {
                    first: row.try_get("first_legacy_id").lms()?,
                    last: row.try_get("last_legacy_id").lms()?,
                },
                ..resolved.clone()
            })
        })
        .collect()
}

/// Counts the attempt and marks the start, as a claim does (the chunk's row
/// is already locked by this transaction, and no worker has seen it queued).
async fn claim_without_queue(
    tx: &mut PgConnection,
    chunk: &ChunkInfo,
    worker_name: &str,
) -> Result<(), EngineError> {
    sqlx::query(
        "UPDATE migration.chunks SET attempts = attempts + 1, started_at = clock_timestamp(), worker = $2 \
         WHERE id = $1",
    )
    .bind(chunk.id)
    .bind(worker_name)
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
