-- One apply scope's rows with everything the three-way delta compares, as
-- values of migration.owned_<table>: the contract's proposal now, the
-- ledger's two baselines (what the migration last wrote, what legacy last
-- proposed), and the LMS row now. $1: the run, $2: the legacy table.
CREATE TEMP TABLE apply_plan ON COMMIT DROP AS
SELECT a.legacy_id,
       a.outcome,
       CASE WHEN a.outcome = 'migrated' THEN {{proposal}} END AS proposal,
       l.legacy_id IS NOT NULL AS known,
       l.legacy_id IS NOT NULL
           AND (l.outcome, l.reason, l.survivor_legacy_id)
               IS DISTINCT FROM (a.outcome, a.reason, a.survivor_legacy_id) AS outcome_changed,
       coalesce(l.run_id = $1, false) AS touched,
       l.written IS NOT NULL AS has_written,
       {{written}} AS written,
       l.written AS written_text,
       l.written_at,
       {{proposed}} AS proposed,
       l.conflict,
       l.conflict_target,
       l.conflict_lms,
       l.conflict_since,
       t.id AS target_id,
       coalesce(t.source_deleted_at IS NOT NULL, false) AS retired,
       t.source_deleted_at AS retired_at,
       false AS adopting,
       {{grade_id}} AS grade_id,
       CASE WHEN t.id IS NOT NULL THEN {{current}} END AS current,
       NULL::bigint AS blocker_id,
       NULL::jsonb AS blocker_values,
       NULL::text AS action
FROM apply_rows a
LEFT JOIN migration.ledger l ON l.entity = $2 AND l.legacy_id = a.legacy_id
LEFT JOIN {{target}} t ON t.legacy_id = a.legacy_id AND {{in_range}}
{{grade_join}};
