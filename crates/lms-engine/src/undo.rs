//! Undo of a delta run: every LMS row, ledger row and note of an LMS
//! deletion the run wrote goes back to what it was before the run, under
//! its own key, in one transaction.
//!
//! A delta run's chunks record what they write (row triggers, in the
//! chunk's transaction, while the chunk sets `lms.change_log_run`; see
//! `chunk::logs_changes`): each write appends an event to
//! `migration.run_change_events`, and the view `migration.run_changes`
//! gives per row the image before the run's first write and after its
//! last. Undo checks that every
//! such row is still as the run left it ([`checks`]) and then puts the
//! before-images back ([`restore`]).
//!
//! Undo is refused for a run that is not a succeeded delta run (a first
//! load, loaded in bulk, is not undone: a fresh database is), for one whose
//! log was removed ([`retention`]), while any run is active, and where rows
//! changed since. It takes `migration.runs` in a
//! mode that makes a planner's insert of a new run wait until it commits.
//!
//! Afterwards every table's staging record is out of step, so the next run
//! compares every staged row with the ledger once and picks up again what
//! the undone run had applied (staging itself, a mirror of legacy, is not
//! undone).

mod checks;
mod restore;
pub mod retention;
mod tables;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::action_request::{self, ActionRequest, RunAction};
use crate::bulk::LoadPath;
use crate::error::{DatabaseContext, EngineError};
use crate::progress::PROGRESS_CHANNEL;
use crate::progress_view::{RunProgress, run_progress};
use crate::state::RunStatus;

/// Undoes `run_id`; returns the run, now `undone`. With a request id,
/// the same request again returns the run as it is, undone by the first
/// ([`action_request`](crate::action_request)).
pub async fn undo_run(
    lms: &PgPool,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<RunProgress, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    // Self-conflicting, and in conflict with the insert that plans a run:
    // no run starts, and no other undo runs, until this one commits.
    sqlx::raw_sql("LOCK TABLE migration.runs IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .lms()?;
    if action_request::done_already(&mut tx, RunAction::Undo, run_id, request).await? {
        tx.rollback().await.lms()?;
        return run_progress(lms, run_id).await;
    }
    check_undoable(&mut tx, run_id).await?;
    action_request::record(&mut tx, RunAction::Undo, run_id, request).await?;
    checks::hold_writers(&mut tx).await?;
    checks::rows_as_left(&mut tx, run_id).await?;
    checks::no_new_references(&mut tx, run_id).await?;
    let restored = restore::restore(&mut tx, run_id).await?;
    // The ledger is as before the run, staging is not: the next run
    // compares every staged row with the ledger once.
    sqlx::query("UPDATE migration.stage_state SET in_step = false, references_seen = NULL")
        .execute(&mut *tx)
        .await
        .lms()?;
    sqlx::query(
        "UPDATE migration.runs SET status = $2, undone_at = clock_timestamp() WHERE id = $1",
    )
    .bind(run_id)
    .bind(RunStatus::Undone)
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
    tracing::info!(%run_id, rows = restored, "run undone");
    run_progress(lms, run_id).await
}

/// Refuses an unknown run, one that is not a succeeded delta run with a
/// change log, and any undo while a run is active.
async fn check_undoable(tx: &mut PgConnection, run_id: Uuid) -> Result<(), EngineError> {
    let row =
        sqlx::query(
            "SELECT status, dry_run, changes_logged, changes_pruned_at FROM migration.runs WHERE id = $1",
        )
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .lms()?
            .ok_or(EngineError::UnknownRun(run_id))?;
    let status: RunStatus = row.try_get("status").lms()?;
    let dry_run: bool = row.try_get("dry_run").lms()?;
    let changes_logged: bool = row.try_get("changes_logged").lms()?;
    let changes_pruned_at: Option<DateTime<Utc>> = row.try_get("changes_pruned_at").lms()?;
    let finished = RunStatus::finished_names();
    let active: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM migration.runs WHERE status <> ALL($1) LIMIT 1")
            .bind(&finished)
            .fetch_optional(&mut *tx)
            .await
            .lms()?;
    if let Some(active) = active {
        return Err(EngineError::RunActive(active));
    }
    let refuse = |why: String| {
        Err(EngineError::UndoRefused(format!(
            "run {run_id} cannot be undone: {why}"
        )))
    };
    match status {
        RunStatus::Succeeded => {}
        RunStatus::Undone => return refuse("it was undone already".to_owned()),
        other => {
            return refuse(format!(
                "only a succeeded run is undone, and it ended {other}"
            ));
        }
    }
    if dry_run {
        return refuse("it was a dry run and wrote nothing".to_owned());
    }
    let bulk: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM migration.run_steps WHERE run_id = $1 AND load_path = $2)",
    )
    .bind(run_id)
    .bind(LoadPath::Bulk)
    .fetch_one(&mut *tx)
    .await
    .lms()?;
    if bulk {
        return refuse(
            "it was a first load (it loaded tables in bulk, into empty tables), which is not \
             undone; to start again, migrate into a fresh database"
                .to_owned(),
        );
    }
    // A removed log also clears `changes_logged`, which builds from before
    // retention refuse by: this check comes first, for the true reason.
    if let Some(pruned_at) = changes_pruned_at {
        return refuse(format!(
            "its change log was removed at {}, because only the latest `migration.undo_history` \
             succeeded delta runs keep theirs, so what it changed is no longer known",
            pruned_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    if !changes_logged {
        return refuse(
            "it ran before runs kept a change log, so what it changed is not known".to_owned(),
        );
    }
    Ok(())
}
