-- Migrated students in canonical form (verify/canonical.rs).
SELECT s.legacy_id, coalesce(p.legacy_id::text, 'lms:' || p.id) AS person,
       coalesce(u.legacy_id::text, 'provisioned:' || u.provisioned_for, 'lms:' || u.id) AS user,
       coalesce(o.legacy_id::text, 'lms:' || o.id) AS organization,
       coalesce(g.legacy_id::text, 'lms:' || g.id) AS group, s.admission_year, s.status, s.record_book_no
FROM students s
LEFT JOIN persons p ON p.id = s.person_id
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN organizations o ON o.id = s.organization_id
LEFT JOIN student_groups g ON g.id = s.group_id
WHERE s.legacy_id IS NOT NULL AND s.source_deleted_at IS NULL
