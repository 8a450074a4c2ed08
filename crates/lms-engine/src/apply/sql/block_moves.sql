-- One round: a moving row whose new key a live row holds that is not
-- itself moving away keeps its old key (a conflict, key_taken). Run until
-- no row changes: each blocked row may block the rows that wanted its key.
UPDATE apply_plan p
SET action = 'blocked_move',
    blocker_id = x.id,
    blocker_values = to_jsonb({{current_x}})
FROM apply_rows a, {{target}} x
{{adopted_grade_join}}
WHERE p.action = 'apply' AND a.legacy_id = p.legacy_id
  AND x.source_deleted_at IS NULL AND x.id <> p.target_id
  AND {{collides}}
  AND NOT EXISTS (SELECT 1 FROM apply_plan m WHERE m.action = 'apply' AND m.target_id = x.id);
