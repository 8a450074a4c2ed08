-- The rows of {{table}} run $1 deleted, back under their own keys.
INSERT INTO {{table}} OVERRIDING SYSTEM VALUE
SELECT r.*
FROM migration.run_changes c
CROSS JOIN LATERAL jsonb_populate_record(NULL::{{table}}, c.before) r
WHERE c.run_id = $1 AND c.table_name = '{{table}}' AND c.before IS NOT NULL AND c.after IS NULL
