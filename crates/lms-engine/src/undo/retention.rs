//! How long undo's change logs are kept: only the latest succeeded delta
//! runs (`migration.undo_history`) can be undone, so only theirs are. Every
//! other finished run is marked (`changes_pruned_at`), by the workers'
//! sweeper and after an inline run, and its events removed: an undo of it
//! is refused, saying when its log went, instead of finding nothing to
//! restore.
//!
//! Marking takes `migration.runs`, and never while an undo holds it;
//! removing the events, which can be millions for one run, does not, and
//! goes in batches, so that neither an undo nor the sweeper's other work
//! waits behind it.

use std::num::NonZeroU32;

use sqlx::PgPool;
use uuid::Uuid;

use crate::bulk::LoadPath;
use crate::chunk::is_lock_not_available;
use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

const MARK_OLDEST_PAST_HISTORY: &str = include_str!("sql/mark_oldest_past_history.sql");
const REMOVE_PRUNED_EVENTS: &str = include_str!("sql/remove_pruned_events.sql");

/// Events removed per statement.
const EVENTS_PER_BATCH: i64 = 10_000;

/// What one step of pruning did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// The run marked, if one was due (and no undo held the runs).
    pub marked: Option<Uuid>,
    /// Events of marked runs removed (at most one batch).
    pub events_removed: u64,
}

impl PruneStep {
    /// Whether the step found nothing to do.
    pub fn is_idle(&self) -> bool {
        self.marked.is_none() && self.events_removed == 0
    }
}

/// One step: marks the oldest finished run past the `keep` latest
/// undoable runs, if one is due, then removes one batch of marked runs'
/// events. The workers' sweeper takes one step per sweep.
pub async fn prune_step(lms: &PgPool, keep: NonZeroU32) -> Result<PruneStep, EngineError> {
    let marked = mark_oldest_past_history(lms, keep).await?;
    let events_removed = sqlx::query(REMOVE_PRUNED_EVENTS)
        .bind(EVENTS_PER_BATCH)
        .execute(lms)
        .await
        .lms()?
        .rows_affected();
    if let Some(run_id) = marked {
        tracing::info!(%run_id, keep, "a run's change log is past the undo history: removing it");
    }
    Ok(PruneStep {
        marked,
        events_removed,
    })
}

/// Steps until nothing is left to do; returns how many runs were marked.
/// For a process that runs chunks without the workers' sweeper (`lmsctl
/// migrate run --inline`).
pub async fn prune_until_done(lms: &PgPool, keep: NonZeroU32) -> Result<usize, EngineError> {
    let mut marked = 0;
    loop {
        let step = prune_step(lms, keep).await?;
        if step.is_idle() {
            return Ok(marked);
        }
        marked += usize::from(step.marked.is_some());
    }
}

/// Marks the oldest finished run past the history; `None` when none is
/// due, or while an undo holds `migration.runs` (it reads the log it
/// restores): the next step goes on.
async fn mark_oldest_past_history(
    lms: &PgPool,
    keep: NonZeroU32,
) -> Result<Option<Uuid>, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    let locked = sqlx::raw_sql("LOCK TABLE migration.runs IN ROW EXCLUSIVE MODE NOWAIT")
        .execute(&mut *tx)
        .await;
    match locked {
        Err(error) if is_lock_not_available(&error) => return Ok(None),
        other => other.lms()?,
    };
    let marked: Option<Uuid> = sqlx::query_scalar(MARK_OLDEST_PAST_HISTORY)
        .bind(i64::from(keep.get()))
        .bind(RunStatus::finished_names())
        .bind(RunStatus::Succeeded)
        .bind(LoadPath::Bulk)
        .fetch_optional(&mut *tx)
        .await
        .lms()?;
    tx.commit().await.lms()?;
    Ok(marked)
}
