-- Rows that found their provisioned account from an earlier run use it.
UPDATE apply_rows a
SET user_id = u.id
FROM users u
WHERE a.outcome = 'migrated' AND a.user_id IS NULL AND u.provisioned_for = '{{entity}}:' || a.legacy_id;

-- The others need one: its login starts as <prefix>.<legacy id>.
CREATE TEMP TABLE provisioned_logins ON COMMIT DROP AS
SELECT a.legacy_id, '{{login_prefix}}.' || a.legacy_id AS login
FROM apply_rows a
WHERE a.outcome = 'migrated' AND a.user_id IS NULL;
