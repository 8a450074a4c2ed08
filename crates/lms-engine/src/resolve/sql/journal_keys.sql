-- The journal's references as LMS ids, through small maps of the tables
-- they reference ({{ledger}} is the ledger, or a dry run's predictions),
-- so that half a million rows meet them in hash joins.
CREATE TEMP TABLE journal_students ON COMMIT DROP AS
SELECT legacy_id, outcome, CASE WHEN outcome IN ('migrated', 'merged') THEN target_id END AS target_id
FROM {{ledger}} WHERE entity = 'students' AND source_deleted_at IS NULL;
CREATE TEMP TABLE journal_subjects ON COMMIT DROP AS
SELECT legacy_id, outcome, target_id
FROM {{ledger}} WHERE entity = 'subjects' AND outcome = 'migrated' AND source_deleted_at IS NULL;
CREATE TEMP TABLE journal_groups ON COMMIT DROP AS
SELECT legacy_id, target_id
FROM {{ledger}} WHERE entity = 'groups' AND outcome = 'migrated' AND source_deleted_at IS NULL;
ANALYZE journal_students, journal_subjects, journal_groups;

CREATE TEMP TABLE journal_keys ON COMMIT DROP AS
SELECT j.legacy_id, j.student_legacy_id, j.subject_legacy_id, j.invalid_detail,
       st.outcome AS student_outcome, st.target_id AS student_target,
       sb.outcome AS subject_outcome, sb.target_id AS subject_target, g.target_id AS group_target,
       j.academic_year, j.semester
FROM migration.stage_journal j
LEFT JOIN journal_students st ON st.legacy_id = j.student_legacy_id
LEFT JOIN journal_subjects sb ON sb.legacy_id = j.subject_legacy_id
LEFT JOIN journal_groups g ON g.legacy_id = j.group_legacy_id;
