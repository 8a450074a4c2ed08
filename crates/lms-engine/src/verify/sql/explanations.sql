-- What the engine's records say about rows that differ ($1 the legacy
-- table, $2 their legacy ids, $3 its LMS table, $4 the API's collection of
-- that table or NULL when the API writes none of it): an open conflict, a
-- deletion in the LMS (noted by the deletion trigger and not yet claimed
-- by a run, or already recorded as deleted_in_lms), a rejection, or a
-- reference replaced ($5: the warnings that say so, a provisioned account
-- or no person), because a row it references was deleted in the LMS, or
-- a committed API write of
-- the row (for an enrollment, also of its grades) since the migration last
-- wrote or adopted its baseline (written_at; for rows recorded before it
-- was kept, when the row was recorded) (the audit trail, api.audit_events;
-- names as the API spells them, "students/12", "enrollments/7", "grades/9").
SELECT l.legacy_id,
       l.conflict,
       'deleted_in_lms' = ANY (l.warnings)
           OR EXISTS (SELECT 1 FROM migration.lms_deletions d
                      WHERE d.target_table = $3 AND d.target_id = l.target_id) AS deleted_in_lms,
       l.detail LIKE '%deleted in the LMS%'
           AND (l.outcome = 'rejected' AND l.reason = 'orphan_reference'
                OR l.outcome = 'migrated' AND l.warnings && $5::text[]) AS reference_deleted_in_lms,
       $4::text IS NOT NULL AND l.target_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM api.audit_events a
           WHERE a.code = 0 AND a.at > coalesce(l.written_at, l.recorded_at)
             AND (a.resource = $4 || '/' || l.target_id
                  OR ($3 = 'course_enrollments' AND a.resource IN (
                      SELECT 'grades/' || g.id FROM grades g WHERE g.enrollment_id = l.target_id)))
       ) AS written_through_api
FROM migration.ledger l
WHERE l.entity = $1 AND l.legacy_id = ANY ($2)
