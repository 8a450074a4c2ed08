//! How long undo's change logs are kept: only the latest succeeded delta
//! runs (`migration.undo_history`) can be undone, so only theirs are. Every
//! other finished run's events are removed, by the workers' sweeper and
//! after an inline run, and the run is marked (`changes_pruned_at`): an
//! undo of it is refused, saying when its log went, instead of finding
//! nothing to restore.

use std::num::NonZeroU32;

use sqlx::PgPool;
use uuid::Uuid;

use crate::bulk::LoadPath;
use crate::error::{DatabaseContext, EngineError};
use crate::state::RunStatus;

const PRUNE_CHANGE_LOGS: &str = include_str!("sql/prune_change_logs.sql");

/// PostgreSQL's `lock_not_available`: a `NOWAIT` lock another session holds.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Removes the change log of the oldest finished run that is not among the
/// `keep` latest undoable runs; returns that run, if there was one. Call it
/// again until it returns `None` to catch up on a long history.
///
/// While an undo holds `migration.runs` (it reads the log it restores),
/// nothing is removed and `None` is returned at once: the next call goes on.
pub async fn prune_change_log(lms: &PgPool, keep: NonZeroU32) -> Result<Option<Uuid>, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    let locked = sqlx::raw_sql("LOCK TABLE migration.runs IN ROW EXCLUSIVE MODE NOWAIT")
        .execute(&mut *tx)
        .await;
    match locked {
        Err(sqlx::Error::Database(error))
            if error.code().as_deref() == Some(LOCK_NOT_AVAILABLE) =>
        {
            return Ok(None);
        }
        other => other.lms()?,
    };
    let pruned: Option<Uuid> = sqlx::query_scalar(PRUNE_CHANGE_LOGS)
        .bind(i64::from(keep.get()))
        .bind(RunStatus::finished_names())
        .bind(RunStatus::Succeeded)
        .bind(LoadPath::Bulk)
        .fetch_optional(&mut *tx)
        .await
        .lms()?;
    let Some(run_id) = pruned else {
        return Ok(None);
    };
    let events = sqlx::query("DELETE FROM migration.run_change_events WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    tx.commit().await.lms()?;
    tracing::info!(%run_id, events, keep, "removed the change log of a run past the undo history");
    Ok(Some(run_id))
}

/// [`prune_change_log`] until nothing is left to remove (or an undo holds
/// the runs); returns how many runs' logs were removed. For a process that
/// runs chunks without the workers' sweeper (`lmsctl migrate run --inline`).
pub async fn prune_change_logs(lms: &PgPool, keep: NonZeroU32) -> Result<usize, EngineError> {
    let mut pruned = 0;
    while prune_change_log(lms, keep).await?.is_some() {
        pruned += 1;
    }
    Ok(pruned)
}
