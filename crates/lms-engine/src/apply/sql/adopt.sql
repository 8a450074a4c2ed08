-- New legacy rows (never written) whose natural key a live LMS row holds.
-- A row the migration owns blocks them: it keeps its key this run.
UPDATE apply_plan p
SET blocker_id = x.id,
    blocker_values = to_jsonb({{current_x}})
FROM apply_rows a, {{target}} x
{{adopted_grade_join}}
WHERE p.outcome = 'migrated' AND p.target_id IS NULL AND NOT p.has_written
  AND a.legacy_id = p.legacy_id
  AND x.source_deleted_at IS NULL AND x.legacy_id IS NOT NULL
  AND {{collides}};

-- A row born in the LMS is taken on as the legacy row's target, under the
-- conflict policy: nothing was ever written to it, so any difference is a
-- conflict.
UPDATE apply_plan p
SET target_id = x.id,
    adopting = true,
    grade_id = {{adopted_grade_id}},
    current = {{current_x}}
FROM apply_rows a, {{target}} x
{{adopted_grade_join}}
WHERE p.outcome = 'migrated' AND p.target_id IS NULL AND NOT p.has_written AND p.blocker_id IS NULL
  AND a.legacy_id = p.legacy_id
  AND x.source_deleted_at IS NULL AND x.legacy_id IS NULL
  AND {{collides}};
