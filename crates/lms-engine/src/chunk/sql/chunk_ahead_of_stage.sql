-- A chunk to run before the delivered one ($1) when that is a stage chunk
-- ($2 is the stage phase): the lowest-numbered chunk of the same run, of a
-- later phase, that is queued (its step is ready), that no worker is
-- running (their chunk rows are locked for their transactions) and that no
-- worker has claimed yet (a chunk waiting to retry has attempts counted,
-- and keeps its backoff). Chunk ids follow the plan: tables in dependency
-- order, phases in order.
SELECT c.id
FROM migration.chunks delivered
JOIN migration.run_steps delivered_step ON delivered_step.id = delivered.step_id
JOIN migration.chunks c ON c.run_id = delivered.run_id AND c.state = $3
JOIN migration.run_steps s ON s.id = c.step_id
WHERE delivered.id = $1 AND delivered_step.phase = $2 AND s.phase <> $2 AND c.attempts = 0
ORDER BY c.id
LIMIT 1
FOR UPDATE OF c SKIP LOCKED
