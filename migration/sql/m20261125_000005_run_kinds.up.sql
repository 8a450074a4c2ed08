-- Dry runs: a run that stages and resolves, and reports what the rules
-- would do, without writing LMS rows or the ledger.
ALTER TABLE migration.runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('full', 'retry_rejected', 'dry_run'));
