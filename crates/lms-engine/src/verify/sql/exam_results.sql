-- Migrated submissions in canonical form (verify/canonical.rs; answers
-- get their keys sorted after the read).
SELECT s.legacy_id, coalesce(a.legacy_id::text, 'lms:' || a.id) AS assessment,
       coalesce(st.legacy_id::text, 'lms:' || st.id) AS student, s.score,
       to_char(s.submitted_at AT TIME ZONE 'UTC', '{{instant}}') AS submitted_at, s.status, s.answers::text AS answers,
       s.answers_raw
FROM assessment_submissions s
LEFT JOIN assessments a ON a.id = s.assessment_id
LEFT JOIN students st ON st.id = s.student_id
WHERE s.legacy_id IS NOT NULL AND s.source_deleted_at IS NULL
