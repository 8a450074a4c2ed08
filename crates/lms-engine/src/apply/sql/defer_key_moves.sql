-- In a chunk, a row whose natural key would move (or that would come back
-- from retirement into the unique indexes) is not written: such rows are
-- applied together by the table's resolve step, and one still here means
-- its LMS row changed after that step (or its key stays taken).
UPDATE apply_plan p
SET action = 'deferred'
FROM apply_rows a, {{target}} t
WHERE p.action = 'apply' AND a.legacy_id = p.legacy_id AND t.id = p.target_id
  AND (p.retired OR ({{key_t}}) IS DISTINCT FROM ({{key_a}}));
