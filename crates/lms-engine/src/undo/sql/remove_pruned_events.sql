-- At most $1 events of runs marked pruned. No undo reads them: undo
-- refuses a marked run, reading the mark under its lock on
-- migration.runs. Events a failed run's last chunks committed after the
-- mark go the same way, at a later call.
DELETE FROM migration.run_change_events
WHERE ctid = ANY (ARRAY(
    SELECT e.ctid
    FROM migration.runs r
    JOIN migration.run_change_events e ON e.run_id = r.id
    WHERE r.changes_pruned_at IS NOT NULL
    LIMIT $1))
