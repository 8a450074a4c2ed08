-- Login and email keys as the LMS's unique indexes compute them (ICU case
-- folding, whatever the database's locale): what the rules keep apart, the
-- indexes keep apart too.
UPDATE migration.stage_users
SET login_key = lower(login COLLATE "und-x-icu"),
    email_key = lower(email COLLATE "und-x-icu"),
    final_login = NULL,
    final_key = NULL,
    final_email = NULL,
    -- The warnings the rules below add are theirs to add again: a user once
    -- renamed, or left without its email, because of another may keep its
    -- own now (that keeper left legacy). A placeholder's rename is staged.
    warnings = array_remove(
        CASE WHEN login_placeholder THEN warnings ELSE array_remove(warnings, 'login_renamed') END,
        'email_duplicate');

-- Live LMS accounts no legacy user owns: provisioned ones, and ones born
-- in the LMS.
CREATE TEMP TABLE other_accounts ON COMMIT DROP AS
SELECT lower(login COLLATE "und-x-icu") AS login_key,
       lower(email COLLATE "und-x-icu") AS email_key,
       provisioned_for IS NULL AS born_in_lms
FROM users
WHERE legacy_id IS NULL AND source_deleted_at IS NULL;
CREATE INDEX ON other_accounts (login_key);
CREATE INDEX ON other_accounts (email_key);

-- Legacy users the migration never wrote: they may take on an account born
-- in the LMS that has their login (the apply adopts it).
CREATE TEMP TABLE unwritten_users ON COMMIT DROP AS
SELECT s.legacy_id
FROM migration.stage_users s
WHERE NOT EXISTS (SELECT 1 FROM users t WHERE t.legacy_id = s.legacy_id)
  AND NOT EXISTS (SELECT 1 FROM migration.ledger l
                  WHERE l.entity = 'users' AND l.legacy_id = s.legacy_id AND l.written IS NOT NULL);
ANALYZE other_accounts, unwritten_users;
