//! The apply phase: one chunk's target rows and ledger rows, written in one
//! transaction, so a chunk is applied whole or not at all.
//!
//! Rows are compared before they are written: a target row is updated only
//! when a value differs and inserted only when it is missing, and a ledger
//! row is written only when the outcome, the reasons or the source hash
//! changed. A re-run over unchanged legacy data therefore writes nothing.

mod provision;
pub mod specs;

use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use specs::ApplySpec;

/// What one apply chunk changed, by legacy row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Legacy rows in the chunk.
    pub rows: i64,
    /// Rows seen for the first time.
    pub created: i64,
    /// Rows whose outcome, target values or source hash changed.
    pub updated: i64,
    /// Rows exactly as the last run left them.
    pub unchanged: i64,
}

/// Applies the staged rows of `entity` in `range`.
pub async fn apply_range(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    range: IdRange,
    legacy_timezone: &str,
) -> Result<Changes, EngineError> {
    let spec = ApplySpec::for_entity(entity);
    // Legacy timestamps carry no zone: read them in the configured one.
    sqlx::query("SELECT set_config('TimeZone', $1, true)")
        .bind(legacy_timezone)
        .execute(&mut *tx)
        .await
        .lms()?;
    let create = format!(
        "CREATE TEMP TABLE apply_rows ON COMMIT DROP AS {}",
        (spec.rows)(&range)
    );
    sqlx::raw_sql(AssertSqlSafe(create))
        .execute(&mut *tx)
        .await
        .lms()?;
    sqlx::raw_sql("ANALYZE apply_rows")
        .execute(&mut *tx)
        .await
        .lms()?;

    match entity {
        LegacyEntity::Users => release_changing_logins(tx).await?,
        LegacyEntity::Students => provision::provision_accounts(tx, provision::STUDENTS).await?,
        LegacyEntity::Teachers => provision::provision_accounts(tx, provision::TEACHERS).await?,
        _ => {}
    }
    // Chunks own disjoint ranges of legacy ids, so every lookup of this
    // chunk's existing rows is bounded by its range: an index range scan,
    // however large the table has grown.
    let in_range = range.predicate("t.legacy_id");
    write_targets(tx, spec, &in_range).await?;
    if entity == LegacyEntity::Journal {
        write_grades(tx, &range).await?;
    }
    write_ledger(tx, run_id, entity, &in_range, &range.predicate("legacy_id")).await
}

