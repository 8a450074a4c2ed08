-- The oldest finished run whose change log no undo will read: one that
-- kept a log (runs from before the log existed say so when refused) and
-- is not among the $1 latest undoable runs (succeeded, not a dry run, no
-- table loaded in bulk, a change log kept). It is marked pruned, and no
-- longer counts as logged (so that a build from before retention refuses
-- its undo too), and returned; its events are removed afterwards, in
-- batches (remove_pruned_events.sql). A second sweeper passes over the
-- run this one has locked.
-- $2: the finished statuses, $3: succeeded, $4: the bulk load path.
WITH kept AS (
    SELECT r.id
    FROM migration.runs r
    WHERE r.status = $3 AND NOT r.dry_run AND r.changes_logged
      AND NOT EXISTS (SELECT 1 FROM migration.run_steps s WHERE s.run_id = r.id AND s.load_path = $4)
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT $1),
oldest AS (
    SELECT r.id
    FROM migration.runs r
    WHERE r.status = ANY($2)
      AND r.changes_logged
      AND r.changes_pruned_at IS NULL
      AND r.id NOT IN (SELECT k.id FROM kept k)
    ORDER BY r.created_at, r.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
UPDATE migration.runs r
SET changes_pruned_at = clock_timestamp(), changes_logged = false
FROM oldest o
WHERE r.id = o.id
RETURNING r.id
