-- Applies legacy's values where decided, only to rows still as the plan
-- saw them: an API write racing the run is never overwritten, and its row
-- becomes a conflict instead ('raced').
--
-- The planner estimates "still as the plan saw them" (a comparison of
-- whole rows) at one row, whatever the count. Joined first, it made every
-- later join a scan per row: 17,000 plan rows each scanning the chunk's
-- 17,000 legacy rows, 23 s per chunk of a 10x delta. The joins are kept in
-- the order written, so that the comparison is the last step.
SET LOCAL join_collapse_limit = 1;
-- The journal's rows to apply are locked first, then their final grades
-- (each in id order; NO KEY UPDATE, as the update itself takes, so that
-- foreign-key checks of new rows referencing them do not wait): an API
-- write committed before the locks is what the guard below compares, and
-- none can land between the guard and the grade's write (grades.sql). The
-- update rechecks a row the API changed meanwhile, but not the grade it
-- joins: unlocked, an edit of the grade alone was overwritten, with no
-- conflict. Other tables join nothing, and need no lock before.
{{lock_rows}}
WITH applied AS (
    UPDATE {{target}} t
    SET ({{columns}}, legacy_id, source_deleted_at) = ({{values}}, p.legacy_id, NULL)
    FROM apply_plan p
    JOIN apply_rows a ON a.legacy_id = p.legacy_id
    {{grade_join}}
    WHERE p.action = 'apply' AND t.id = p.target_id
      AND {{current_t}} IS NOT DISTINCT FROM p.current
    RETURNING t.id)
UPDATE apply_plan p
SET action = 'raced'
WHERE p.action = 'apply' AND NOT EXISTS (SELECT 1 FROM applied WHERE applied.id = p.target_id);
SET LOCAL join_collapse_limit TO DEFAULT;

-- An adopted LMS row whose values stay is linked all the same: the ledger
-- names it as the row's target (ledger.sql), raced or not.
UPDATE {{target}} t
SET legacy_id = p.legacy_id
FROM apply_plan p
WHERE p.adopting AND p.action IN ('agree', 'conflict', 'raced') AND t.id = p.target_id;
