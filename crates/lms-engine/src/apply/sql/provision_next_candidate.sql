-- A login someone already has (as the login index compares them) gets the
-- legacy id once more.
UPDATE provisioned_logins c
SET login = c.login || '.' || c.legacy_id
WHERE EXISTS (SELECT 1 FROM users x
              WHERE lower(x.login COLLATE "und-x-icu") = lower(c.login COLLATE "und-x-icu")
                AND x.source_deleted_at IS NULL);
