-- Migrated users in canonical form (verify/canonical.rs).
SELECT u.legacy_id, coalesce(p.legacy_id::text, 'lms:' || p.id) AS person, u.login, u.email, u.password_hash,
       u.password_reset_required, u.role, u.is_active,
       to_char(u.created_at AT TIME ZONE 'UTC', '{{instant}}') AS created_at,
       to_char(u.last_login_at AT TIME ZONE 'UTC', '{{instant}}') AS last_login_at
FROM users u
LEFT JOIN persons p ON p.id = u.person_id
WHERE u.legacy_id IS NOT NULL AND u.source_deleted_at IS NULL
