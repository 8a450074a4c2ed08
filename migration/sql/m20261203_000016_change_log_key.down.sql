-- The change log's trigger as m20261202_000012_run_undo made it.
CREATE OR REPLACE FUNCTION migration.log_run_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    after_image  jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    image_key    jsonb;
BEGIN
    SELECT jsonb_object_agg(k, coalesce(after_image, before_image) -> k) INTO image_key
    FROM unnest(TG_ARGV[1:]) AS k;
    INSERT INTO migration.run_changes AS c (run_id, table_name, row_key, legacy_id, before, after)
    VALUES (current_setting('lms.change_log_run')::uuid, TG_ARGV[0], image_key,
            coalesce(after_image ->> 'legacy_id', before_image ->> 'legacy_id')::bigint,
            before_image, after_image)
    -- The first before-image stays: it is the row as it was before the run.
    ON CONFLICT (run_id, table_name, row_key) DO UPDATE
    SET after = EXCLUDED.after, legacy_id = coalesce(EXCLUDED.legacy_id, c.legacy_id);
    RETURN NULL;
END
$$;
