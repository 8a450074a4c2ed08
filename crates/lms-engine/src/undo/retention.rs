//! How long undo's change logs are kept: only the latest succeeded delta
//! runs (`migration.undo_history`) can be undone, so only theirs are. Every
//! other finished run's events are removed by the workers' sweeper, and the
//! run is marked (`changes_pruned_at`): an undo of it is refused, saying
//! when its log went, instead of finding nothing to restore.

use std::num::NonZeroU32;

use sqlx::PgPool;
use uuid::Uuid;

use crate::bulk::LoadPath;
use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

const PRUNE_CHANGE_LOGS: &str = include_str!("sql/prune_change_logs.sql");

/// Removes the change logs of the finished runs that are not among the
/// `keep` latest undoable runs; returns those runs (none, mostly).
pub async fn prune_change_logs(lms: &PgPool, keep: NonZeroU32) -> Result<Vec<Uuid>, EngineError> {
    let finished: Vec<&str> = RunStatus::ALL
        .into_iter()
        .filter(|status| status.is_finished())
        .map(RunStatus::as_str)
        .collect();
    let mut tx = lms.begin().await.lms()?;
    let pruned: Vec<Uuid> = sqlx::query_scalar(PRUNE_CHANGE_LOGS)
        .bind(i64::from(keep.get()))
        .bind(&finished)
        .bind(RunStatus::Succeeded)
        .bind(LoadPath::Bulk)
        .fetch_all(&mut *tx)
        .await
        .lms()?;
    if pruned.is_empty() {
        return Ok(pruned);
    }
    let events = sqlx::query("DELETE FROM migration.run_change_events WHERE run_id = ANY($1)")
        .bind(&pruned)
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    tx.commit().await.lms()?;
    tracing::info!(runs = ?pruned, events, keep, "removed the change logs of runs past the undo history");
    Ok(pruned)
}
