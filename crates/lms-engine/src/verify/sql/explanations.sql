-- What the engine's records say about rows that differ ($1 the legacy
-- table, $2 their legacy ids, $3 its LMS table): an open conflict, a
-- deletion in the LMS (noted by the deletion trigger and not yet claimed
-- by a run, or already recorded as deleted_in_lms), or a rejection because
-- a row it references was deleted in the LMS.
SELECT l.legacy_id,
       l.conflict,
       'deleted_in_lms' = ANY (l.warnings)
           OR EXISTS (SELECT 1 FROM migration.lms_deletions d
                      WHERE d.target_table = $3 AND d.target_id = l.target_id) AS deleted_in_lms,
       l.outcome = 'rejected' AND l.reason = 'orphan_reference'
           AND l.detail LIKE '%deleted in the LMS%' AS reference_deleted_in_lms
FROM migration.ledger l
WHERE l.entity = $1 AND l.legacy_id = ANY ($2)
