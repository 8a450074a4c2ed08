-- The bulk path (empty target tables): the chunk's target rows, their
-- grades (journal) and its ledger rows in one statement. Every row is new:
-- nothing to compare, and what is written is the proposal, which becomes
-- the ledger's baseline. The chunk's rows are the temp table apply_rows,
-- or (no provisioning to do first) a CTE of that name. $1: the run, $2:
-- the legacy table.
WITH {{rows}}
inserted AS (
    INSERT INTO {{target}} (legacy_id, {{columns}})
    SELECT a.legacy_id, {{values}}
    FROM apply_rows a
    WHERE a.outcome = 'migrated'
    ORDER BY a.legacy_id
    RETURNING id, legacy_id)
{{grades}}
INSERT INTO migration.ledger
    (entity, legacy_id, outcome, reason, warnings, target_id, survivor_legacy_id, detail, source_hash, run_id, written)
SELECT $2, a.legacy_id, a.outcome, a.reason, a.warnings, i.id, a.survivor_legacy_id, a.detail, a.source_hash, $1,
       CASE WHEN a.outcome = 'migrated' THEN to_jsonb({{proposal}}) END
FROM apply_rows a
LEFT JOIN inserted i ON i.legacy_id = a.legacy_id;
