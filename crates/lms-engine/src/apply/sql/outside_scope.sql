-- A chunk's range: how many of its staged rows the resolve step put in the
-- apply's scope, and how many of the others have an open conflict (listed
-- by every run until settled). $1: the legacy table.
SELECT (SELECT count(*) FROM migration.apply_scope s WHERE s.entity = $1 AND {{stage_range}}) AS scoped,
       (SELECT count(*) FROM migration.ledger l
        WHERE l.entity = $1 AND {{ledger_range}} AND l.conflict IS NOT NULL AND l.source_deleted_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM migration.apply_scope p WHERE p.entity = $1 AND p.legacy_id = l.legacy_id)
       ) AS conflicts;
