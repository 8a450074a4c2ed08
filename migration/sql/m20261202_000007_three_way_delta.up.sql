-- Three-way delta: a re-run compares what legacy proposes now with what the
-- migration last wrote and with the LMS row now, so that an edit made in
-- the LMS is never undone silently.
--
-- written:  the values of the columns the migration owns, as it last wrote
--           them to the row's LMS row (or found them there when it adopted
--           a row born in the LMS), one object per LMS table written
--           ({"course_enrollments": {...}, "grades": {...}}), in the
--           target's types: timestamps in UTC, numerics at the column's
--           scale, jsonb normalised. NULL: nothing was ever written.
-- proposed: the contract's last proposal when it was not written (the LMS
--           row kept its own values in a conflict). NULL: equal to written.
-- conflict: why the proposal was not written, while that stays so.
ALTER TABLE migration.ledger
    ADD COLUMN written         jsonb,
    ADD COLUMN proposed        jsonb,
    ADD COLUMN conflict        text CHECK (conflict IN ('lms_edited', 'key_taken', 'edited_during_run')),
    -- The LMS row the conflict is with (the row's own, or the one holding its key) and its values then.
    ADD COLUMN conflict_target bigint,
    ADD COLUMN conflict_lms    jsonb,
    ADD COLUMN conflict_since  timestamptz,
    ADD CONSTRAINT ledger_conflict_complete CHECK ((conflict IS NULL) = (conflict_since IS NULL));

CREATE INDEX ledger_open_conflicts_idx ON migration.ledger (entity, legacy_id) WHERE conflict IS NOT NULL;

-- Which side wins a conflict in this run.
ALTER TABLE migration.runs
    ADD COLUMN on_conflict text NOT NULL DEFAULT 'keep_lms' CHECK (on_conflict IN ('keep_lms', 'take_legacy'));

-- Scores are checked against the exam's maximum when results are staged
-- (the legacy read joins the exam): the staged score is the one to write,
-- and this says why a score was dropped.
ALTER TABLE migration.stage_exam_results ADD COLUMN score_detail text;

-- Login and email keys are computed by the resolve step, with the same
-- expression as the LMS's unique indexes (ICU's case folding).
ALTER TABLE migration.stage_users
    ALTER COLUMN login_key DROP NOT NULL,
    ADD COLUMN email_key text;
