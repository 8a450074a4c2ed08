UPDATE migration.runs SET status = 'cancelled', finished_at = now() WHERE status = 'held';
ALTER TABLE migration.runs
    DROP CONSTRAINT runs_hold_threshold_whole,
    DROP COLUMN approved_at,
    DROP COLUMN held_at,
    DROP COLUMN hold_preview,
    DROP COLUMN hold_min_rows,
    DROP COLUMN hold_percent;
DROP INDEX migration.runs_one_active;
CREATE UNIQUE INDEX runs_one_active ON migration.runs ((true)) WHERE status IN ('running', 'cancelling');
ALTER TABLE migration.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelling', 'cancelled', 'undone'));
