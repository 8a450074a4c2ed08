-- The rows of {{table}} run $1 inserted, removed.
DELETE FROM {{table}} t
USING migration.run_changes c
WHERE c.run_id = $1 AND c.table_name = '{{table}}' AND c.before IS NULL AND c.after IS NOT NULL
  AND {{key_matches_log}}
