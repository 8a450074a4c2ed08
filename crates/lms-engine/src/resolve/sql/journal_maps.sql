-- The journal's references as LMS ids, through small maps of the tables
-- they reference ({{ledger}} is the ledger, or a dry run's predictions),
-- so that half a million rows meet them in hash joins.
-- A student deleted through the API since its table's last run is still
-- mapped by the ledger, but is no target: its deletion is waiting in
-- migration.lms_deletions (as in the exam results' resolve, results.rs).
CREATE TEMP TABLE journal_students ON COMMIT DROP AS
SELECT l.legacy_id, l.outcome,
       CASE WHEN l.outcome IN ('migrated', 'merged')
                 AND NOT EXISTS (SELECT 1 FROM migration.lms_deletions d
                                 WHERE d.target_table = 'students' AND d.target_id = l.target_id)
            THEN l.target_id END AS target_id
FROM {{ledger}} l WHERE l.entity = 'students' AND l.source_deleted_at IS NULL;
CREATE TEMP TABLE journal_subjects ON COMMIT DROP AS
SELECT legacy_id, outcome, target_id
FROM {{ledger}} WHERE entity = 'subjects' AND outcome = 'migrated' AND source_deleted_at IS NULL;
CREATE TEMP TABLE journal_groups ON COMMIT DROP AS
SELECT legacy_id, target_id
FROM {{ledger}} WHERE entity = 'groups' AND outcome = 'migrated' AND source_deleted_at IS NULL;
ANALYZE journal_students, journal_subjects, journal_groups;
