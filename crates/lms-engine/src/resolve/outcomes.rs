//! Where the resolve phase looks up the outcome of a referenced row.
//!
//! A real run resolves against the ledger: by the time a table resolves,
//! every table it references has been applied. A dry run writes no ledger,
//! so it resolves against what it predicts for the referenced tables it
//! covers (their staged rows and resolutions) and against the ledger for the
//! rest. Predicted rows have no LMS id yet; a stand-in serves instead (the
//! row's own legacy id, or its survivor's when merged), which is all the
//! resolve rules need: equal stand-ins mean the same target row.

use lms_domain::LegacyEntity;
use lms_domain::entity::UnknownEntity;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::stage::stage_table;

/// The ledger, as the resolve rules read it (`entity`, `legacy_id`,
/// `outcome`, `target_id`, `source_deleted_at`): a student deleted through
/// the API whose deletion waits in `migration.lms_deletions` (no run of
/// the students' table has taken it up yet) has no target, so that rows
/// referencing it are orphans rather than a foreign-key failure at apply.
/// A dry run's predicted rows (stand-in ids) never meet this check.
pub const LEDGER: &str = "(SELECT l.entity, l.legacy_id, l.outcome, l.source_deleted_at, \
     CASE WHEN l.entity = 'students' AND EXISTS (SELECT 1 FROM migration.lms_deletions d \
               WHERE d.target_table = 'students' AND d.target_id = l.target_id) \
          THEN NULL ELSE l.target_id END AS target_id \
     FROM migration.ledger l)";

/// The relation a dry run's rules read instead of the ledger.
const PREDICTED: &str = "pg_temp.reference_outcomes";

/// The tables `entity` references whose outcomes a dry run predicts from
/// their staging and resolutions: those the run covers. A real run reads
/// the ledger for every reference, and so none.
pub async fn predicted_references(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    dry_run: bool,
) -> Result<Vec<LegacyEntity>, EngineError> {
    if !dry_run || entity.depends_on().is_empty() {
        return Ok(Vec::new());
    }
    let covered: Vec<String> = sqlx::query("SELECT entities FROM migration.runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .lms()?
        .try_get("entities")
        .lms()?;
    let mut predicted = Vec::new();
    for name in &covered {
        let table: LegacyEntity = name
            .parse()
            .map_err(|error: UnknownEntity| EngineError::Invariant(error.to_string()))?;
        if entity.depends_on().contains(&table) {
            predicted.push(table);
        }
    }
    Ok(predicted)
}

/// Returns the relation with the columns the rules read (`entity`,
/// `legacy_id`, `outcome`, `target_id`, `source_deleted_at`) for the tables
/// `entity` references.
///
/// A dry run reads the staging of [`predicted_references`]: its chunk
/// makes sure first that no crash emptied it (`chunk.rs`).
pub async fn reference_outcomes(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    dry_run: bool,
) -> Result<&'static str, EngineError> {
    if !dry_run || entity.depends_on().is_empty() {
        return Ok(LEDGER);
    }
    let predicted = predicted_references(tx, run_id, entity, dry_run).await?;
    let mut parts = Vec::new();
    let mut from_ledger = Vec::new();
    for referenced in entity.depends_on() {
        let name = referenced.as_str();
        if predicted.contains(referenced) {
            parts.push(format!(
                "SELECT '{name}'::text AS entity, s.legacy_id, coalesce(r.outcome, 'migrated') AS outcome, \
                        CASE WHEN r.outcome IS NULL THEN s.legacy_id \
                             WHEN r.outcome = 'merged' THEN r.survivor_legacy_id END AS target_id, \
                        NULL::timestamptz AS source_deleted_at \
                 FROM {stage} s LEFT JOIN migration.resolutions r \
                   ON r.entity = '{name}' AND r.legacy_id = s.legacy_id",
                stage = stage_table(*referenced),
            ));
        } else {
            from_ledger.push(format!("'{name}'"));
        }
    }
    if !from_ledger.is_empty() {
        parts.push(format!(
            "SELECT entity, legacy_id, outcome, target_id, source_deleted_at FROM {LEDGER} ledger \
             WHERE entity IN ({})",
            from_ledger.join(", ")
        ));
    }
    let statement = format!(
        "DROP TABLE IF EXISTS {PREDICTED}; \
         CREATE TEMP TABLE reference_outcomes ON COMMIT DROP AS {}; \
         CREATE INDEX ON {PREDICTED} (entity, legacy_id); \
         ANALYZE {PREDICTED};",
        parts.join(" UNION ALL ")
    );
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(PREDICTED)
}