/// Updates target rows that differ and inserts the missing ones.
async fn write_targets(
    tx: &mut PgConnection,
    spec: &ApplySpec,
    in_range: &str,
) -> Result<(), EngineError> {
    let target = spec.entity.target_table();
    let columns = spec.columns.join(", ");
    let values: Vec<String> = spec
        .columns
        .iter()
        .map(|column| format!("a.{column}"))
        .collect();
    let values = values.join(", ");
    let current: Vec<String> = spec
        .columns
        .iter()
        .map(|column| format!("t.{column}"))
        .collect();
    let current = current.join(", ");
    let update = format!(
        "UPDATE {target} t SET ({columns}, source_deleted_at) = ({values}, NULL) \
         FROM apply_rows a \
         WHERE a.outcome = 'migrated' AND t.legacy_id = a.legacy_id AND {in_range} \
           AND ({current}, t.source_deleted_at) IS DISTINCT FROM ({values}, NULL)"
    );
    sqlx::query(AssertSqlSafe(update))
        .execute(&mut *tx)
        .await
        .lms()?;
    let insert = format!(
        "INSERT INTO {target} (legacy_id, {columns}) \
         SELECT a.legacy_id, {values} FROM apply_rows a \
         WHERE a.outcome = 'migrated' \
           AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.legacy_id = a.legacy_id AND {in_range}) \
         ORDER BY a.legacy_id"
    );
    sqlx::query(AssertSqlSafe(insert))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// Logins and emails can move between users in a delta (the keeper of a
/// login is deleted and the next one inherits it). Every user whose login or
/// email changes gives it up first, inside this same transaction, so the
/// unique indexes never see two live owners.
async fn release_changing_logins(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(
        "UPDATE users t SET login = '~moving~' || t.id, email = NULL \
         FROM apply_rows a \
         WHERE t.legacy_id = a.legacy_id \
           AND (t.login IS DISTINCT FROM a.login OR t.email IS DISTINCT FROM a.email)",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// The contract: a non-blank `mark_final` of a surviving journal row is one
/// grade of its enrollment. A mark that became blank flags its grade.
async fn write_grades(tx: &mut PgConnection, range: &IdRange) -> Result<(), EngineError> {
    let grades = range.predicate("g.legacy_id");
    let enrollments = range.predicate("e.legacy_id");
    let statement = format!(
        "CREATE TEMP TABLE chunk_grades ON COMMIT DROP AS \
         SELECT a.legacy_id, e.id AS enrollment_id, a.grade_raw, a.grade_scale, a.grade_value, a.grade_points, \
                a.updated_at \
         FROM apply_rows a JOIN course_enrollments e ON e.legacy_id = a.legacy_id AND {enrollments} \
         WHERE a.outcome = 'migrated' AND a.grade_raw IS NOT NULL; \
         UPDATE grades g SET (enrollment_id, raw_mark, scale, value, points, graded_at, source_deleted_at) = \
             (c.enrollment_id, c.grade_raw, c.grade_scale, c.grade_value, c.grade_points, c.updated_at, NULL) \
         FROM chunk_grades c \
         WHERE g.legacy_id = c.legacy_id AND {grades} \
           AND (g.enrollment_id, g.raw_mark, g.scale, g.value, g.points, g.graded_at, g.source_deleted_at) \
               IS DISTINCT FROM (c.enrollment_id, c.grade_raw, c.grade_scale, c.grade_value, c.grade_points, \
                                 c.updated_at, NULL); \
         INSERT INTO grades (legacy_id, enrollment_id, kind, raw_mark, scale, value, points, graded_at) \
         SELECT c.legacy_id, c.enrollment_id, 'final', c.grade_raw, c.grade_scale, c.grade_value, c.grade_points, \
                c.updated_at \
         FROM chunk_grades c \
         WHERE NOT EXISTS (SELECT 1 FROM grades g WHERE g.legacy_id = c.legacy_id AND {grades}) \
         ORDER BY c.legacy_id; \
         UPDATE grades g SET source_deleted_at = now() \
         FROM apply_rows a \
         WHERE g.legacy_id = a.legacy_id AND {grades} AND g.source_deleted_at IS NULL \
           AND (a.outcome <> 'migrated' OR a.grade_raw IS NULL);"
    );
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// Writes the chunk's ledger rows that changed and counts the changes.
///
/// A merged row shares its survivor's target, but the survivor may be
/// applied by a later chunk; the finalize step fills merged rows' targets
/// in, and a merged row counts as changed only if its survivor changed.
async fn write_ledger(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    in_range: &str,
    ledger_in_range: &str,
) -> Result<Changes, EngineError> {
    let target = entity.target_table();
    // Rows that had a ledger entry before this statement (all parts of one
    // statement see the same snapshot) were updated; the others created.
    let statement = format!(
        "WITH existing AS ( \
             SELECT legacy_id FROM migration.ledger WHERE entity = $1 AND {ledger_in_range}), \
         written AS ( \
             INSERT INTO migration.ledger AS l \
                 (entity, legacy_id, outcome, reason, warnings, target_id, survivor_legacy_id, detail, source_hash, run_id) \
             SELECT $1, a.legacy_id, a.outcome, a.reason, a.warnings, t.id, a.survivor_legacy_id, a.detail, \
                    a.source_hash, $2 \
             FROM apply_rows a \
             LEFT JOIN {target} t ON a.outcome = 'migrated' AND t.legacy_id = a.legacy_id AND {in_range} \
             ORDER BY a.legacy_id \
             ON CONFLICT (entity, legacy_id) DO UPDATE SET \
                 outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, warnings = EXCLUDED.warnings, \
                 target_id = CASE WHEN EXCLUDED.outcome = 'merged' \
                                   AND l.survivor_legacy_id IS NOT DISTINCT FROM EXCLUDED.survivor_legacy_id \
                                  THEN l.target_id ELSE EXCLUDED.target_id END, \
                 survivor_legacy_id = EXCLUDED.survivor_legacy_id, detail = EXCLUDED.detail, \
                 source_hash = EXCLUDED.source_hash, run_id = EXCLUDED.run_id, recorded_at = now(), \
                 source_deleted_at = NULL \
             WHERE (l.outcome, l.reason, l.warnings, l.survivor_legacy_id, l.detail, l.source_hash, l.source_deleted_at) \
                   IS DISTINCT FROM (EXCLUDED.outcome, EXCLUDED.reason, EXCLUDED.warnings, \
                    EXCLUDED.survivor_legacy_id, EXCLUDED.detail, EXCLUDED.source_hash, NULL) \
                OR (EXCLUDED.outcome <> 'merged' AND l.target_id IS DISTINCT FROM EXCLUDED.target_id) \
             RETURNING l.legacy_id) \
         SELECT (SELECT count(*) FROM apply_rows), \
                count(*) FILTER (WHERE e.legacy_id IS NULL), count(*) FILTER (WHERE e.legacy_id IS NOT NULL) \
         FROM written w LEFT JOIN existing e ON e.legacy_id = w.legacy_id"
    );
    let row = sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    let rows: i64 = row.try_get(0).lms()?;
    let created: i64 = row.try_get(1).lms()?;
    let updated: i64 = row.try_get(2).lms()?;
    Ok(Changes {
        rows,
        created,
        updated,
        unchanged: rows - created - updated,
    })
}
