-- The contract picks the survivor of an exam's resubmissions by the latest
-- submitted_at as legacy holds it: `infinity` is later than any date and
-- `10000-01-01` later than 9999, though the LMS stores neither (an instant
-- it cannot hold is NULL, docs/contract.md). The mirror keeps the legacy
-- value for that order beside the value the LMS takes. Rows staged before
-- this migration have none; the engine's rules version moved with it, so
-- the next run stages them again.
ALTER TABLE migration.stage_exam_results ADD COLUMN submitted_order timestamp;
