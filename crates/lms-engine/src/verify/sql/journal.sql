-- Migrated enrollments with their live final grade, in canonical form
-- (verify/canonical.rs): the course as its key's legacy ids and term.
SELECT e.legacy_id, coalesce(st.legacy_id::text, 'lms:' || st.id) AS student,
       coalesce(sb.legacy_id::text, 'lms:' || sb.id) AS course_subject,
       coalesce(g.legacy_id::text, 'lms:' || g.id) AS course_group, c.academic_year, c.semester,
       coalesce(t.legacy_id::text, 'lms:' || t.id) AS teacher, e.status, e.current_mark,
       gr.raw_mark AS grade_raw_mark, gr.scale AS grade_scale, gr.value AS grade_value, gr.points AS grade_points
FROM course_enrollments e
LEFT JOIN students st ON st.id = e.student_id
LEFT JOIN courses c ON c.id = e.course_id
LEFT JOIN subjects sb ON sb.id = c.subject_id
LEFT JOIN student_groups g ON g.id = c.group_id
LEFT JOIN staff_members t ON t.id = e.teacher_id
LEFT JOIN grades gr ON gr.enrollment_id = e.id AND gr.kind = 'final' AND gr.source_deleted_at IS NULL
WHERE e.legacy_id IS NOT NULL AND e.source_deleted_at IS NULL
