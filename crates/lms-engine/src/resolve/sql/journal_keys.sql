-- Each journal row's key as LMS ids: of every staged row, or of those a
-- delta run resolves again (journal_touched_rows.sql).
CREATE TEMP TABLE journal_keys ON COMMIT DROP AS
SELECT j.legacy_id, j.student_legacy_id, j.subject_legacy_id, j.invalid_detail,
       st.outcome AS student_outcome, st.target_id AS student_target,
       sb.outcome AS subject_outcome, sb.target_id AS subject_target, g.target_id AS group_target,
       j.academic_year, j.semester
FROM migration.stage_journal j
LEFT JOIN journal_students st ON st.legacy_id = j.student_legacy_id
LEFT JOIN journal_subjects sb ON sb.legacy_id = j.subject_legacy_id
LEFT JOIN journal_groups g ON g.legacy_id = j.group_legacy_id
WHERE true {{rows}};
