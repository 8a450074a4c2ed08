-- What journal_keys.sql keeps of the staged rows in a delta: the rows
-- journal_touched.sql named, and the rows whose student and subject ids
-- are one of its pairs. Both lookups are hashed in memory (the tables
-- hold at most a tenth of the journal, or the run resolves every row), so
-- the pass over the staged rows stays one pass.
AND (j.legacy_id IN (SELECT legacy_id FROM journal_touched)
     OR (j.student_legacy_id, j.subject_legacy_id) IN
        (SELECT student_legacy_id, subject_legacy_id FROM journal_touched_pairs))
