-- A hold on mass changes: a delta run first previews, per table, the rows
-- it would create, update and mark deleted; past a threshold it stops in
-- status 'held' until an operator approves it (or cancels it). A held run
-- is active: it blocks every other run.
ALTER TABLE migration.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'held', 'succeeded', 'failed', 'cancelling', 'cancelled', 'undone'));
DROP INDEX migration.runs_one_active;
CREATE UNIQUE INDEX runs_one_active ON migration.runs ((true))
    WHERE status IN ('running', 'held', 'cancelling');

ALTER TABLE migration.runs
    -- The run's threshold: a table holds the run when its changes exceed
    -- max(hold_percent % of its legacy rows, hold_min_rows). NULL: the run
    -- has no hold gate (a first load, a dry run, --no-hold).
    ADD COLUMN hold_percent integer CHECK (hold_percent BETWEEN 0 AND 100),
    ADD COLUMN hold_min_rows bigint CHECK (hold_min_rows >= 0),
    -- The gate's preview, per table; set (with the decision) by the
    -- transaction of the run's last stage chunk. NULL while the gate waits.
    ADD COLUMN hold_preview jsonb,
    ADD COLUMN held_at timestamptz,
    ADD COLUMN approved_at timestamptz,
    ADD CONSTRAINT runs_hold_threshold_whole
        CHECK ((hold_percent IS NULL) = (hold_min_rows IS NULL));
