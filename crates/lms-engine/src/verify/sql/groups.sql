-- Migrated student groups in canonical form (verify/canonical.rs).
SELECT g.legacy_id, coalesce(o.legacy_id::text, 'lms:' || o.id) AS organization, g.name, g.year_of_study,
       coalesce(c.legacy_id::text, 'lms:' || c.id) AS curator, g.academic_year
FROM student_groups g
LEFT JOIN organizations o ON o.id = g.organization_id
LEFT JOIN staff_members c ON c.id = g.curator_id
WHERE g.legacy_id IS NOT NULL AND g.source_deleted_at IS NULL
