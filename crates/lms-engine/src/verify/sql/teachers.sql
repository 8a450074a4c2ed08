-- Migrated staff members in canonical form (verify/canonical.rs).
SELECT t.legacy_id, coalesce(p.legacy_id::text, 'lms:' || p.id) AS person,
       coalesce(u.legacy_id::text, 'provisioned:' || u.provisioned_for, 'lms:' || u.id) AS user,
       coalesce(o.legacy_id::text, 'lms:' || o.id) AS organization, t.position,
       to_char(t.hired_on, 'YYYY-MM-DD') AS hired_on, to_char(t.left_on, 'YYYY-MM-DD') AS left_on
FROM staff_members t
LEFT JOIN persons p ON p.id = t.person_id
LEFT JOIN users u ON u.id = t.user_id
LEFT JOIN organizations o ON o.id = t.organization_id
WHERE t.legacy_id IS NOT NULL AND t.source_deleted_at IS NULL
