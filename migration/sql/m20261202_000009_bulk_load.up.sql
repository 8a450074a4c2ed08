-- The initial-load path. A table that is empty when a run is planned (and
-- whose legacy table no run has migrated) is loaded in bulk: its secondary
-- indexes and foreign keys are dropped first and rebuilt, in bulk, when the
-- table is finished; API writes to it are refused meanwhile.

-- The path each table's apply takes in a run, and why (shown in its status).
ALTER TABLE migration.run_steps
    ADD COLUMN load_path text CHECK (load_path IN ('bulk', 'delta')),
    ADD COLUMN load_reason text;

-- Tables being loaded in bulk: the API refuses writes to them.
CREATE TABLE migration.bulk_loads (
    target_table text PRIMARY KEY,
    run_id       uuid NOT NULL,
    entity       text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now()
);

-- Indexes and foreign keys dropped for a bulk load, as their definitions:
-- the one record of what must be restored, whatever crashed meanwhile.
CREATE TABLE migration.deferred_ddl (
    target_table text NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('index', 'unique', 'foreign_key')),
    definition   text NOT NULL,
    -- For a foreign key, the table it references: deletes from it are
    -- refused until the key is back.
    referenced_table text CHECK ((kind = 'foreign_key') = (referenced_table IS NOT NULL)),
    run_id       uuid NOT NULL,
    PRIMARY KEY (target_table, name)
);

-- While a table is loaded in bulk, every write to it but the migration's
-- own (a session that sets lms.migration_writer, which only the engine
-- does) is refused: its unique indexes and foreign keys are being rebuilt.
-- So are deletes from the tables its dropped foreign keys reference, which
-- would leave rows the keys could not be added back over. SQLSTATE LM001;
-- the LMS API answers UNAVAILABLE with the message. One check per
-- statement, not per row.
CREATE FUNCTION migration.refuse_writes_during_bulk_load() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    loading record;
BEGIN
    IF current_setting('lms.migration_writer', true) = 'on' THEN
        RETURN NULL;
    END IF;
    SELECT run_id, started_at INTO loading FROM migration.bulk_loads WHERE target_table = TG_TABLE_NAME;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LM001',
            MESSAGE = format('%s is being loaded in bulk by migration run %s (since %s): its indexes and '
                             'foreign keys are rebuilt when the load ends, and writes are refused until then '
                             '(should that run have ended without restoring them, until the next run is '
                             'planned, which does it first); nothing was written',
                             TG_TABLE_NAME, loading.run_id, loading.started_at);
    END IF;
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        SELECT d.target_table, d.run_id INTO loading FROM migration.deferred_ddl d
        WHERE d.kind = 'foreign_key' AND d.referenced_table = TG_TABLE_NAME
        ORDER BY d.target_table LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LM001',
                MESSAGE = format('rows of %s are referenced by %s, which migration run %s is loading in bulk: '
                                 'its foreign keys are added back when the load ends, and deletes from %s are '
                                 'refused until then; nothing was deleted',
                                 TG_TABLE_NAME, loading.target_table, loading.run_id, TG_TABLE_NAME);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    target text;
BEGIN
    -- The tables a bulk load fills, and courses, which the journal's keys
    -- reference.
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'course_enrollments', 'grades', 'assessments',
                                  'assessment_submissions', 'courses'] LOOP
        EXECUTE format('CREATE TRIGGER refuse_writes_during_bulk_load BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION migration.refuse_writes_during_bulk_load()', target);
    END LOOP;
END
$$;
