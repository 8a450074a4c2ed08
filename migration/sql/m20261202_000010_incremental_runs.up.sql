-- Re-runs cost what changed. Staging becomes a mirror of legacy that runs
-- keep (a cache: a run reads legacy whole and merges it against the
-- mirror's hashes, so it is unlogged; a crash that empties it costs one
-- full staging, which the merge does by itself). Resolutions are kept too.
ALTER TABLE migration.stage_organizations SET UNLOGGED;
ALTER TABLE migration.stage_persons SET UNLOGGED;
ALTER TABLE migration.stage_users SET UNLOGGED;
ALTER TABLE migration.stage_groups SET UNLOGGED;
ALTER TABLE migration.stage_subjects SET UNLOGGED;
ALTER TABLE migration.stage_students SET UNLOGGED;
ALTER TABLE migration.stage_teachers SET UNLOGGED;
ALTER TABLE migration.stage_journal SET UNLOGGED;
ALTER TABLE migration.stage_exams SET UNLOGGED;
ALTER TABLE migration.stage_exam_results SET UNLOGGED;

-- Rows staged (new or changed) or gone since the ledger last caught up with
-- the mirror; cleared when a run's finalize brings it in step.
CREATE TABLE migration.stage_changes (
    entity    text NOT NULL,
    legacy_id bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('written', 'gone')),
    PRIMARY KEY (entity, legacy_id)
);

-- Per legacy table: whether the mirror, the resolutions and the ledger are
-- in step but for the rows in stage_changes (false after a dry run, or a
-- mirror lost and staged whole again), and the referenced tables' ledger
-- as the table was last brought in step with it.
-- proposed_under: the terms the ledger's proposals were computed under (the
-- engine's rules version, the legacy time zone); other terms make every row
-- one to look at again.
-- The terms a run computes its proposals under, fixed by its first chunk: a
-- worker configured otherwise refuses the run's chunks.
ALTER TABLE migration.runs ADD COLUMN proposed_under text;

CREATE TABLE migration.stage_state (
    entity          text PRIMARY KEY,
    in_step         boolean NOT NULL,
    references_seen timestamptz,
    proposed_under  text
);

-- The rows a run's apply must look at (the rest it leaves, and counts as
-- unchanged): filled by the resolve step.
CREATE TABLE migration.apply_scope (
    entity    text NOT NULL,
    legacy_id bigint NOT NULL,
    PRIMARY KEY (entity, legacy_id)
);

-- Migrated LMS rows deleted in the LMS, noted as they go, so that a re-run
-- finds them without looking through every row. A run's resolve step
-- claims the notes it sees; its finalize forgets those, and only those (a
-- deletion committed meanwhile waits for the next run).
CREATE TABLE migration.lms_deletions (
    target_table text NOT NULL,
    target_id    bigint NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    claimed_by   uuid,
    PRIMARY KEY (target_table, target_id)
);

CREATE FUNCTION migration.note_lms_deletion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.legacy_id IS NOT NULL THEN
        INSERT INTO migration.lms_deletions (target_table, target_id) VALUES (TG_TABLE_NAME, OLD.id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN OLD;
END
$$;

DO $$
DECLARE
    target text;
BEGIN
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'course_enrollments', 'grades', 'assessments',
                                  'assessment_submissions'] LOOP
        EXECUTE format('CREATE TRIGGER note_lms_deletion AFTER DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION migration.note_lms_deletion()', target);
    END LOOP;
END
$$;
