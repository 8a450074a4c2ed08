-- Migrated organizations in canonical form (verify/canonical.rs).
SELECT o.legacy_id, coalesce(p.legacy_id::text, 'lms:' || p.id) AS parent, o.name, o.short_name, o.org_type,
       o.bin, o.archived, to_char(o.created_at AT TIME ZONE 'UTC', '{{instant}}') AS created_at
FROM organizations o
LEFT JOIN organizations p ON p.id = o.parent_id
WHERE o.legacy_id IS NOT NULL AND o.source_deleted_at IS NULL
