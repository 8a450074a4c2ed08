//! What became of one legacy table's rows: the numbers the coverage report
//! is made of, taken when the table's migration finishes.

use std::collections::BTreeMap;

use lms_domain::{LegacyEntity, Outcome};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::error::{DatabaseContext, EngineError};

/// One table's coverage at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCoverage {
    /// Rows in the legacy table when the run verified it.
    pub legacy_rows: i64,
    pub migrated: i64,
    pub merged: i64,
    /// Rejected rows by reason code.
    pub rejected: BTreeMap<String, i64>,
    /// Warnings by code (a row may carry several).
    pub warnings: BTreeMap<String, i64>,
    /// Legacy rows with no outcome in the ledger. A finished run has none.
    pub unexplained: i64,
    /// Ledger rows whose legacy row vanished after it was staged (the next
    /// run marks them `source_deleted`).
    pub vanished: i64,
    /// Live rows of the target table that came from this legacy table.
    pub target_rows: i64,
    /// Rows derived from this table: courses, grades, provisioned users.
    pub derived: BTreeMap<String, i64>,
}

impl EntityCoverage {
    pub fn rejected_total(&self) -> i64 {
        self.rejected.values().sum()
    }
}

/// Counts the ledger and target rows of `entity` as `conn` sees them (a
/// live run's report; a finalize reads the ledger once for its check and
/// these counts together, `finalize::LedgerTally`).
pub async fn count(
    tx: &mut PgConnection,
    entity: LegacyEntity,
) -> Result<EntityCoverage, EngineError> {
    // One pass over the ledger: rows grouped by outcome, reason and their
    // list of warnings (a handful of distinct lists), added up here.
    let rows = sqlx::query(
        "SELECT outcome, coalesce(reason, '') AS reason, warnings, count(*) AS rows \
         FROM migration.ledger WHERE entity = $1 AND source_deleted_at IS NULL GROUP BY 1, 2, 3",
    )
    .bind(entity.as_str())
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    let mut coverage = count_targets(tx, entity).await?;
    for row in rows {
        coverage.add_ledger_rows(
            row.try_get::<String, _>("outcome").lms()?.parse()?,
            row.try_get("reason").lms()?,
            row.try_get("warnings").lms()?,
            row.try_get("rows").lms()?,
        );
    }
    Ok(coverage)
}

impl EntityCoverage {
    /// Adds `rows` live ledger rows with one outcome, reason (empty: none)
    /// and list of warnings.
    pub(crate) fn add_ledger_rows(
        &mut self,
        outcome: Outcome,
        reason: String,
        warnings: Vec<String>,
        rows: i64,
    ) {
        match outcome {
            Outcome::Migrated => self.migrated += rows,
            Outcome::Merged => self.merged += rows,
            Outcome::Rejected => *self.rejected.entry(reason).or_default() += rows,
        }
        for warning in warnings {
            *self.warnings.entry(warning).or_default() += rows;
        }
    }
}

/// The coverage's counts of LMS rows: the live target rows that came from
/// `entity`, and the rows derived from it.
pub(crate) async fn count_targets(
    tx: &mut PgConnection,
    entity: LegacyEntity,
) -> Result<EntityCoverage, EngineError> {
    let mut coverage = EntityCoverage::default();
    let target = format!(
        "SELECT count(*) FROM {} WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL",
        entity.target_table()
    );
    coverage.target_rows = scalar(tx, &target).await?;
    let derived: &[(&str, &str)] = match entity {
        LegacyEntity::Students => &[(
            "provisioned_users",
            "SELECT count(*) FROM users WHERE provisioned_for LIKE 'students:%' AND source_deleted_at IS NULL",
        )],
        LegacyEntity::Teachers => &[(
            "provisioned_users",
            "SELECT count(*) FROM users WHERE provisioned_for LIKE 'teachers:%' AND source_deleted_at IS NULL",
        )],
        LegacyEntity::Journal => &[
            (
                "courses",
                "SELECT count(*) FROM courses WHERE derived_from_legacy",
            ),
            (
                "grades",
                "SELECT count(*) FROM grades WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL",
            ),
        ],
        _ => &[],
    };
    for (name, query) in derived {
        coverage
            .derived
            .insert((*name).to_owned(), scalar(tx, query).await?);
    }
    Ok(coverage)
}

/// What a dry run predicts for `entity`: staged rows without a resolution
/// migrate, the resolutions merge or reject the rest.
pub async fn count_preview(
    tx: &mut PgConnection,
    entity: LegacyEntity,
) -> Result<EntityCoverage, EngineError> {
    let stage = crate::stage::stage_table(entity);
    let mut coverage = EntityCoverage::default();
    let rows = sqlx::query(
        "SELECT outcome, coalesce(reason, '') AS reason, count(*) AS rows \
         FROM migration.resolutions WHERE entity = $1 GROUP BY 1, 2",
    )
    .bind(entity.as_str())
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    for row in rows {
        let outcome: Outcome = row.try_get::<String, _>("outcome").lms()?.parse()?;
        let count: i64 = row.try_get("rows").lms()?;
        match outcome {
            Outcome::Merged => coverage.merged += count,
            // A resolution is never `migrated`: a row without one is.
            Outcome::Rejected | Outcome::Migrated => {
                *coverage
                    .rejected
                    .entry(row.try_get("reason").lms()?)
                    .or_default() += count;
            }
        }
    }
    let staged = scalar(tx, &format!("SELECT count(*) FROM {stage}")).await?;
    coverage.migrated = staged - coverage.merged - coverage.rejected_total();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT w AS code, count(*) AS rows FROM {stage} s, unnest(s.warnings) AS w \
         WHERE NOT EXISTS (SELECT 1 FROM migration.resolutions r WHERE r.entity = $1 AND r.legacy_id = s.legacy_id) \
         GROUP BY 1"
    )))
    .bind(entity.as_str())
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    for row in rows {
        coverage
            .warnings
            .insert(row.try_get("code").lms()?, row.try_get("rows").lms()?);
    }
    let target = format!(
        "SELECT count(*) FROM {} WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL",
        entity.target_table()
    );
    coverage.target_rows = scalar(tx, &target).await?;
    Ok(coverage)
}

async fn scalar(tx: &mut PgConnection, query: &str) -> Result<i64, EngineError> {
    sqlx::query(AssertSqlSafe(query.to_owned()))
        .fetch_one(&mut *tx)
        .await
        .lms()?
        .try_get(0)
        .lms()
}
