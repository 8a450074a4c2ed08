-- A chunk to run before the delivered one ($1) when that is a stage chunk
-- ($2 is the stage phase): the lowest-numbered chunk of the same run, of a
-- later phase, that is queued (its step is ready) and that no worker has
-- claimed yet (a claim counts an attempt and commits before the chunk
-- runs, so a running chunk, or one waiting to retry with its backoff, has
-- attempts counted). Chunk ids follow the plan: tables in dependency
-- order, phases in order.
--
-- It locks nothing. A claim and a chunk's own transaction skip a chunk
-- whose row is locked, taking the holder for another worker; a lookup that
-- locked the rows it passed over made a worker about to run one skip it,
-- and the chunk waited for the sweeper. Which of two deliveries runs a
-- chunk is the claim's to decide.
SELECT c.id
FROM migration.chunks delivered
JOIN migration.run_steps delivered_step ON delivered_step.id = delivered.step_id
JOIN migration.chunks c ON c.run_id = delivered.run_id AND c.state = $3
JOIN migration.run_steps s ON s.id = c.step_id
WHERE delivered.id = $1 AND delivered_step.phase = $2 AND s.phase <> $2 AND c.attempts = 0
ORDER BY c.id
LIMIT 1
