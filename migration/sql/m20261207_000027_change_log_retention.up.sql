-- Undo's change logs are kept only for the latest succeeded delta runs
-- (`migration.undo_history`): the worker's sweeper removes every other
-- finished run's events and notes here when, so that undo of such a run is
-- refused, saying so, instead of finding an empty log and restoring
-- nothing. It also sets such a run's changes_logged to false, which code
-- from before this migration refuses to undo as well.
ALTER TABLE migration.runs ADD COLUMN changes_pruned_at timestamptz;
