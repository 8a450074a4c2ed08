-- The change log as one row per run, table and row key again
-- (m20261202_000012_run_undo), its trigger as m20261203_000016_change_log_key
-- left it.
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

CREATE TABLE migration.run_changes_consolidated AS SELECT * FROM migration.run_changes;
DROP VIEW migration.run_changes;
DROP TABLE migration.run_change_events;
ALTER TABLE migration.run_changes_consolidated RENAME TO run_changes;
ALTER TABLE migration.run_changes ALTER COLUMN run_id SET NOT NULL;
ALTER TABLE migration.run_changes ALTER COLUMN table_name SET NOT NULL;
ALTER TABLE migration.run_changes ALTER COLUMN row_key SET NOT NULL;
ALTER TABLE migration.run_changes ADD PRIMARY KEY (run_id, table_name, row_key);
ALTER TABLE migration.run_changes
    ADD FOREIGN KEY (run_id) REFERENCES migration.runs (id) ON DELETE CASCADE;
