-- The lost chunks among $1, marked queued now, each with the time it was
-- queued before (given back if the push fails). A chunk whose row another
-- transaction holds (a worker running it), settled meanwhile, or queued
-- again by another sweeper is left out. $2: requeue_after, in seconds.
WITH lost AS (
    SELECT c.id, c.run_id, c.queued_at
    FROM migration.chunks c
    JOIN migration.runs r ON r.id = c.run_id
    WHERE c.id = ANY($1)
      AND r.status IN ('running', 'cancelling', 'failed')
      AND c.state = 'queued'
      AND c.queued_at < now() - make_interval(secs => $2)
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE migration.chunks c
SET queued_at = now()
FROM lost
WHERE c.id = lost.id
RETURNING c.id, c.run_id, lost.queued_at AS queued_before;
