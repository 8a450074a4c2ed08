DO $$
DECLARE
    target text;
BEGIN
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'courses', 'course_enrollments', 'grades',
                                  'assessments', 'assessment_submissions'] LOOP
        EXECUTE format('DROP TRIGGER log_run_change ON %I', target);
    END LOOP;
END
$$;
DROP TRIGGER log_run_change ON migration.ledger;
DROP TRIGGER log_run_change ON migration.lms_deletions;
DROP FUNCTION migration.log_run_change();
DROP TABLE migration.run_changes;

ALTER TABLE migration.runs DROP COLUMN undone_at;
ALTER TABLE migration.runs DROP COLUMN changes_logged;
-- An undone run had succeeded before it was undone; the older schema has
-- no word for it, and its LMS rows are as before it: it reads as cancelled.
UPDATE migration.runs SET status = 'cancelled' WHERE status = 'undone';
ALTER TABLE migration.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE migration.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelling', 'cancelled'));
