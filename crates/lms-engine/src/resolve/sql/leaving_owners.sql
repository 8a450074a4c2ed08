-- The survivors that leave their key group this run (gone from legacy, or
-- now merged into another row or rejected) and own a live LMS row, or
-- had one deleted in the LMS: the rows hand_over_survivors.sql looks for
-- a successor to. $1: the legacy table. Holes: target, stage, gone_rows and
-- superseded_rows (restrict the rows looked at, as the resolve does).
CREATE TEMP TABLE leaving_owners ON COMMIT DROP AS
WITH leaving AS MATERIALIZED (
    SELECT l.legacy_id
    FROM migration.ledger l
    WHERE l.entity = $1 AND l.source_deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM {{stage}} s WHERE s.legacy_id = l.legacy_id)
      {{gone_rows}}
    UNION ALL
    SELECT r.legacy_id
    FROM migration.resolutions r
    WHERE r.entity = $1 {{superseded_rows}}
)
-- Of them, those that own a live LMS row, or had one deleted in the LMS.
SELECT v.legacy_id, t.id AS target_id
FROM leaving v
JOIN migration.ledger l ON l.entity = $1 AND l.legacy_id = v.legacy_id
LEFT JOIN {{target}} t ON t.legacy_id = v.legacy_id
WHERE l.source_deleted_at IS NULL
  AND ((t.id IS NOT NULL AND t.source_deleted_at IS NULL)
       -- Written once, and no LMS row now: deleted in the LMS (whether or
       -- not a run has seen that yet).
       OR (t.id IS NULL AND l.outcome = 'migrated' AND l.written IS NOT NULL));
