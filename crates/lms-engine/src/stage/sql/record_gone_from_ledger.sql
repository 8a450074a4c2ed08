-- Legacy rows of a range staged whole into an empty mirror ($1: the legacy
-- table) that the ledger holds live but legacy no longer has: recorded as
-- gone, as a merge against the mirror would have found them.
INSERT INTO migration.stage_changes (entity, legacy_id, kind)
SELECT $1, l.legacy_id, 'gone'
FROM migration.ledger l
WHERE l.entity = $1 AND {{range}} AND l.source_deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM {{stage}} s WHERE s.legacy_id = l.legacy_id)
ON CONFLICT (entity, legacy_id) DO UPDATE SET kind = EXCLUDED.kind
