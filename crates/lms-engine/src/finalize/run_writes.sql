-- What one run wrote to one legacy table's LMS rows: rows created and
-- updated by its apply chunks, and rows retired by its resolve step, beside
-- the rows its apply chunks looked at.
SELECT coalesce(sum(coalesce((c.stats->>'rows')::bigint, 0))
                    FILTER (WHERE s.phase = 'apply'), 0)::bigint AS rows,
       coalesce(sum(coalesce((c.stats->>'created')::bigint, 0)
                    + coalesce((c.stats->>'updated')::bigint, 0)
                    + coalesce((c.stats->>'source_deleted')::bigint, 0)), 0)::bigint AS written
FROM migration.chunks c
JOIN migration.run_steps s ON s.id = c.step_id
WHERE s.run_id = $1 AND s.entity = $2 AND s.phase IN ('apply', 'resolve') AND c.state = 'done'
