//! Which chunk a delivery runs first: a stage chunk lets the run's queued
//! chunks of later phases go ahead of it.
//!
//! A run queues every table's stage chunks at once, and the steps after a
//! table's stage are queued behind whatever is still waiting. A table's
//! resolve, apply and finalize are a chain the tables after it wait for
//! (persons, users, students, then the journal), while the stage chunks are
//! many and independent: at 10x scale a multi-chunk apply of persons waited
//! about ten seconds behind two hundred journal stage chunks, and with it
//! every table after persons. The first ready chunk of a step runs in the
//! delivery that made it ready; this is for the others.
//!
//! A chunk run ahead is still claimed as any chunk is, and its own job,
//! when it comes, finds it done. The stage chunk runs in the same delivery
//! after it and the chain of ready chunks it leads to; if that delivery
//! ends early on an error, the stage chunk goes back on the queue.

use sqlx::PgExecutor;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::Phase;
use crate::state::ChunkState;

const CHUNK_AHEAD_OF_STAGE: &str = include_str!("sql/chunk_ahead_of_stage.sql");

/// The chunk to run before `delivered`: when `delivered` is a stage chunk,
/// its run's lowest-numbered queued chunk of a later phase that no worker
/// has claimed.
pub async fn chunk_ahead_of<'e>(
    lms: impl PgExecutor<'e>,
    delivered: i64,
) -> Result<Option<i64>, EngineError> {
    sqlx::query_scalar(CHUNK_AHEAD_OF_STAGE)
        .bind(delivered)
        .bind(Phase::Stage)
        .bind(ChunkState::Queued)
        .fetch_optional(lms)
        .await
        .lms()
}
