-- The rows of {{table}} run $1 left in place leave the unique indexes (which
-- cover only rows without source_deleted_at) and give up their legacy ids
-- until they are restored or removed, so that whatever keys the run moved
-- go back in any order.
UPDATE {{table}} t
SET legacy_id = NULL, source_deleted_at = '-infinity'
FROM migration.run_changes c
WHERE c.run_id = $1 AND c.table_name = '{{table}}' AND c.after IS NOT NULL AND {{key_matches_log}}
