-- The finished runs whose change log no undo will read: every one but the
-- $1 latest undoable runs (succeeded, not a dry run, no table loaded in
-- bulk, a change log kept). A run that still has events is marked pruned
-- and returned; the caller removes its events in the same transaction.
-- $2: the finished statuses, $3: succeeded, $4: the bulk load path.
--
-- The update takes migration.runs in ROW EXCLUSIVE mode, which waits for
-- an undo in progress (it holds SHARE ROW EXCLUSIVE), and an undo that
-- starts later finds the mark and is refused.
WITH kept AS (
    SELECT r.id
    FROM migration.runs r
    WHERE r.status = $3 AND NOT r.dry_run AND r.changes_logged
      AND NOT EXISTS (SELECT 1 FROM migration.run_steps s WHERE s.run_id = r.id AND s.load_path = $4)
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT $1)
UPDATE migration.runs r
SET changes_pruned_at = clock_timestamp()
WHERE r.status = ANY($2)
  AND r.changes_pruned_at IS NULL
  AND r.id NOT IN (SELECT k.id FROM kept k)
  AND EXISTS (SELECT 1 FROM migration.run_change_events e WHERE e.run_id = r.id)
RETURNING r.id
