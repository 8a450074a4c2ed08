-- Opens a run's hold gate ($1: the run): every resolve step was planned
-- with one pending dependency more, the gate; the steps it leaves with none
-- become ready, and their chunks are queued. Returns the queued chunks.
WITH opened AS (
    UPDATE migration.run_steps
    SET pending_dependencies = pending_dependencies - 1
    WHERE run_id = $1 AND phase = 'resolve'
    RETURNING id, pending_dependencies
), ready AS (
    UPDATE migration.run_steps s SET state = 'ready', started_at = now()
    FROM opened o
    WHERE s.id = o.id AND o.pending_dependencies = 0
    RETURNING s.id
)
UPDATE migration.chunks c SET state = 'queued', queued_at = now()
FROM ready r
WHERE c.step_id = r.id AND c.state = 'waiting'
RETURNING c.id
