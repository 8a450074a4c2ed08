-- The ledger keeps its baseline (`written`: the owned values as the
-- migration last wrote them) as the text form of migration.owned_<table>,
-- read back by a cast to that type, instead of to_jsonb of it. A jsonb
-- object repeats every field's name in every row: a journal baseline took
-- 251 bytes of its ledger row's 356 as jsonb, and takes 58 as text.
-- Measured on a seed-scale LMS, one 25,000-row journal chunk of the bulk
-- load in a transaction rolled back, five rounds each, medians: 337 ms
-- with jsonb baselines, 279 ms with text. Every later scan of the ledger
-- (the finalize's check against legacy, the tallies) reads half the pages:
-- after a first load the journal's partition took 203 MB and takes 95 MB.
-- Whole runs with two workers, three alternating rounds each: a
-- seed-scale first load 10.65-11.18 s before, 9.93-10.04 s after; the 1%
-- journal delta after it 2.54-2.72 s before, 2.36-2.40 s after.
--
-- The values and their comparisons do not change: the text form is the
-- type's own output (record_out), and a cast reads it back exactly, each
-- field in its column's type (numerics at their scale, timestamps with
-- their offset; dates in ISO style, which the engine's connections use).
-- `proposed`, which operators read in conflict reports, stays a jsonb
-- object with the fields named.
--
-- The text form is positional: a migration that adds, drops or reorders a
-- field of an owned type must rewrite the baselines of that table in the
-- same transaction. A CHECK refuses a baseline that is not a record's text
-- (a jsonb document an older engine would write): such a write fails, it
-- never stores what a cast cannot read back.
--
-- Baselines already stored are converted, and so are the ledger rows'
-- images in the undo change log, so that an undo of an earlier run finds
-- the ledger as that run left it. Timestamps are written in UTC, as a delta
-- run's apply writes them.
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, MDY';

CREATE FUNCTION pg_temp.baseline_text(entity text, document jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE entity
        WHEN 'organizations' THEN jsonb_populate_record(NULL::migration.owned_organizations, document)::text
        WHEN 'persons' THEN jsonb_populate_record(NULL::migration.owned_persons, document)::text
        WHEN 'users' THEN jsonb_populate_record(NULL::migration.owned_users, document)::text
        WHEN 'teachers' THEN jsonb_populate_record(NULL::migration.owned_teachers, document)::text
        WHEN 'groups' THEN jsonb_populate_record(NULL::migration.owned_groups, document)::text
        WHEN 'subjects' THEN jsonb_populate_record(NULL::migration.owned_subjects, document)::text
        WHEN 'students' THEN jsonb_populate_record(NULL::migration.owned_students, document)::text
        WHEN 'journal' THEN jsonb_populate_record(NULL::migration.owned_journal, document)::text
        WHEN 'exams' THEN jsonb_populate_record(NULL::migration.owned_exams, document)::text
        WHEN 'exam_results' THEN jsonb_populate_record(NULL::migration.owned_exam_results, document)::text
    END
    WHERE jsonb_typeof(document) = 'object'
$$;

ALTER TABLE migration.ledger ALTER COLUMN written TYPE text USING pg_temp.baseline_text(entity, written);
ALTER TABLE migration.ledger ADD CONSTRAINT ledger_written_is_a_record
    CHECK (written IS NULL OR left(written, 1) = '(');

UPDATE migration.run_change_events
SET before = CASE WHEN before ? 'written' THEN
                 jsonb_set(before, '{written}',
                           coalesce(to_jsonb(pg_temp.baseline_text(before ->> 'entity', before -> 'written')), 'null'))
                 ELSE before
             END,
    after = CASE WHEN after ? 'written' THEN
                jsonb_set(after, '{written}',
                          coalesce(to_jsonb(pg_temp.baseline_text(after ->> 'entity', after -> 'written')), 'null'))
                ELSE after
            END
WHERE table_name = 'migration.ledger'
  AND (jsonb_typeof(before -> 'written') = 'object' OR jsonb_typeof(after -> 'written') = 'object');

DROP FUNCTION pg_temp.baseline_text(text, jsonb);
