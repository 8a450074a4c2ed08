-- Undo of a delta run (issue 12, item 3). A run that is undone ends in
-- status 'undone'. Every write a delta run's chunks make to the LMS rows,
-- the ledger and the notes of LMS deletions is recorded, as the row was
-- before the run's first write to it and after its last, in
-- migration.run_changes: by row triggers, in the chunk's own transaction,
-- only while the chunk sets lms.change_log_run (a delta run's resolve,
-- apply and finalize chunks; never a bulk load, a dry run or an API write).

ALTER TABLE migration.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelling', 'cancelled', 'undone'));

-- Runs made before this migration kept no change log and cannot be undone.
ALTER TABLE migration.runs ADD COLUMN changes_logged boolean NOT NULL DEFAULT false;
ALTER TABLE migration.runs ALTER COLUMN changes_logged SET DEFAULT true;
ALTER TABLE migration.runs ADD COLUMN undone_at timestamptz;

-- One row per row a run wrote: its key (the primary key's columns as a
-- jsonb object), its legacy id where it has one, and its images as
-- to_jsonb of the row (before: NULL for a row the run inserted; after:
-- NULL for a row it deleted).
CREATE TABLE migration.run_changes (
    run_id     uuid NOT NULL REFERENCES migration.runs (id) ON DELETE CASCADE,
    table_name text NOT NULL,
    row_key    jsonb NOT NULL,
    legacy_id  bigint,
    before     jsonb,
    after      jsonb,
    PRIMARY KEY (run_id, table_name, row_key)
);

-- TG_ARGV[0]: the table's name in the log; the rest: its key columns.
CREATE FUNCTION migration.log_run_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    after_image  jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    image_key    jsonb;
BEGIN
    SELECT jsonb_object_agg(k, coalesce(after_image, before_image) -> k) INTO image_key
    FROM unnest(TG_ARGV[1:]) AS k;
    INSERT INTO migration.run_changes AS c (run_id, table_name, row_key, legacy_id, before, after)
    VALUES (current_setting('lms.change_log_run')::uuid, TG_ARGV[0], image_key,
            coalesce(after_image ->> 'legacy_id', before_image ->> 'legacy_id')::bigint,
            before_image, after_image)
    -- The first before-image stays: it is the row as it was before the run.
    ON CONFLICT (run_id, table_name, row_key) DO UPDATE
    SET after = EXCLUDED.after, legacy_id = coalesce(EXCLUDED.legacy_id, c.legacy_id);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    target text;
BEGIN
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'courses', 'course_enrollments', 'grades',
                                  'assessments', 'assessment_submissions'] LOOP
        EXECUTE format('CREATE TRIGGER log_run_change AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW '
                       'WHEN (current_setting(''lms.change_log_run'', true) <> '''') '
                       'EXECUTE FUNCTION migration.log_run_change(%L, ''id'')', target, target);
    END LOOP;
END
$$;

CREATE TRIGGER log_run_change AFTER INSERT OR UPDATE OR DELETE ON migration.ledger FOR EACH ROW
    WHEN (current_setting('lms.change_log_run', true) <> '')
    EXECUTE FUNCTION migration.log_run_change('migration.ledger', 'entity', 'legacy_id');

CREATE TRIGGER log_run_change AFTER INSERT OR UPDATE OR DELETE ON migration.lms_deletions FOR EACH ROW
    WHEN (current_setting('lms.change_log_run', true) <> '')
    EXECUTE FUNCTION migration.log_run_change('migration.lms_deletions', 'target_table', 'target_id');
