-- Rows of {{table}} run $1 wrote that are no longer as it left them: changed
-- or deleted since, or (a row it deleted) there again. Compared typed: the
-- after-image is read back into the table's row type. At most $2 rows,
-- each with the count of all.
SELECT (SELECT string_agg(k.key || ' ' || k.value, ', ' ORDER BY k.key) FROM jsonb_each_text(c.row_key) k) AS row_key,
       c.legacy_id,
       CASE WHEN c.after IS NULL THEN 'is there again'
            WHEN t.{{first_key}} IS NULL THEN 'was deleted'
            ELSE 'was changed' END AS how,
       count(*) OVER () AS total
FROM migration.run_changes c
LEFT JOIN {{table}} t ON {{key_matches_log}}
WHERE c.run_id = $1 AND c.table_name = '{{table}}'
  AND CASE WHEN c.after IS NULL THEN t.{{first_key}} IS NOT NULL
           ELSE t.{{first_key}} IS NULL OR t IS DISTINCT FROM jsonb_populate_record(NULL::{{table}}, c.after)
      END
ORDER BY c.row_key
LIMIT $2
