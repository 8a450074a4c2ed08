//! The hold on mass changes. A delta run whose hold applies stages every
//! table first; the transaction of its last stage chunk then has, per
//! table, what the staged snapshot would create, update and mark deleted
//! (the preview: added up from what each stage chunk counted over its own
//! range, `stage_shares`, or counted there over the whole table) and
//! compares it with the run's threshold. Under it, the
//! gate opens: the resolve steps become ready. Over it in any table, the
//! run stops `held`, having written nothing to the LMS, until an operator
//! approves it (the gate opens on the same snapshot) or cancels it.
//!
//! Every resolve step of a gated run is planned with one pending
//! dependency more than its edges: the gate. The decision, the preview and
//! the held state commit with the chunk that took them, so a crash anywhere
//! resumes to the same result.

mod stage_shares;
mod text;

use stage_shares::PreviewShare;
pub(crate) use stage_shares::count_share;
pub use text::to_text;

use lms_domain::LegacyEntity;
use lms_domain::entity::UnknownEntity;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::action_request::{self, ActionRequest, RunAction};
use crate::bulk::{self, LoadPath};
use crate::error::{DatabaseContext, EngineError};
use crate::plan::{IdRange, Phase};
use crate::progress::PROGRESS_CHANNEL;
use crate::progress_view::{RunProgress, run_progress};
use crate::queue::ChunkQueue;
use crate::sql_template::render;
use crate::stage::stage_table;
use crate::state::RunStatus;

/// Past how many changes a table holds its run: more than
/// max(`percent` % of its legacy rows, `min_rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldThreshold {
    /// Percent of the table's legacy rows, 0 to 100.
    pub percent: u32,
    /// The floor, in rows.
    pub min_rows: u64,
}

impl Default for HoldThreshold {
    /// max(10 % of the table's legacy rows, 50 rows).
    fn default() -> Self {
        HoldThreshold {
            percent: 10,
            min_rows: 50,
        }
    }
}

/// Why a threshold cannot be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldThresholdError {
    #[error("a hold threshold of {0}% is more than 100%")]
    PercentOver100(u32),
    #[error("a hold floor of {0} rows is more than {max} (a row count)", max = i64::MAX)]
    MinRowsOverRowCount(u64),
}

impl HoldThreshold {
    /// A threshold, or why not: at most 100 percent, and a floor a row
    /// count can hold (PostgreSQL's `bigint`, where the run keeps it).
    pub fn new(percent: u32, min_rows: u64) -> Result<HoldThreshold, HoldThresholdError> {
        if percent > 100 {
            return Err(HoldThresholdError::PercentOver100(percent));
        }
        if min_rows > lms_config::MigrationSettings::MAX_HOLD_MIN_ROWS {
            return Err(HoldThresholdError::MinRowsOverRowCount(min_rows));
        }
        Ok(HoldThreshold { percent, min_rows })
    }

    /// The most changes a table of `legacy_rows` rows may take unheld.
    pub fn rows_for(&self, legacy_rows: i64) -> i64 {
        let share = legacy_rows
            .max(0)
            .saturating_mul(i64::from(self.percent))
            .div_euclid(100);
        share.max(i64::try_from(self.min_rows).unwrap_or(i64::MAX))
    }
}

/// One table's preview: what the run would change, against its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePreview {
    pub entity: LegacyEntity,
    /// How the table's apply writes (a bulk load is never held).
    pub load_path: LoadPath,
    /// Rows of the staged snapshot of the legacy table.
    pub legacy_rows: i64,
    pub creates: i64,
    pub updates: i64,
    pub deletes: i64,
    /// The most changes the table may take unheld.
    pub threshold: i64,
}

impl TablePreview {
    /// Rows the run would create, update or mark deleted.
    pub fn changes(&self) -> i64 {
        self.creates
            .saturating_add(self.updates)
            .saturating_add(self.deletes)
    }

    /// Whether this table holds the run.
    pub fn exceeds(&self) -> bool {
        self.load_path == LoadPath::Delta && self.changes() > self.threshold
    }
}

/// A gated run's preview, table by table in the run's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldPreview {
    pub threshold: HoldThreshold,
    pub tables: Vec<TablePreview>,
}

impl HoldPreview {
    /// Whether any table exceeds its threshold.
    pub fn holds(&self) -> bool {
        self.tables.iter().any(TablePreview::exceeds)
    }
}

const PREVIEW: &str = include_str!("hold/preview.sql");
const PREVIEW_CHANGES: &str = include_str!("hold/preview_changes.sql");
const RELEASE: &str = include_str!("hold/release.sql");

