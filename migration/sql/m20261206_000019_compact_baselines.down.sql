-- Baselines as to_jsonb of migration.owned_<table> again, as before
-- m20261206_000019, in the ledger and in its rows' undo images.
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, MDY';

ALTER TABLE migration.ledger DROP CONSTRAINT ledger_written_is_a_record;

CREATE FUNCTION pg_temp.baseline_document(entity text, baseline text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE entity
        WHEN 'organizations' THEN to_jsonb(baseline::migration.owned_organizations)
        WHEN 'persons' THEN to_jsonb(baseline::migration.owned_persons)
        WHEN 'users' THEN to_jsonb(baseline::migration.owned_users)
        WHEN 'teachers' THEN to_jsonb(baseline::migration.owned_teachers)
        WHEN 'groups' THEN to_jsonb(baseline::migration.owned_groups)
        WHEN 'subjects' THEN to_jsonb(baseline::migration.owned_subjects)
        WHEN 'students' THEN to_jsonb(baseline::migration.owned_students)
        WHEN 'journal' THEN to_jsonb(baseline::migration.owned_journal)
        WHEN 'exams' THEN to_jsonb(baseline::migration.owned_exams)
        WHEN 'exam_results' THEN to_jsonb(baseline::migration.owned_exam_results)
    END
$$;

ALTER TABLE migration.ledger ALTER COLUMN written TYPE jsonb USING pg_temp.baseline_document(entity, written);

UPDATE migration.run_change_events
SET before = CASE WHEN before ? 'written' THEN
                 jsonb_set(before, '{written}',
                           coalesce(pg_temp.baseline_document(before ->> 'entity', before ->> 'written'), 'null'))
                 ELSE before
             END,
    after = CASE WHEN after ? 'written' THEN
                jsonb_set(after, '{written}',
                          coalesce(pg_temp.baseline_document(after ->> 'entity', after ->> 'written'), 'null'))
                ELSE after
            END
WHERE table_name = 'migration.ledger'
  AND (jsonb_typeof(before -> 'written') = 'string' OR jsonb_typeof(after -> 'written') = 'string');

DROP FUNCTION pg_temp.baseline_document(text, text);
