-- The stage ranges of one legacy table ($1) in the latest run that staged it
-- whole with the chunk size $2: each range's bounds (NULL: open), its
-- chunk's state and the legacy rows its stage read.
WITH last_run AS (
    SELECT r.id
    FROM migration.runs r
    JOIN migration.run_steps s ON s.run_id = r.id
    WHERE s.entity = $1 AND s.phase = 'stage' AND s.state = 'done'
      AND r.chunk_size = $2
    ORDER BY r.created_at DESC
    LIMIT 1
)
SELECT c.first_legacy_id,
       c.last_legacy_id,
       c.state,
       (c.stats->>'rows')::bigint AS rows
FROM last_run
JOIN migration.run_steps s ON s.run_id = last_run.id AND s.entity = $1 AND s.phase = 'stage'
JOIN migration.chunks c ON c.step_id = s.id
ORDER BY c.first_legacy_id NULLS FIRST
