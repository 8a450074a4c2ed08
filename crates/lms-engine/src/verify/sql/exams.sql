-- Migrated assessments in canonical form (verify/canonical.rs).
SELECT a.legacy_id, coalesce(sb.legacy_id::text, 'lms:' || sb.id) AS subject,
       coalesce(g.legacy_id::text, 'lms:' || g.id) AS group, coalesce(t.legacy_id::text, 'lms:' || t.id) AS teacher,
       a.title, a.kind, to_char(a.held_on, 'YYYY-MM-DD') AS held_on, a.max_score
FROM assessments a
LEFT JOIN subjects sb ON sb.id = a.subject_id
LEFT JOIN student_groups g ON g.id = a.group_id
LEFT JOIN staff_members t ON t.id = a.teacher_id
WHERE a.legacy_id IS NOT NULL AND a.source_deleted_at IS NULL
