-- The chunks queued longer ago than $1 seconds and not settled, of runs
-- that are running, cancelling or failed: lost, held by a worker running
-- them, or waiting their turn on the queue. A cancelling run closes, and a
-- failed run gives back what its bulk loads took, only when its last
-- queued chunk comes back: its claim cancels it. The sweeper asks the
-- queue which have a job, and locks only the others
-- (mark_lost_chunks_queued.sql).
SELECT c.id
FROM migration.chunks c
JOIN migration.runs r ON r.id = c.run_id
WHERE r.status IN ('running', 'cancelling', 'failed')
  AND c.state = 'queued'
  AND c.queued_at < now() - make_interval(secs => $1)
ORDER BY c.id;
