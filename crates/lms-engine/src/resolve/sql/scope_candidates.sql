-- The candidates for the rows this run's apply must look at (scope.rs
-- keeps those still staged and not yet in scope); the rest it leaves
-- alone, and counts as unchanged. $1: the legacy table, $2: whether the
-- record of staged changes can be trusted, $3: the referenced tables'
-- ledger as the table last caught up with it, $4: the run's conflict
-- policy, $5: the LMS tables the legacy table fills, $6: whether the
-- ledger's proposals were computed under other terms (rules version,
-- legacy time zone).
--
-- When the journal resolved only its touched rows, only those can have a
-- resolution that changed in this run (the holes resolved_r and
-- resolved_l keep them); a resolution changed by a run that did not finish
-- is in the scope that run recorded, which is kept until the table catches
-- up: only rows not in it yet are added.
INSERT INTO pg_temp.scope_candidates (legacy_id)
SELECT candidate.legacy_id
FROM (
    -- Rows staged new or changed since the ledger last caught up.
    SELECT c.legacy_id FROM migration.stage_changes c
    WHERE $2 AND c.entity = $1 AND c.kind = 'written'
    UNION
    -- The same, found by comparing every row when that record is not to be
    -- trusted (after a dry run or an undo).
    SELECT s.legacy_id FROM {{stage}} s
    LEFT JOIN migration.ledger l ON l.entity = $1 AND l.legacy_id = s.legacy_id
    WHERE NOT $2
      AND (l.legacy_id IS NULL OR l.source_hash <> s.source_hash OR l.source_deleted_at IS NOT NULL)
    UNION
    -- Every row, when what the contract proposes may have changed for all.
    SELECT s.legacy_id FROM {{stage}} s WHERE $6
    UNION
    -- Rows whose resolution changed: now merged or rejected, or otherwise.
    SELECT r.legacy_id FROM migration.resolutions r
    LEFT JOIN migration.ledger l ON l.entity = $1 AND l.legacy_id = r.legacy_id
    WHERE r.entity = $1 {{resolved_r}}
      AND (l.legacy_id IS NULL
           OR (l.outcome, l.reason, l.survivor_legacy_id) IS DISTINCT FROM (r.outcome, r.reason, r.survivor_legacy_id))
    UNION
    SELECT l.legacy_id FROM migration.ledger l
    WHERE l.entity = $1 {{resolved_l}} AND l.outcome <> 'migrated' AND l.source_deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM migration.resolutions r WHERE r.entity = $1 AND r.legacy_id = l.legacy_id)
    UNION
    -- Rows whose LMS row was deleted in the LMS since. The ledger's targets
    -- are rows of the first table the legacy table fills (a final grade
    -- deleted in the LMS is an edit of its enrollment, not a deletion).
    SELECT l.legacy_id FROM migration.lms_deletions d
    JOIN migration.ledger l ON l.entity = $1 AND l.target_id = d.target_id AND l.outcome = 'migrated'
    WHERE d.target_table = ($5::text[])[1]
    UNION
    -- Conflicts to try again: a key that was taken; all of them under take-legacy.
    SELECT l.legacy_id FROM migration.ledger l
    WHERE l.entity = $1 AND l.conflict IS NOT NULL AND (l.conflict = 'key_taken' OR $4 = 'take_legacy')
    -- Rows referencing a row whose ledger changed, and each table's own
    -- (resolve/sql/dependent.sql, scope_settled_accounts.sql,
    -- scope_parent_links.sql).
    {{table_candidates}}
) candidate;
