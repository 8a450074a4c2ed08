-- Migrated subjects in canonical form (verify/canonical.rs).
SELECT s.legacy_id, coalesce(o.legacy_id::text, 'lms:' || o.id) AS organization, s.name, s.code, s.credits
FROM subjects s
LEFT JOIN organizations o ON o.id = s.organization_id
WHERE s.legacy_id IS NOT NULL AND s.source_deleted_at IS NULL
