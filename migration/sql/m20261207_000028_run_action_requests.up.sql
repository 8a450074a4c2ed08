-- An operator's action on a run (an approval, a cancel, an undo) under a
-- request id, as AIP-155 asks of a call that changes state: the same id
-- given again with the same action, caller and run answers with the run as
-- it is now (a retry after a lost answer is not told "not held", "has
-- already ended" or "undone already"); given with another action, caller
-- or run it is refused. The row is written in the action's own
-- transaction, so it exists exactly when the action took effect.
CREATE TABLE migration.run_action_requests (
    request_id text PRIMARY KEY,
    run_id     uuid NOT NULL REFERENCES migration.runs (id) ON DELETE CASCADE,
    -- The action, its caller and its run, as the client asked.
    request    jsonb NOT NULL CHECK (jsonb_typeof(request) = 'object'),
    acted_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- A run deleted takes its records with it without a scan.
CREATE INDEX run_action_requests_run_id_idx ON migration.run_action_requests (run_id);
