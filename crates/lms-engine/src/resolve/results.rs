//! Exam results: references and resubmissions.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{DatabaseContext, EngineError};

/// The contract: a result is rejected when its exam points nowhere or at a
/// rejected exam, or its student points nowhere or at a rejected student
/// (or one deleted through the API: `outcomes::LEDGER`); a
/// merged student's results attach to the survivor; results with the same
/// (exam, surviving student) are one submission, the latest `submitted_at`
/// surviving (NULLs last, then the highest id). Latest as legacy holds it
/// (`submitted_order`): `infinity` and years past 9999 are later than any
/// date the LMS can hold, though they migrate as unknown.
pub async fn resolve(tx: &mut PgConnection, ledger: &str) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TEMP TABLE result_keys ON COMMIT DROP AS \
         SELECT r.legacy_id, r.exam_legacy_id, r.student_legacy_id, r.submitted_order, \
                ex.outcome AS exam_outcome, CASE WHEN ex.outcome = 'migrated' THEN ex.target_id END AS exam_target, \
                st.outcome AS student_outcome, \
                CASE WHEN st.outcome IN ('migrated', 'merged') THEN st.target_id END AS student_target \
         FROM migration.stage_exam_results r \
         LEFT JOIN {ledger} ex ON ex.entity = 'exams' AND ex.legacy_id = r.exam_legacy_id \
              AND ex.source_deleted_at IS NULL \
         LEFT JOIN {ledger} st ON st.entity = 'students' AND st.legacy_id = r.student_legacy_id \
              AND st.source_deleted_at IS NULL; \
         INSERT INTO migration.resolutions (entity, legacy_id, outcome, reason, detail) \
         SELECT 'exam_results', legacy_id, 'rejected', 'orphan_reference', \
                CASE WHEN exam_target IS NULL THEN \
                       CASE WHEN exam_legacy_id IS NULL THEN 'exam_id is NULL' \
                            WHEN exam_outcome IS NULL THEN format('exam_id %s points at no exam', exam_legacy_id) \
                            WHEN exam_outcome = 'rejected' THEN format('exam_id %s points at a rejected exam', exam_legacy_id) \
                            ELSE format('exam_id %s points at an assessment deleted in the LMS', exam_legacy_id) END \
                     WHEN student_legacy_id IS NULL THEN 'student_id is NULL' \
                     WHEN student_outcome IS NULL THEN format('student_id %s points at no student', student_legacy_id) \
                     WHEN student_outcome = 'rejected' THEN format('student_id %s points at a rejected student', student_legacy_id) \
                     ELSE format('student_id %s points at a student deleted in the LMS', student_legacy_id) END \
         FROM result_keys WHERE exam_target IS NULL OR student_target IS NULL; \
         INSERT INTO migration.resolutions (entity, legacy_id, outcome, survivor_legacy_id, detail) \
         SELECT 'exam_results', legacy_id, 'merged', survivor, \
                format('an earlier attempt at the same exam by the same student; result %s is the latest', survivor) \
         FROM (SELECT legacy_id, first_value(legacy_id) OVER ( \
                   PARTITION BY exam_target, student_target \
                   ORDER BY submitted_order DESC NULLS LAST, legacy_id DESC) AS survivor \
               FROM result_keys WHERE exam_target IS NOT NULL AND student_target IS NOT NULL) keyed \
         WHERE legacy_id <> survivor;"
    )))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
