-- Among the chunks a completed chunk just made ready ($1), those of one
-- table ($2) and phase ($3) still queued ($4), locked, in id order.
SELECT c.id, c.step_id, c.first_legacy_id, c.last_legacy_id
FROM migration.chunks c
JOIN migration.run_steps s ON s.id = c.step_id
WHERE c.id = ANY($1) AND s.entity = $2 AND s.phase = $3 AND c.state = $4
ORDER BY c.id
FOR UPDATE OF c
