-- The journal rows a delta run resolves again: the rows journal_touched.sql
-- named, and the staged rows journal_keys.sql found sharing a (surviving
-- student, subject) pair with a changed row. Every key group outside this
-- set keeps its members, so its survivor and its resolutions stand as they
-- are.
CREATE TEMP TABLE journal_scope ON COMMIT DROP AS
SELECT legacy_id FROM journal_touched
UNION
SELECT legacy_id FROM journal_keys;
ANALYZE journal_scope;