/// Called in the transaction that completes a stage step, with the run's
/// row locked: once the run's every stage step is done, a gated run takes
/// its decision. Returns the chunks the gate queued (none when the gate
/// is not due, or holds the run).
pub(crate) async fn decide_when_staged(
    tx: &mut PgConnection,
    legacy: &PgPool,
    run_id: Uuid,
) -> Result<Vec<i64>, EngineError> {
    let row = sqlx::query(
        "SELECT hold_percent, hold_min_rows, hold_preview IS NOT NULL AS decided, entities \
         FROM migration.runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await
    .lms()?;
    let percent: Option<i32> = row.try_get("hold_percent").lms()?;
    let min_rows: Option<i64> = row.try_get("hold_min_rows").lms()?;
    let decided: bool = row.try_get("decided").lms()?;
    let (Some(percent), Some(min_rows)) = (percent, min_rows) else {
        return Ok(Vec::new());
    };
    if decided {
        return Ok(Vec::new());
    }
    let unstaged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM migration.run_steps \
         WHERE run_id = $1 AND phase = 'stage' AND state <> 'done'",
    )
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await
    .lms()?;
    if unstaged > 0 {
        return Ok(Vec::new());
    }
    let threshold = HoldThreshold {
        percent: u32::try_from(percent).unwrap_or(0),
        min_rows: u64::try_from(min_rows).unwrap_or(0),
    };
    let names: Vec<String> = row.try_get("entities").lms()?;
    let mut entities = Vec::with_capacity(names.len());
    for name in &names {
        let entity: LegacyEntity = name
            .parse()
            .map_err(|error: UnknownEntity| EngineError::Invariant(error.to_string()))?;
        entities.push(entity);
    }
    // The preview reads every table's staging: what a crash emptied since
    // its stage chunks ran is staged again first, from legacy as it is now
    // (the resolve has not read it yet), and the preview then fixes that
    // snapshot. The shares the stage chunks counted before the crash may
    // not describe it (legacy may have changed, deleted a whole range even,
    // staging nothing again): after a crash every share is counted again.
    // This runs under the run's row lock, as the whole gate does: a cancel
    // meanwhile waits for it.
    let shares = if bulk::staging_witnessed(tx, run_id).await? {
        Shares::Summed
    } else {
        for &entity in &entities {
            bulk::ensure_staged(tx, legacy, run_id, entity, IdRange::ALL, Phase::Resolve).await?;
        }
        Shares::CountedAgain
    };
    let preview = compute(tx, run_id, &entities, shares, threshold).await?;
    let stored = serde_json::to_value(&preview)
        .map_err(|error| EngineError::Invariant(error.to_string()))?;
    if preview.holds() {
        sqlx::query(
            "UPDATE migration.runs SET hold_preview = $2, status = $3, held_at = clock_timestamp() \
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(&stored)
        .bind(RunStatus::Held)
        .execute(&mut *tx)
        .await
        .lms()?;
        tracing::warn!(%run_id, "the run's preview exceeds its hold threshold: held for approval");
        return Ok(Vec::new());
    }
    sqlx::query("UPDATE migration.runs SET hold_preview = $2 WHERE id = $1")
        .bind(run_id)
        .bind(&stored)
        .execute(&mut *tx)
        .await
        .lms()?;
    open_gate(tx, run_id).await
}

/// How the gate takes an in-step table's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shares {
    /// Added up from what its stage chunks counted, where they all did.
    Summed,
    /// Counted again over the whole table (staging was lost since).
    CountedAgain,
}

/// Counts every table's preview from its staged snapshot and the ledger.
async fn compute(
    tx: &mut PgConnection,
    run_id: Uuid,
    entities: &[LegacyEntity],
    shares: Shares,
    threshold: HoldThreshold,
) -> Result<HoldPreview, EngineError> {
    let mut tables = Vec::with_capacity(entities.len());
    for &entity in entities {
        let load_path: Option<LoadPath> = sqlx::query_scalar(
            "SELECT load_path FROM migration.run_steps \
             WHERE run_id = $1 AND entity = $2 AND phase = 'apply'",
        )
        .bind(run_id)
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
        // In step, the recorded changes are all there is to count (the
        // rule resolve's scope trusts too); otherwise every staged row is
        // compared with the ledger.
        let in_step = crate::resolve::scope::in_step(tx, entity).await?;
        let (legacy_rows, counts) = if in_step {
            // The stage chunks' shares when they all counted one, else the
            // recorded changes over every id. The legacy rows are what this
            // run's stage chunks read (together they cover every id): the
            // mirror's count without its scan.
            let summed = match shares {
                Shares::Summed => stage_shares::summed(tx, run_id, entity).await?,
                Shares::CountedAgain => None,
            };
            let counts = match summed {
                Some(summed) => summed,
                None => stage_shares::count(tx, entity, IdRange::ALL).await?,
            };
            let rows = bulk::recorded_stage_rows(tx, run_id, entity, IdRange::ALL).await?;
            (rows, counts)
        } else {
            // Every staged row compared with the ledger.
            let statement = render(PREVIEW, &[("stage", &stage_table(entity))])?;
            let row = sqlx::query(AssertSqlSafe(statement))
                .bind(entity.as_str())
                .fetch_one(&mut *tx)
                .await
                .lms()?;
            let counts = PreviewShare {
                creates: row.try_get("creates").lms()?,
                updates: row.try_get("updates").lms()?,
                deletes: row.try_get("deletes").lms()?,
            };
            (row.try_get::<i64, _>("legacy_rows").lms()?, counts)
        };
        tables.push(TablePreview {
            entity,
            load_path: load_path.unwrap_or(LoadPath::Delta),
            legacy_rows,
            creates: counts.creates,
            updates: counts.updates,
            deletes: counts.deletes,
            threshold: threshold.rows_for(legacy_rows),
        });
    }
    Ok(HoldPreview { threshold, tables })
}

