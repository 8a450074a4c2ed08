-- The contract: among users whose lower(trim(login)) collide, the lowest id
-- keeps the login and each other gets <login>.<legacy id> (login_renamed).
-- A placeholder (user.<id>, for a blank or overlong legacy login) is not a
-- legacy login: it gives way to one, whatever the ids.
-- The keeper also gives way to an account no legacy user owns, unless it
-- was born in the LMS and the keeper was never written: then the keeper
-- takes that account on (the same person signed up in the LMS). A
-- placeholder takes on no account: it names nobody.
WITH keepers AS (
    SELECT DISTINCT ON (login_key) login_key, legacy_id AS keeper
    FROM migration.stage_users
    ORDER BY login_key, login_placeholder, legacy_id),
decided AS (
    SELECT s.legacy_id,
           s.legacy_id = k.keeper
           AND NOT EXISTS (
               SELECT 1 FROM other_accounts o
               WHERE o.login_key = s.login_key
                 AND NOT (o.born_in_lms AND NOT s.login_placeholder
                          AND EXISTS (SELECT 1 FROM unwritten_users w WHERE w.legacy_id = s.legacy_id))) AS kept
    FROM migration.stage_users s JOIN keepers k ON k.login_key = s.login_key)
UPDATE migration.stage_users s
SET final_login = CASE WHEN d.kept THEN s.login ELSE s.login || '.' || s.legacy_id END,
    final_key = CASE WHEN d.kept THEN s.login_key
                     ELSE lower((s.login || '.' || s.legacy_id) COLLATE "und-x-icu") END,
    warnings = CASE WHEN d.kept OR 'login_renamed' = ANY (s.warnings) THEN s.warnings
                    ELSE array_append(s.warnings, 'login_renamed') END
FROM decided d
WHERE d.legacy_id = s.legacy_id;
