-- The stage chunks of one run and legacy table that are done, within a range
-- of ids (NULL bounds: open), which is one stage chunk's range or the union
-- of consecutive ones (a delta's joined apply chunk): each chunk's range, the
-- rows it staged and the fingerprint of those rows.
SELECT c.id,
       c.first_legacy_id,
       c.last_legacy_id,
       coalesce((c.stats->>'rows')::bigint, 0) AS rows,
       c.stats->>'fingerprint' AS fingerprint
FROM migration.chunks c
JOIN migration.run_steps s ON s.id = c.step_id
WHERE c.run_id = $1 AND s.entity = $2 AND s.phase = 'stage' AND c.state = 'done'
  AND ($3::bigint IS NULL OR c.first_legacy_id >= $3)
  AND ($4::bigint IS NULL OR c.last_legacy_id <= $4)
ORDER BY c.id
