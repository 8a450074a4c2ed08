-- The tables' pages filled whole again, as before m20261204_000018.
ALTER TABLE course_enrollments RESET (fillfactor);
ALTER TABLE grades RESET (fillfactor);
ALTER TABLE assessment_submissions RESET (fillfactor);
ALTER TABLE migration.ledger_organizations RESET (fillfactor);
ALTER TABLE migration.ledger_persons RESET (fillfactor);
ALTER TABLE migration.ledger_users RESET (fillfactor);
ALTER TABLE migration.ledger_groups RESET (fillfactor);
ALTER TABLE migration.ledger_subjects RESET (fillfactor);
ALTER TABLE migration.ledger_students RESET (fillfactor);
ALTER TABLE migration.ledger_teachers RESET (fillfactor);
ALTER TABLE migration.ledger_journal RESET (fillfactor);
ALTER TABLE migration.ledger_exams RESET (fillfactor);
ALTER TABLE migration.ledger_exam_results RESET (fillfactor);
