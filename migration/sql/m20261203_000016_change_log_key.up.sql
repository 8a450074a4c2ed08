-- The undo change log's trigger (m20261202_000012_run_undo) built each row's
-- key with a query (jsonb_object_agg over unnest of the key columns): one
-- executor start per logged row. The key is the same jsonb object, built
-- here from plain expressions, which PL/pgSQL evaluates without a query.
-- Measured on a seed-scale LMS, 5,000 rows updated in a transaction rolled
-- back, three rounds each: ledger rows 392-427 ms with the old trigger,
-- 365-389 ms with this one; enrollments 449-568 ms against 409-425 ms.
CREATE OR REPLACE FUNCTION migration.log_run_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    before_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    after_image  jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    image        jsonb := coalesce(after_image, before_image);
    image_key    jsonb := '{}';
BEGIN
    FOR column_index IN 1 .. TG_NARGS - 1 LOOP
        image_key := image_key || jsonb_build_object(TG_ARGV[column_index], image -> TG_ARGV[column_index]);
    END LOOP;
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
