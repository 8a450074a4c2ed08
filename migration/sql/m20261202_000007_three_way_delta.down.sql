ALTER TABLE migration.stage_users DROP COLUMN email_key;
UPDATE migration.stage_users SET login_key = lower(login) WHERE login_key IS NULL;
ALTER TABLE migration.stage_users ALTER COLUMN login_key SET NOT NULL;
ALTER TABLE migration.stage_exam_results DROP COLUMN score_detail;
ALTER TABLE migration.runs DROP COLUMN on_conflict;
DROP INDEX migration.ledger_open_conflicts_idx;
ALTER TABLE migration.ledger
    DROP CONSTRAINT ledger_conflict_complete,
    DROP COLUMN conflict_since,
    DROP COLUMN conflict_lms,
    DROP COLUMN conflict_target,
    DROP COLUMN conflict,
    DROP COLUMN proposed,
    DROP COLUMN written;
