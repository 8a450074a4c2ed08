-- The preview shares the stage chunks of one run ($1) and legacy table
-- ($2) counted (hold/stage_shares.rs), added up, with how many chunks there
-- are and how many of them counted one.
SELECT count(*) AS chunks,
       count(c.stats->'preview') AS counted,
       coalesce(sum((c.stats->'preview'->>'creates')::bigint), 0)::bigint AS creates,
       coalesce(sum((c.stats->'preview'->>'updates')::bigint), 0)::bigint AS updates,
       coalesce(sum((c.stats->'preview'->>'deletes')::bigint), 0)::bigint AS deletes
FROM migration.chunks c
JOIN migration.run_steps s ON s.id = c.step_id
WHERE c.run_id = $1 AND s.entity = $2 AND s.phase = 'stage'
