-- The bulk path (empty target tables): the chunk's target rows, their
-- grades (journal) and its ledger rows in one statement. Every row is new:
-- nothing to compare, and what is written is the proposal, which becomes
-- the ledger's baseline. The chunk's rows are the temp table apply_rows,
-- or (no provisioning to do first, no timestamp in the baseline: the
-- session's zone is legacy's then) a CTE of that name. $1: the run, $2:
-- the legacy table.
--
-- Each migrated row takes its LMS id from the target's identity sequence
-- here, in legacy id order, so that the targets, the grades and the ledger
-- are all written from one row set. (Joining the rows to the targets'
-- RETURNING instead left the planner a CTE it could not estimate: on some
-- ranges it nested loops over it, 25,000 by 25,000 rows, 22 s for one
-- chunk at 10x scale.)
WITH {{rows}}
numbered AS MATERIALIZED (
    SELECT a.*, CASE WHEN a.outcome = 'migrated' THEN nextval({{sequence}}::regclass) END AS target_id
    FROM (SELECT * FROM apply_rows ORDER BY legacy_id) a),
inserted AS (
    INSERT INTO {{target}} (id, legacy_id, {{columns}}) OVERRIDING SYSTEM VALUE
    SELECT a.target_id, a.legacy_id, {{values}}
    FROM numbered a
    WHERE a.target_id IS NOT NULL)
{{grades}}
INSERT INTO migration.ledger
    (entity, legacy_id, outcome, reason, warnings, target_id, survivor_legacy_id, detail, source_hash, run_id,
     written, written_at)
SELECT $2, a.legacy_id, a.outcome, a.reason, a.warnings, a.target_id, a.survivor_legacy_id, a.detail, a.source_hash, $1,
       CASE WHEN a.outcome = 'migrated' THEN {{baseline}} END,
       CASE WHEN a.outcome = 'migrated' THEN now() END
FROM numbered a;
