-- Adds to the apply scope the candidates (scope_candidates.sql) that are
-- still staged and not in it yet. $1: the legacy table.
INSERT INTO migration.apply_scope (entity, legacy_id)
SELECT $1, c.legacy_id
FROM pg_temp.scope_candidates c
WHERE EXISTS (SELECT 1 FROM {{stage}} s WHERE s.legacy_id = c.legacy_id)
  AND NOT EXISTS (SELECT 1 FROM migration.apply_scope p
                  WHERE p.entity = $1 AND p.legacy_id = c.legacy_id)
