//! Students, teachers and exams: rejected when a required reference points
//! nowhere; students also merge by (person, organization).

use sqlx::PgConnection;

use crate::error::{DatabaseContext, EngineError};

/// The contract: a student whose person points nowhere is rejected; students
/// with the same (person_id, organization_id) are one student, the lowest id
/// surviving. A NULL organization is a key value of its own.
pub async fn resolve_students(tx: &mut PgConnection, ledger: &str) -> Result<(), EngineError> {
    reject_orphan_persons(tx, ledger, "students", "migration.stage_students").await?;
    sqlx::query(
        "INSERT INTO migration.resolutions (entity, legacy_id, outcome, survivor_legacy_id, detail) \
         SELECT 'students', legacy_id, 'merged', survivor, \
                format('same person %s and organization %s as student %s', person_legacy_id, \
                       coalesce(organization_legacy_id::text, 'NULL'), survivor) \
         FROM (SELECT s.legacy_id, s.person_legacy_id, s.organization_legacy_id, \
                      min(s.legacy_id) OVER (PARTITION BY s.person_legacy_id, s.organization_legacy_id) AS survivor \
               FROM migration.stage_students s \
               WHERE NOT EXISTS (SELECT 1 FROM migration.resolutions r \
                                 WHERE r.entity = 'students' AND r.legacy_id = s.legacy_id)) candidates \
         WHERE legacy_id <> survivor",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// The contract: a teacher whose person points nowhere is rejected.
pub async fn resolve_teachers(tx: &mut PgConnection, ledger: &str) -> Result<(), EngineError> {
    reject_orphan_persons(tx, ledger, "teachers", "migration.stage_teachers").await
}

async fn reject_orphan_persons(
    tx: &mut PgConnection,
    ledger: &str,
    entity: &str,
    stage: &str,
) -> Result<(), EngineError> {
    let statement = format!(
        "INSERT INTO migration.resolutions (entity, legacy_id, outcome, reason, detail) \
         SELECT $1, s.legacy_id, 'rejected', 'orphan_reference', \
                CASE WHEN s.person_legacy_id IS NULL THEN 'person_id is NULL' \
                     WHEN EXISTS (SELECT 1 FROM {ledger} p WHERE p.entity = 'persons' \
                                    AND p.legacy_id = s.person_legacy_id AND p.outcome = 'migrated' \
                                    AND p.source_deleted_at IS NULL) \
                     THEN format('person_id %s points at a person deleted in the LMS', s.person_legacy_id) \
                     ELSE format('person_id %s points at no person', s.person_legacy_id) END \
         FROM {stage} s \
         WHERE NOT EXISTS (SELECT 1 FROM {ledger} p \
                           WHERE p.entity = 'persons' AND p.legacy_id = s.person_legacy_id \
                             AND p.outcome = 'migrated' AND p.source_deleted_at IS NULL \
                             AND p.target_id IS NOT NULL)"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(entity)
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// The contract: an exam whose subject points nowhere is rejected.
pub async fn resolve_exams(tx: &mut PgConnection, ledger: &str) -> Result<(), EngineError> {
    let statement = format!(
        "INSERT INTO migration.resolutions (entity, legacy_id, outcome, reason, detail) \
         SELECT 'exams', e.legacy_id, 'rejected', 'orphan_reference', \
                CASE WHEN e.subject_legacy_id IS NULL THEN 'subject_id is NULL' \
                     WHEN EXISTS (SELECT 1 FROM {ledger} s WHERE s.entity = 'subjects' \
                                    AND s.legacy_id = e.subject_legacy_id AND s.outcome = 'migrated' \
                                    AND s.source_deleted_at IS NULL) \
                     THEN format('subject_id %s points at a subject deleted in the LMS', e.subject_legacy_id) \
                     ELSE format('subject_id %s points at no subject', e.subject_legacy_id) END \
         FROM migration.stage_exams e \
         WHERE NOT EXISTS (SELECT 1 FROM {ledger} s \
                           WHERE s.entity = 'subjects' AND s.legacy_id = e.subject_legacy_id \
                             AND s.outcome = 'migrated' AND s.source_deleted_at IS NULL \
                             AND s.target_id IS NOT NULL)"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
