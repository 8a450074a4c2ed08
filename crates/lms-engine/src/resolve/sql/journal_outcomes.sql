-- The journal's outcomes from its keys: rows whose student or subject
-- resolves to no LMS row are rejected (orphan_reference, with the reason),
-- rows with a value the LMS cannot hold are rejected (invalid_value), and
-- rows with the same surviving student, subject, group, year and semester
-- merge into the lowest id.
INSERT INTO migration.resolutions (entity, legacy_id, outcome, reason, detail)
SELECT 'journal', legacy_id, 'rejected', 'orphan_reference',
       CASE WHEN student_target IS NULL THEN
              CASE WHEN student_legacy_id IS NULL THEN 'student_id is NULL'
                   WHEN student_outcome IS NULL THEN format('student_id %s points at no student', student_legacy_id)
                   WHEN student_outcome = 'rejected' THEN format('student_id %s points at a rejected student', student_legacy_id)
                   ELSE format('student_id %s points at a student deleted in the LMS', student_legacy_id) END
            WHEN subject_legacy_id IS NULL THEN 'subject_id is NULL'
            WHEN subject_outcome = 'migrated' THEN format('subject_id %s points at a subject deleted in the LMS', subject_legacy_id)
            ELSE format('subject_id %s points at no subject', subject_legacy_id) END
FROM journal_keys WHERE student_target IS NULL OR subject_target IS NULL;
INSERT INTO migration.resolutions (entity, legacy_id, outcome, reason, detail)
SELECT 'journal', legacy_id, 'rejected', 'invalid_value', invalid_detail
FROM journal_keys
WHERE student_target IS NOT NULL AND subject_target IS NOT NULL AND invalid_detail IS NOT NULL;
DELETE FROM journal_keys WHERE student_target IS NULL OR subject_target IS NULL OR invalid_detail IS NOT NULL;
CREATE TEMP TABLE duplicate_keys ON COMMIT DROP AS
SELECT student_target, subject_target, coalesce(group_target, 0) AS group_key, academic_year, semester,
       min(legacy_id) AS survivor
FROM journal_keys GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1;
INSERT INTO migration.resolutions (entity, legacy_id, outcome, survivor_legacy_id, detail)
SELECT 'journal', k.legacy_id, 'merged', d.survivor,
       format('same student, subject, group, year and semester as journal row %s', d.survivor)
FROM journal_keys k JOIN duplicate_keys d
  ON d.student_target = k.student_target AND d.subject_target = k.subject_target
 AND d.group_key = coalesce(k.group_target, 0) AND d.academic_year = k.academic_year
 AND d.semester = k.semester
WHERE k.legacy_id <> d.survivor;
