DELETE FROM migration.runs WHERE kind = 'dry_run';
ALTER TABLE migration.runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('full', 'retry_rejected'));
