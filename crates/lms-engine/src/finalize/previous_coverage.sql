-- The coverage the latest other finished, real run recorded for a table.
SELECT s.stats
FROM migration.run_steps s
JOIN migration.runs r ON r.id = s.run_id
WHERE s.entity = $2 AND s.phase = 'finalize' AND s.state = 'done' AND s.run_id <> $1
  AND NOT r.dry_run AND s.stats <> '{}'::jsonb
ORDER BY r.created_at DESC
LIMIT 1
