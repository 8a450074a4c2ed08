-- Key groups whose survivor leaves them hand their LMS row to the new
-- survivor. A key group (the enrollments of one student in one course, the
-- submissions of one student to one assessment, the students of one person
-- in one organization) is one LMS row, whichever legacy row is its lowest
-- id or latest submission; what users did to that row in the LMS stays
-- with it. $1: the legacy table.
--
-- The new survivor is the surviving row (of the apply scope, apply_rows)
-- that proposes the group's key: the key the migration last wrote to the
-- leaving row's LMS row, else the key that row holds now (the API may
-- have moved a student to another organization). It must have no LMS row
-- of its own, nor one deleted in the LMS (else the group's row is retired
-- as before: two groups became one, and the other's row stays). It takes
-- on:
--   - the LMS row (its legacy_id; for the journal its final grade's too,
--     for students the account provisioned for the leaving row);
--   - the leaving row's baselines and open conflict, so that its own values
--     are applied three-way against what the migration last wrote to that
--     row (LMS edits are kept, or a conflict, as for any legacy change);
--   - a deletion in the LMS: a group whose row was deleted there is not
--     created again.
-- Its ledger row says from here on that it is migrated, with that target,
-- and, until its apply writes it, names the row it took over from
-- (survivor_legacy_id: the apply counts it updated, as an outcome that
-- changed). The leaving row's ledger row names it (survivor_legacy_id),
-- and keeps no target, baseline or conflict of its own.
--
-- Reads leaving_owners (leaving_owners.sql) and apply_rows. Holes: target,
-- owned (the table's owned-values type), group_key (x the group's row or
-- baseline, a the proposal), graded (journal: the successor has no grade
-- of its own), grades (journal: the final grade follows its enrollment)
-- and accounts (students: the provisioned account follows its student).
WITH successors AS (
    -- By the key the migration last wrote (the group as legacy made it)...
    SELECT o.legacy_id AS old_id, o.target_id, a.legacy_id AS new_id, 0 AS preference
    FROM leaving_owners o
    JOIN migration.ledger l ON l.entity = $1 AND l.legacy_id = o.legacy_id
    CROSS JOIN LATERAL (SELECT (CAST(l.written AS {{owned}})).*) x
    JOIN apply_rows a ON a.outcome = 'migrated' AND {{group_key}}
    WHERE l.written IS NOT NULL
    UNION ALL
    -- ...or by the key the LMS row holds now.
    SELECT o.legacy_id, o.target_id, a.legacy_id, 1
    FROM leaving_owners o
    JOIN {{target}} x ON x.id = o.target_id
    JOIN apply_rows a ON a.outcome = 'migrated' AND {{group_key}}
),
eligible AS (
    SELECT c.*
    FROM successors c
    WHERE c.new_id <> c.old_id
      AND NOT EXISTS (SELECT 1 FROM {{target}} y WHERE y.legacy_id = c.new_id)
      AND NOT EXISTS (SELECT 1 FROM migration.ledger w
                      WHERE w.entity = $1 AND w.legacy_id = c.new_id AND w.outcome = 'migrated'
                        AND w.written IS NOT NULL)
      {{graded}}
),
-- One successor per leaving row, and one leaving row per successor (the
-- lowest ids first: a table without a unique key may hold two rows of a
-- group).
chosen AS (
    SELECT DISTINCT ON (new_id) old_id, target_id, new_id
    FROM (SELECT DISTINCT ON (old_id) old_id, target_id, new_id, preference
          FROM eligible
          ORDER BY old_id, preference, new_id) first_choice
    ORDER BY new_id, preference, old_id
),
targets AS (
    UPDATE {{target}} t
    SET legacy_id = h.new_id
    FROM chosen h
    WHERE t.id = h.target_id AND t.legacy_id = h.old_id
){{grades}}{{accounts}},
successor_ledger AS (
    INSERT INTO migration.ledger AS l
        (entity, legacy_id, outcome, target_id, survivor_legacy_id, source_hash, run_id,
         written, written_at, proposed, conflict, conflict_target, conflict_lms, conflict_since)
    SELECT $1, h.new_id, 'migrated', h.target_id, h.old_id, o.source_hash, o.run_id,
           o.written, o.written_at, o.proposed, o.conflict, o.conflict_target, o.conflict_lms,
           o.conflict_since
    FROM chosen h
    JOIN migration.ledger o ON o.entity = $1 AND o.legacy_id = h.old_id
    ON CONFLICT (entity, legacy_id) DO UPDATE SET
        outcome = 'migrated', reason = NULL, survivor_legacy_id = EXCLUDED.survivor_legacy_id,
        detail = NULL, warnings = '{}', source_deleted_at = NULL,
        target_id = EXCLUDED.target_id, recorded_at = now(),
        written = EXCLUDED.written, written_at = EXCLUDED.written_at,
        proposed = EXCLUDED.proposed, conflict = EXCLUDED.conflict,
        conflict_target = EXCLUDED.conflict_target, conflict_lms = EXCLUDED.conflict_lms,
        conflict_since = EXCLUDED.conflict_since
    RETURNING l.legacy_id
),
leaving_ledger AS (
    UPDATE migration.ledger l
    SET survivor_legacy_id = h.new_id, target_id = NULL, written = NULL, written_at = NULL,
        proposed = NULL, conflict = NULL, conflict_target = NULL, conflict_lms = NULL,
        conflict_since = NULL, recorded_at = now()
    FROM chosen h
    WHERE l.entity = $1 AND l.legacy_id = h.old_id
)
SELECT count(*) AS handed FROM successor_ledger;
