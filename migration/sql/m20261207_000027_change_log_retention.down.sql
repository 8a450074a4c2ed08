-- A run whose log was removed already counts as not logged
-- (changes_logged false), which the code before this migration refuses to
-- undo; the mark itself goes.
ALTER TABLE migration.runs DROP COLUMN changes_pruned_at;
