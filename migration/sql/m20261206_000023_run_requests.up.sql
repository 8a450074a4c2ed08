-- A run's request id names one request: what the client asked for under
-- it (the method, the caller, the tables, the chunk size, the policy and
-- the hold) is kept beside it, and the id given again with another request
-- is refused instead of answered with a run that was not what was asked.
-- Runs started before this migration kept nothing: their ids answer any
-- request, as before.
ALTER TABLE migration.runs ADD COLUMN request jsonb
    CHECK (request IS NULL OR (request_id IS NOT NULL AND jsonb_typeof(request) = 'object'));
