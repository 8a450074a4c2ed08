-- The rows of {{table}} run $1 updated, set back to their before-images.
UPDATE {{table}} t
SET ({{columns}}) = ROW({{image_columns}})
FROM migration.run_changes c
CROSS JOIN LATERAL jsonb_populate_record(NULL::{{table}}, c.before) r
WHERE c.run_id = $1 AND c.table_name = '{{table}}' AND c.before IS NOT NULL AND c.after IS NOT NULL
  AND {{key_matches_image}}
