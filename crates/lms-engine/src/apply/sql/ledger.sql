-- Writes the scope's ledger rows that changed. $1: the run, $2: the legacy
-- table. Per action (decide.sql), what the ledger keeps:
--   apply, insert, agree: the proposal becomes what was written; any
--     conflict is over.
--   conflict, raced, deferred: the LMS row keeps its values; the proposal
--     waits, with both sides, until legacy agrees or take-legacy. An
--     adopted row's values become its baseline.
--   blocked, blocked_move: the key is held by another row (key_taken).
--   deleted: the LMS row was deleted in the LMS; it is not created again.
--   none: as it was (rows written before baselines were kept get theirs).
-- written_at: when the migration last wrote the LMS row or its baseline.
INSERT INTO migration.ledger AS l
    (entity, legacy_id, outcome, reason, warnings, target_id, survivor_legacy_id, detail, source_hash, run_id,
     written, written_at, proposed, conflict, conflict_target, conflict_lms, conflict_since)
SELECT $2, p.legacy_id, a.outcome, a.reason,
       CASE WHEN p.action = 'deleted' THEN array_append(a.warnings, 'deleted_in_lms') ELSE a.warnings END,
       CASE WHEN a.outcome = 'migrated' AND p.action NOT IN ('deleted', 'blocked') THEN p.target_id END,
       a.survivor_legacy_id, a.detail, a.source_hash, $1,
       w.written,
       -- When the migration last wrote the LMS row or set its baseline:
       -- now, when it writes the row (apply, insert; a take-legacy apply
       -- may write the same baseline over an LMS edit) or the baseline
       -- changes; else as it was. Verify explains an LMS edit by an API
       -- write made since (verify/sql/explanations.sql).
       CASE WHEN w.written IS NULL THEN NULL
            WHEN p.action IN ('apply', 'insert') THEN now()
            WHEN w.written IS NOT DISTINCT FROM p.written_text THEN coalesce(p.written_at, now())
            ELSE now()
       END,
       n.proposed, n.conflict,
       CASE WHEN n.conflict IS NOT NULL THEN n.conflict_target END,
       CASE WHEN n.conflict IS NOT NULL THEN n.conflict_lms END,
       CASE WHEN n.conflict IS NOT NULL THEN coalesce(p.conflict_since, now()) END
FROM apply_plan p
JOIN apply_rows a ON a.legacy_id = p.legacy_id
CROSS JOIN LATERAL (
    -- The baseline in its text form (Owned::baseline).
    SELECT CAST(CASE
               WHEN p.action IN ('apply', 'insert', 'agree') THEN p.proposal
               WHEN p.action IN ('conflict', 'raced', 'deferred') AND p.adopting THEN p.current
               WHEN p.action = 'none' AND a.outcome = 'migrated' THEN coalesce(p.written, p.current)
               ELSE p.written
           END AS text) AS written) w
CROSS JOIN LATERAL (
    SELECT to_jsonb(CASE
               WHEN p.action IN ('conflict', 'raced', 'deferred', 'blocked', 'blocked_move') THEN p.proposal
               WHEN p.action = 'none' AND a.outcome = 'migrated' THEN p.proposed
           END) AS proposed,
           CASE p.action
               WHEN 'conflict' THEN 'lms_edited'
               WHEN 'raced' THEN 'edited_during_run'
               WHEN 'deferred' THEN coalesce(p.conflict, 'edited_during_run')
               WHEN 'blocked' THEN 'key_taken'
               WHEN 'blocked_move' THEN 'key_taken'
               WHEN 'none' THEN CASE WHEN a.outcome = 'migrated' THEN p.conflict END
           END AS conflict,
           CASE
               WHEN p.action IN ('blocked', 'blocked_move') THEN p.blocker_id
               WHEN p.action = 'deferred' AND p.conflict IS NOT NULL THEN p.conflict_target
               WHEN p.action = 'none' THEN p.conflict_target
               ELSE p.target_id
           END AS conflict_target,
           CASE
               WHEN p.action IN ('blocked', 'blocked_move') THEN p.blocker_values
               WHEN p.action = 'deferred' AND p.conflict IS NOT NULL THEN p.conflict_lms
               WHEN p.action = 'none' THEN p.conflict_lms
               ELSE to_jsonb(p.current)
           END AS conflict_lms) n
ORDER BY p.legacy_id
ON CONFLICT (entity, legacy_id) DO UPDATE SET
    outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, warnings = EXCLUDED.warnings,
    -- A merged row shares its survivor's target, filled in by finalize.
    target_id = CASE WHEN EXCLUDED.outcome = 'merged'
                      AND l.survivor_legacy_id IS NOT DISTINCT FROM EXCLUDED.survivor_legacy_id
                     THEN l.target_id ELSE EXCLUDED.target_id END,
    survivor_legacy_id = EXCLUDED.survivor_legacy_id, detail = EXCLUDED.detail,
    source_hash = EXCLUDED.source_hash, run_id = EXCLUDED.run_id, recorded_at = now(),
    source_deleted_at = NULL,
    written = EXCLUDED.written, written_at = EXCLUDED.written_at,
    proposed = EXCLUDED.proposed, conflict = EXCLUDED.conflict,
    conflict_target = EXCLUDED.conflict_target, conflict_lms = EXCLUDED.conflict_lms,
    conflict_since = EXCLUDED.conflict_since
WHERE (l.outcome, l.reason, l.warnings, l.survivor_legacy_id, l.detail, l.source_hash, l.source_deleted_at,
       l.written, l.written_at, l.proposed, l.conflict, l.conflict_target, l.conflict_lms)
      IS DISTINCT FROM
      (EXCLUDED.outcome, EXCLUDED.reason, EXCLUDED.warnings, EXCLUDED.survivor_legacy_id, EXCLUDED.detail,
       EXCLUDED.source_hash, NULL, EXCLUDED.written, EXCLUDED.written_at, EXCLUDED.proposed, EXCLUDED.conflict,
       EXCLUDED.conflict_target, EXCLUDED.conflict_lms)
   OR (EXCLUDED.outcome <> 'merged' AND l.target_id IS DISTINCT FROM EXCLUDED.target_id);
