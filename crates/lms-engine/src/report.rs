//! The coverage report: for every legacy table of a run, what became of
//! every row, and what the run changed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::coverage::{self, EntityCoverage};
use crate::error::{DatabaseContext, EngineError};
use crate::hold::HoldPreview;
use crate::plan::Phase;
use crate::state::RunStatus;

mod conflicts;
mod details;
pub(crate) mod format;
mod markdown;

pub use conflicts::{
    CONFLICT_COLUMNS, CONFLICTS_LISTED, ConflictEntry, conflicts_text, open_conflicts,
};
pub use details::{
    RejectionExample, RejectionExamples, StepTiming, rejection_examples, seconds_between,
    step_timings,
};
pub(crate) use format::{percent, target_noun, thousands};
pub use markdown::to_markdown;

/// A run's report (the `--format json` of `lmsctl migrate report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    pub run_id: Uuid,
    pub status: RunStatus,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The hold gate's preview, when the run has one (a held run's is what
    /// an approval applies).
    #[serde(default)]
    pub hold: Option<HoldPreview>,
    pub entities: Vec<EntityReport>,
}

/// One legacy table in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityReport {
    /// The legacy table's name.
    pub entity: String,
    pub legacy_rows: i64,
    pub migrated: i64,
    pub merged: i64,
    pub rejected: BTreeMap<String, i64>,
    pub warnings: BTreeMap<String, i64>,
    pub unexplained: i64,
    pub target_rows: i64,
    pub derived: BTreeMap<String, i64>,
    pub changes: Changes,
    /// The table's open conflicts as they stand now, both sides of each
    /// (at most [`CONFLICTS_LISTED`]; `changes.conflicts` counts them all
    /// as the run left them).
    #[serde(default)]
    pub open_conflicts: Vec<ConflictEntry>,
}

/// What a run did to the LMS in one table, by legacy row: `created +
/// updated + unchanged + conflicts` is the table's rows in the run;
/// `source_deleted` counts rows gone from legacy, whose LMS rows were
/// flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    #[serde(default)]
    pub conflicts: i64,
    pub source_deleted: i64,
}

impl EntityReport {
    pub fn rejected_total(&self) -> i64 {
        self.rejected.values().sum()
    }

    /// Rows with an outcome: migrated, merged or rejected.
    pub fn explained(&self) -> i64 {
        self.migrated + self.merged + self.rejected_total()
    }
}

impl CoverageReport {
    /// Unexplained rows over all tables.
    pub fn unexplained(&self) -> i64 {
        self.entities.iter().map(|entity| entity.unexplained).sum()
    }
}

/// Builds the report of a run. Tables the run has not finished are counted
/// live from the ledger and the staged rows.
pub async fn build(lms: &PgPool, run_id: Uuid) -> Result<CoverageReport, EngineError> {
    let run = sqlx::query(
        "SELECT status, error, created_at, finished_at, entities FROM migration.runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_optional(lms)
    .await
    .lms()?
    .ok_or(EngineError::UnknownRun(run_id))?;
    let names: Vec<String> = run.try_get("entities").lms()?;
    let steps = sqlx::query(
        "SELECT s.entity, s.phase, s.stats, \
                coalesce(sum((c.stats->>'rows')::bigint), 0)::bigint AS rows, \
                coalesce(sum((c.stats->>'created')::bigint), 0)::bigint AS created, \
                coalesce(sum((c.stats->>'updated')::bigint), 0)::bigint AS updated, \
                coalesce(sum((c.stats->>'unchanged')::bigint), 0)::bigint AS unchanged, \
                coalesce(sum((c.stats->>'source_deleted')::bigint), 0)::bigint AS source_deleted, \
                coalesce(sum((c.stats->>'conflicts')::bigint), 0)::bigint AS conflicts \
         FROM migration.run_steps s LEFT JOIN migration.chunks c ON c.step_id = s.id AND c.state = 'done' \
         WHERE s.run_id = $1 GROUP BY s.id",
    )
    .bind(run_id)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut entities = Vec::new();
    for name in &names {
        let entity: LegacyEntity =
            name.parse()
                .map_err(|error: lms_domain::entity::UnknownEntity| {
                    EngineError::Invariant(error.to_string())
                })?;
        let mut changes = Changes::default();
        let mut staged_rows = 0;
        let mut finished: Option<EntityCoverage> = None;
        for step in steps
            .iter()
            .filter(|step| step.try_get::<&str, _>("entity").is_ok_and(|e| e == name))
        {
            match step.try_get::<Phase, _>("phase").lms()? {
                Phase::Stage => staged_rows = step.try_get("rows").lms()?,
                Phase::Resolve => changes.source_deleted = step.try_get("source_deleted").lms()?,
                Phase::Apply => {
                    changes.created = step.try_get("created").lms()?;
                    changes.updated = step.try_get("updated").lms()?;
                    changes.unchanged = step.try_get("unchanged").lms()?;
                    changes.conflicts = step.try_get("conflicts").lms()?;
                }
                Phase::Finalize => {
                    let stats: serde_json::Value = step.try_get("stats").lms()?;
                    if stats.as_object().is_some_and(|object| !object.is_empty()) {
                        finished = serde_json::from_value(stats).ok();
                    }
                }
            }
        }
        let coverage = match finished {
            Some(coverage) => coverage,
            None => {
                let mut conn = lms.acquire().await.lms()?;
                let mut live = coverage::count(&mut conn, entity).await?;
                live.legacy_rows = staged_rows;
                live.unexplained =
                    (staged_rows - (live.migrated + live.merged + live.rejected_total())).max(0);
                live
            }
        };
        entities.push(EntityReport {
            entity: name.clone(),
            legacy_rows: coverage.legacy_rows,
            migrated: coverage.migrated,
            merged: coverage.merged,
            rejected: coverage.rejected,
            warnings: coverage.warnings,
            unexplained: coverage.unexplained,
            target_rows: coverage.target_rows,
            derived: coverage.derived,
            changes,
            open_conflicts: open_conflicts(lms, entity).await?,
        });
    }
    Ok(CoverageReport {
        run_id,
        status: run.try_get("status").lms()?,
        error: run.try_get("error").lms()?,
        started_at: run.try_get("created_at").lms()?,
        finished_at: run.try_get("finished_at").lms()?,
        hold: crate::hold::stored_preview(lms, run_id).await?,
        entities,
    })
}

/// The most recent run, if any.
pub async fn latest_run(lms: &PgPool) -> Result<Option<Uuid>, EngineError> {
    let row =
        sqlx::query("SELECT id FROM migration.runs ORDER BY created_at DESC, id DESC LIMIT 1")
            .fetch_optional(lms)
            .await
            .lms()?;
    row.map(|row| row.try_get(0)).transpose().lms()
}
