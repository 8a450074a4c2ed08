-- Baselines holding a timestamp (organizations, persons, users, exam
-- results) are the owned type's text with the session's offset in it. The
-- delta path writes and compares them in UTC; until 5219f6b the bulk path
-- wrote them in legacy.timezone's offset: the same instants, other text,
-- which the first delta run took for a changed baseline (it wrote the
-- ledger row again and moved written_at, which verification reads). Such
-- baselines are rewritten in UTC here, and so are the ledger's images in
-- the undo change log, so that an undo restores them in UTC too. Rows
-- already in UTC are left as they are.
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, MDY';

CREATE FUNCTION pg_temp.in_utc(entity text, baseline text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE entity
        WHEN 'organizations' THEN baseline::migration.owned_organizations::text
        WHEN 'persons' THEN baseline::migration.owned_persons::text
        WHEN 'users' THEN baseline::migration.owned_users::text
        WHEN 'exam_results' THEN baseline::migration.owned_exam_results::text
        ELSE baseline
    END
$$;

UPDATE migration.ledger
SET written = pg_temp.in_utc(entity, written)
WHERE entity IN ('organizations', 'persons', 'users', 'exam_results')
  AND written IS DISTINCT FROM pg_temp.in_utc(entity, written);

UPDATE migration.run_change_events
SET before = CASE WHEN before ->> 'written' IS NOT NULL THEN
                 jsonb_set(before, '{written}', to_jsonb(pg_temp.in_utc(before ->> 'entity', before ->> 'written')))
                 ELSE before
             END,
    after = CASE WHEN after ->> 'written' IS NOT NULL THEN
                jsonb_set(after, '{written}', to_jsonb(pg_temp.in_utc(after ->> 'entity', after ->> 'written')))
                ELSE after
            END
WHERE table_name = 'migration.ledger'
  AND (before ->> 'written' IS DISTINCT FROM pg_temp.in_utc(before ->> 'entity', before ->> 'written')
       OR after ->> 'written' IS DISTINCT FROM pg_temp.in_utc(after ->> 'entity', after ->> 'written'));

DROP FUNCTION pg_temp.in_utc(text, text);
