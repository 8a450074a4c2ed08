-- Rows with an LMS row whose natural key the proposal moves, or that come
-- back from retirement into the unique indexes; the rest are the chunks'.
DELETE FROM apply_rows a
WHERE NOT EXISTS (
    SELECT 1 FROM {{target}} t
    WHERE t.legacy_id = a.legacy_id
      AND (t.source_deleted_at IS NOT NULL OR ({{key_t}}) IS DISTINCT FROM ({{key_a}})));