/// Makes the resolve steps ready that only the gate kept waiting; returns
/// their queued chunks.
async fn open_gate(tx: &mut PgConnection, run_id: Uuid) -> Result<Vec<i64>, EngineError> {
    sqlx::query(RELEASE)
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await
        .lms()?
        .iter()
        .map(|row| row.try_get::<i64, _>("id"))
        .collect::<Result<_, _>>()
        .lms()
}

/// A held run's stored preview, if the run has one.
pub async fn stored_preview(
    lms: &PgPool,
    run_id: Uuid,
) -> Result<Option<HoldPreview>, EngineError> {
    let stored: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT hold_preview FROM migration.runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(lms)
            .await
            .lms()?
            .flatten();
    stored
        .map(|value| {
            serde_json::from_value(value)
                .map_err(|error| EngineError::Invariant(format!("a stored hold preview: {error}")))
        })
        .transpose()
}

/// Approves a held run: its gate opens on the snapshot the preview counted
/// (nothing is staged again), in one transaction; the chunks it queued go
/// on the queue after commit (or to the sweeper, if that push fails).
pub async fn approve_run(
    lms: &PgPool,
    queue: &ChunkQueue,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<RunProgress, EngineError> {
    if let Approval::Approved { queued } = approve(lms, run_id, request).await?
        && let Err(error) = queue.push(run_id, &queued).await
    {
        tracing::warn!(%error, %run_id, "the run is approved but its chunks could not be queued yet");
    }
    run_progress(lms, run_id).await
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The gate opened: these chunks are to be queued.
    Approved { queued: Vec<i64> },
    /// A retry of an approval under its request id: nothing more was done.
    Replayed,
}

/// The approval's transaction.
pub async fn approve(
    lms: &PgPool,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<Approval, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    let status: Option<RunStatus> =
        sqlx::query_scalar("SELECT status FROM migration.runs WHERE id = $1 FOR NO KEY UPDATE")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .lms()?;
    // After the row lock: a twin approval's record is committed by now.
    if action_request::done_already(&mut tx, RunAction::Approve, run_id, request).await? {
        tx.rollback().await.lms()?;
        return Ok(Approval::Replayed);
    }
    match status {
        None => return Err(EngineError::UnknownRun(run_id)),
        Some(RunStatus::Held) => {}
        Some(status) => return Err(EngineError::NotHeld { run_id, status }),
    }
    action_request::record(&mut tx, RunAction::Approve, run_id, request).await?;
    sqlx::query(
        "UPDATE migration.runs SET status = $2, approved_at = clock_timestamp() WHERE id = $1",
    )
    .bind(run_id)
    .bind(RunStatus::Running)
    .execute(&mut *tx)
    .await
    .lms()?;
    let queued = open_gate(&mut tx, run_id).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PROGRESS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *tx)
        .await
        .lms()?;
    tx.commit().await.lms()?;
    tracing::info!(%run_id, chunks = queued.len(), "held run approved");
    Ok(Approval::Approved { queued })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_threshold_is_a_tenth_or_fifty_rows() {
        let threshold = HoldThreshold::default();
        assert_eq!(threshold.rows_for(100), 50);
        assert_eq!(threshold.rows_for(10_000), 1_000);
        assert_eq!(threshold.rows_for(0), 50);
    }

    #[test]
    fn a_bulk_table_never_holds() {
        let table = TablePreview {
            entity: LegacyEntity::Persons,
            load_path: LoadPath::Bulk,
            legacy_rows: 10,
            creates: 10,
            updates: 0,
            deletes: 0,
            threshold: 0,
        };
        assert!(!table.exceeds());
    }

    #[test]
    fn more_than_a_hundred_percent_is_refused() {
        assert_eq!(
            HoldThreshold::new(101, 0),
            Err(HoldThresholdError::PercentOver100(101))
        );
    }

    #[test]
    fn a_floor_past_a_row_count_is_refused() {
        let past = i64::MAX.unsigned_abs() + 1;
        assert_eq!(
            HoldThreshold::new(10, past),
            Err(HoldThresholdError::MinRowsOverRowCount(past))
        );
        assert!(HoldThreshold::new(100, i64::MAX.unsigned_abs()).is_ok());
    }
}
