-- Opens a run's hold gate ($1: the run): every resolve step was planned
-- with one pending dependency more, the gate; the steps it leaves with none
-- become ready (in the same UPDATE: a statement changes a row once), and
-- their chunks are queued. Returns the queued chunks.
WITH opened AS (
    UPDATE migration.run_steps
    SET pending_dependencies = pending_dependencies - 1,
        state = CASE WHEN pending_dependencies = 1 THEN 'ready' ELSE state END,
        started_at = CASE WHEN pending_dependencies = 1 THEN now() ELSE started_at END
    WHERE run_id = $1 AND phase = 'resolve'
    RETURNING id, pending_dependencies
)
UPDATE migration.chunks c SET state = 'queued', queued_at = now()
FROM opened o
WHERE c.step_id = o.id AND o.pending_dependencies = 0 AND c.state = 'waiting'
RETURNING c.id
