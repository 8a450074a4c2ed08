-- Moving rows leave the partial unique indexes (which cover only rows
-- without source_deleted_at) for the rest of this transaction, so that any
-- permutation of their keys applies; the guarded write brings them back.
UPDATE {{target}} t
SET source_deleted_at = '-infinity'
FROM apply_plan p
WHERE p.action = 'apply' AND t.id = p.target_id AND t.source_deleted_at IS NULL;
