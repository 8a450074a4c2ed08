DO $$
DECLARE
    target text;
BEGIN
    FOREACH target IN ARRAY ARRAY['organizations', 'persons', 'users', 'staff_members', 'student_groups',
                                  'subjects', 'students', 'course_enrollments', 'grades', 'assessments',
                                  'assessment_submissions'] LOOP
        EXECUTE format('DROP TRIGGER note_lms_deletion ON %I', target);
    END LOOP;
END
$$;
DROP FUNCTION migration.note_lms_deletion();
DROP TABLE migration.lms_deletions;
DROP TABLE migration.apply_scope;
DROP TABLE migration.stage_state;
DROP TABLE migration.stage_changes;
ALTER TABLE migration.stage_organizations SET LOGGED;
ALTER TABLE migration.stage_persons SET LOGGED;
ALTER TABLE migration.stage_users SET LOGGED;
ALTER TABLE migration.stage_groups SET LOGGED;
ALTER TABLE migration.stage_subjects SET LOGGED;
ALTER TABLE migration.stage_students SET LOGGED;
ALTER TABLE migration.stage_teachers SET LOGGED;
ALTER TABLE migration.stage_journal SET LOGGED;
ALTER TABLE migration.stage_exams SET LOGGED;
ALTER TABLE migration.stage_exam_results SET LOGGED;
