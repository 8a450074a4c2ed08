//! Operating runs: cancelling them, listing them, querying the ledger, and
//! retrying the tables with rejected rows.

use lms_domain::{LegacyEntity, Outcome, RejectReason, WarningCode};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, Row};
use uuid::Uuid;

use crate::action_request::{self, ActionRequest, RunAction};
use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::{PlannedRun, RunKind, RunOptions};
use crate::progress::PROGRESS_CHANNEL;
use crate::progress_view::{RunProgress, run_progress, runs_progress};
use crate::queue::ChunkQueue;
use crate::report::{CONFLICT_COLUMNS, ConflictEntry};
use crate::run_request::{RunRequest, run_of_request};
use crate::state::RunStatus;
use crate::stored_codes::{parse_codes, parse_optional};

/// Cancels a run: idle chunks are dropped at once; chunks in progress
/// finish (commit or roll back whole), and the last one closes the run.
/// With a request id, the same request again returns the run as it is now
/// ([`action_request`](crate::action_request)).
pub async fn cancel_run(
    lms: &PgPool,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<RunProgress, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    let status: Option<RunStatus> =
        sqlx::query("SELECT status FROM migration.runs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .lms()?
            .map(|row| row.try_get("status"))
            .transpose()
            .lms()?;
    // After the row lock: a twin cancel's record is committed by now.
    if action_request::done_already(&mut tx, RunAction::Cancel, run_id, request).await? {
        tx.rollback().await.lms()?;
        return run_progress(lms, run_id).await;
    }
    match status {
        None => return Err(EngineError::UnknownRun(run_id)),
        Some(status) if status.is_active() => {}
        Some(other) => {
            return Err(EngineError::Plan(format!(
                "run {run_id} has already ended ({other}); nothing to cancel"
            )));
        }
    }
    action_request::record(&mut tx, RunAction::Cancel, run_id, request).await?;
    sqlx::query("UPDATE migration.runs SET status = 'cancelling' WHERE id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .lms()?;
    // Chunks a worker holds are locked; the rest are idle and go now.
    sqlx::query(
        "UPDATE migration.chunks SET state = 'cancelled' WHERE id IN ( \
             SELECT id FROM migration.chunks WHERE run_id = $1 AND state IN ('waiting', 'queued') \
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    let busy: i64 =
        sqlx::query("SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'queued'")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .lms()?
            .try_get(0)
            .lms()?;
    if busy == 0 {
        sqlx::query("UPDATE migration.runs SET status = 'cancelled', finished_at = clock_timestamp() WHERE id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .lms()?;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *tx)
        .await
        .lms()?;
    tx.commit().await.lms()?;
    tracing::info!(%run_id, in_progress = busy, "run cancelled");
    if busy == 0 {
        crate::bulk::release_ended_run(lms, run_id).await;
    }
    run_progress(lms, run_id).await
}

/// A page of runs, newest first (run ids are time-ordered UUIDv7).
pub async fn list_runs(
    lms: &PgPool,
    size: u32,
    before: Option<Uuid>,
) -> Result<(Vec<RunProgress>, Option<Uuid>), EngineError> {
    let rows = sqlx::query(
        "SELECT id FROM migration.runs WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(i64::from(size) + 1)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()
        .lms()?;
    let more = ids.len() > size as usize;
    ids.truncate(size as usize);
    let next = if more { ids.last().copied() } else { None };
    Ok((runs_progress(lms, &ids).await?, next))
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowOutcome {
    pub entity: LegacyEntity,
    pub legacy_id: i64,
    pub outcome: Outcome,
    pub reason: Option<RejectReason>,
    pub warnings: Vec<WarningCode>,
    pub detail: Option<String>,
    pub target_id: Option<i64>,
    pub survivor_legacy_id: Option<i64>,
    pub source_deleted: bool,
    pub run_id: Uuid,
    /// The row's open conflict, if it has one.
    pub conflict: Option<ConflictEntry>,
}

/// What to select from the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OutcomeFilter {
    pub outcome: Option<Outcome>,
    pub reason: Option<RejectReason>,
    pub warning: Option<WarningCode>,
    /// Only rows with an open conflict.
    pub conflict: bool,
}

/// A page of one table's ledger, in legacy id order after `after`.
pub async fn list_outcomes(
    lms: &PgPool,
    entity: LegacyEntity,
    filter: &OutcomeFilter,
    size: u32,
    after: Option<i64>,
) -> Result<(Vec<RowOutcome>, Option<i64>), EngineError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT outcome, reason, warnings, detail, survivor_legacy_id, \
                source_deleted_at IS NOT NULL AS source_deleted, run_id, {CONFLICT_COLUMNS} \
         FROM migration.ledger \
         WHERE entity = $1 AND ($2::bigint IS NULL OR legacy_id > $2) \
           AND ($3::text IS NULL OR outcome = $3) AND ($4::text IS NULL OR reason = $4) \
           AND ($5::text IS NULL OR $5 = ANY (warnings)) AND (NOT $7 OR conflict IS NOT NULL) \
         ORDER BY legacy_id LIMIT $6"
    )))
    .bind(entity.as_str())
    .bind(after)
    .bind(filter.outcome.map(Outcome::as_str))
    .bind(filter.reason.map(RejectReason::as_str))
    .bind(filter.warning.map(WarningCode::as_str))
    .bind(i64::from(size) + 1)
    .bind(filter.conflict)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in &rows {
        outcomes.push(RowOutcome {
            entity,
            legacy_id: row.try_get("legacy_id").lms()?,
            outcome: row.try_get::<String, _>("outcome").lms()?.parse()?,
            reason: parse_optional(row.try_get("reason").lms()?)?,
            warnings: parse_codes(&row.try_get::<Vec<String>, _>("warnings").lms()?)?,
            detail: row.try_get("detail").lms()?,
            target_id: row.try_get("target_id").lms()?,
            survivor_legacy_id: row.try_get("survivor_legacy_id").lms()?,
            source_deleted: row.try_get("source_deleted").lms()?,
            run_id: row.try_get("run_id").lms()?,
            conflict: ConflictEntry::from_ledger(row)?,
        });
    }
    let more = outcomes.len() > size as usize;
    outcomes.truncate(size as usize);
    let next = if more {
        outcomes.last().map(|row| row.legacy_id)
    } else {
        None
    };
    Ok((outcomes, next))
}

/// The tables that reference `entity`, directly or through others.
pub fn dependents(entity: LegacyEntity) -> Vec<LegacyEntity> {
    let mut found = vec![entity];
    let mut grew = true;
    while grew {
        grew = false;
        for candidate in LegacyEntity::ALL {
            if !found.contains(&candidate)
                && candidate.depends_on().iter().any(|d| found.contains(d))
            {
                found.push(candidate);
                grew = true;
            }
        }
    }
    found
}

/// A retry of rejected rows, as a client asks for it.
#[derive(Debug, Clone)]
pub struct RetryRequest<'a> {
    /// Only these tables (and every table that references them); empty:
    /// every table with rejected rows.
    pub only: &'a [LegacyEntity],
    pub chunk_size: u32,
    /// The most chunks the run may plan (`migration.max_chunks`).
    pub max_chunks: usize,
    /// The client's idempotency key, if it gave one.
    pub request_id: Option<String>,
    /// Who asks: the API's token name, `lmsctl` for the command line. A
    /// request id names one caller's request.
    pub caller: &'a str,
}

/// Starts a run over the tables with rejected rows (limited to `only` when
/// given) and every table that references them. Unchanged rows are checked
/// and not written, so in effect only the rows fixed in legacy move. The
/// run is planned in chunks of `chunk_size`, at most `max_chunks` of them.
pub async fn retry_rejected(
    lms: &PgPool,
    legacy: &PgPool,
    queue: &ChunkQueue,
    retry: RetryRequest<'_>,
) -> Result<PlannedRun, EngineError> {
    let RetryRequest {
        only,
        chunk_size,
        max_chunks,
        request_id,
        caller,
    } = retry;
    let request = request_id.map(|id| RunRequest::retry(id, caller, only));
    // A request retried after its run fixed every row still gets its run.
    if let Some(existing) = run_of_request(lms, request.as_ref()).await? {
        return Ok(existing);
    }
    let rows = sqlx::query(
        "SELECT DISTINCT entity FROM migration.ledger WHERE outcome = 'rejected' AND source_deleted_at IS NULL",
    )
    .fetch_all(lms)
    .await
    .lms()?;
    let mut entities: Vec<LegacyEntity> = Vec::new();
    for row in &rows {
        let name: String = row.try_get(0).lms()?;
        let Ok(entity) = name.parse::<LegacyEntity>() else {
            continue;
        };
        if only.is_empty() || only.contains(&entity) {
            for affected in dependents(entity) {
                if !entities.contains(&affected) {
                    entities.push(affected);
                }
            }
        }
    }
    if entities.is_empty() {
        return Err(EngineError::Plan(
            "no table has rejected rows to retry".to_owned(),
        ));
    }
    let options = RunOptions {
        entities,
        chunk_size,
        max_chunks,
        request,
        kind: RunKind::RetryRejected,
        on_conflict: ConflictPolicy::KeepLms,
        hold: None,
    };
    crate::start_run(lms, legacy, queue, &options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_follow_references_transitively() {
        let students = dependents(LegacyEntity::Students);
        assert!(students.contains(&LegacyEntity::Journal));
        assert!(students.contains(&LegacyEntity::ExamResults));
        assert!(!students.contains(&LegacyEntity::Users));
        let persons = dependents(LegacyEntity::Persons);
        for entity in [
            LegacyEntity::Users,
            LegacyEntity::Teachers,
            LegacyEntity::Groups,
            LegacyEntity::Journal,
        ] {
            assert!(persons.contains(&entity), "{entity}");
        }
    }
}
