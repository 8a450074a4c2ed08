-- The journal's references as LMS ids, through small maps of the tables
-- they reference ({{ledger}} is the ledger, or a dry run's predictions),
-- so that half a million rows meet them in hash joins.
CREATE TEMP TABLE journal_students ON COMMIT DROP AS
SELECT legacy_id, outcome, CASE WHEN outcome IN ('migrated', 'merged') THEN target_id END AS target_id
FROM {{ledger}} l WHERE entity = 'students' AND source_deleted_at IS NULL;
CREATE TEMP TABLE journal_subjects ON COMMIT DROP AS
SELECT legacy_id, outcome, target_id
FROM {{ledger}} l WHERE entity = 'subjects' AND outcome = 'migrated' AND source_deleted_at IS NULL;
CREATE TEMP TABLE journal_groups ON COMMIT DROP AS
SELECT legacy_id, target_id
FROM {{ledger}} l WHERE entity = 'groups' AND outcome = 'migrated' AND source_deleted_at IS NULL;
ANALYZE journal_students, journal_subjects, journal_groups;
