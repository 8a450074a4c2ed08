-- The three-way decision, per row. $1: the conflict policy.
--
-- baseline: what the migration last wrote (for rows written before the
-- ledger kept values: the LMS row as it is); nothing for an adopted row.
-- Legacy changed when the proposal differs from what legacy last proposed;
-- the LMS row was edited when it differs from the baseline. The values are
-- of migration.owned_<table>: they compare field by field in the target's
-- types, a NULL field equal to a NULL field.
UPDATE apply_plan p
SET action = CASE
    WHEN p.outcome <> 'migrated' THEN 'none'
    WHEN p.target_id IS NULL THEN
        CASE WHEN p.has_written THEN 'deleted'
             WHEN p.blocker_id IS NOT NULL THEN 'blocked'
             ELSE 'insert' END
    -- Already decided earlier in this run (rows whose key moved).
    WHEN p.touched THEN 'none'
    -- The LMS row already holds what legacy proposes (and a conflict, if
    -- any, is over: legacy came to agree with the LMS).
    WHEN NOT p.retired AND p.current IS NOT DISTINCT FROM p.proposal THEN 'agree'
    -- Legacy unchanged: the target is not touched, whatever it holds. A
    -- blocked key move is tried again; an open conflict waits for
    -- take-legacy.
    WHEN NOT p.retired
         AND p.proposal IS NOT DISTINCT FROM coalesce(p.proposed, b.baseline)
         AND p.conflict IS DISTINCT FROM 'key_taken'
         AND (p.conflict IS NULL OR $1 = 'keep_lms') THEN 'none'
    -- Legacy changed and the LMS row is as last written: apply.
    WHEN p.current IS NOT DISTINCT FROM b.baseline THEN 'apply'
    WHEN $1 = 'take_legacy' THEN 'apply'
    ELSE 'conflict'
END
FROM (SELECT legacy_id,
             CASE WHEN adopting THEN NULL ELSE coalesce(written, current) END AS baseline
      FROM apply_plan) b
WHERE b.legacy_id = p.legacy_id;
