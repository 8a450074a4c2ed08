-- Whatever a bulk load left dropped is restored first: indexes, then keys.
DO $$
DECLARE
    deferred record;
BEGIN
    FOR deferred IN SELECT definition FROM migration.deferred_ddl ORDER BY kind = 'foreign_key', name LOOP
        EXECUTE deferred.definition;
    END LOOP;
END
$$;
DO $$
DECLARE
    target text;
BEGIN
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'course_enrollments', 'grades', 'assessments',
                                  'assessment_submissions', 'courses'] LOOP
        EXECUTE format('DROP TRIGGER refuse_writes_during_bulk_load ON %I', target);
    END LOOP;
END
$$;
DROP FUNCTION migration.refuse_writes_during_bulk_load();
DROP TABLE migration.deferred_ddl;
DROP TABLE migration.bulk_loads;
ALTER TABLE migration.run_steps DROP COLUMN load_reason, DROP COLUMN load_path;
