DROP TYPE migration.owned_organizations, migration.owned_persons, migration.owned_users,
    migration.owned_teachers, migration.owned_groups, migration.owned_subjects, migration.owned_students,
    migration.owned_journal, migration.owned_exams, migration.owned_exam_results;
-- Baselines stay flat: a re-run after the downgrade treats them as written
-- before baselines were kept (the LMS row as it is).
UPDATE migration.ledger SET written = NULL, proposed = NULL, conflict_lms = NULL;
