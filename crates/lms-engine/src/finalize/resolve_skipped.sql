-- Whether this run's resolve step for a table skipped it (nothing could have
-- changed); NULL when the step has no finished chunk.
SELECT bool_and(coalesce((c.stats->>'skipped')::boolean, false)) AS skipped
FROM migration.chunks c
JOIN migration.run_steps s ON s.id = c.step_id
WHERE s.run_id = $1 AND s.entity = $2 AND s.phase = 'resolve' AND c.state = 'done'
