ALTER TABLE migration.runs DROP COLUMN changes_pruned_at;
