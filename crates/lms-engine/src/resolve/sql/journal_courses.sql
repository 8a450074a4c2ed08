-- One LMS course per distinct offering key of the surviving journal rows,
-- created when no course holds that key yet.
WITH offerings AS (
    SELECT DISTINCT subject_target, group_target, academic_year, semester FROM journal_keys)
INSERT INTO courses (subject_id, group_id, academic_year, semester, derived_from_legacy)
SELECT o.subject_target, o.group_target, o.academic_year, o.semester, true FROM offerings o
WHERE NOT EXISTS (SELECT 1 FROM courses c WHERE c.subject_id = o.subject_target
                    AND c.group_id IS NOT DISTINCT FROM o.group_target
                    AND c.academic_year = o.academic_year AND c.semester = o.semester)
ORDER BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
