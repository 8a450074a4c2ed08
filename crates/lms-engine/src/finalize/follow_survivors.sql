-- A merged row's target is its survivor's: the LMS row the merged legacy
-- row became part of. $1: the legacy table. The hole scoped keeps only the
-- merged rows and survivors a run applied since the table last caught up,
-- when those are known (finalize.rs, follow_survivors).
UPDATE migration.ledger m
SET target_id = s.target_id, recorded_at = now()
FROM migration.ledger s
WHERE m.entity = $1 AND m.outcome = 'merged' AND m.source_deleted_at IS NULL
  AND s.entity = $1 AND s.legacy_id = m.survivor_legacy_id
  AND m.target_id IS DISTINCT FROM s.target_id
  {{scoped}}
