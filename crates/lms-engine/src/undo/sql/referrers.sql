-- Rows of {{referencing}} the run did not write that reference a row of
-- {{referenced}} the run inserted (which the undo would remove, or, through
-- ON DELETE CASCADE, remove them with it). $1: the run, at most $2 rows.
SELECT x.id,
       (to_jsonb(x) ->> 'legacy_id')::bigint AS legacy_id,
       x.{{column}} AS referenced_id,
       count(*) OVER () AS total
FROM {{referencing}} x
JOIN migration.run_changes p
  ON p.run_id = $1 AND p.table_name = '{{referenced}}' AND p.before IS NULL AND p.after IS NOT NULL
 AND (p.row_key ->> 'id')::bigint = x.{{column}}
-- (Whether the run wrote a row is read from its log's events: the view
-- migration.run_changes would consolidate every row of the table first.)
WHERE NOT EXISTS (SELECT 1 FROM migration.run_change_events s
                  WHERE s.run_id = $1 AND s.table_name = '{{referencing_name}}'
                    AND s.row_key = jsonb_build_object('id', x.id))
ORDER BY x.id
LIMIT $2
