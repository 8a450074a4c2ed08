WITH created AS (
    INSERT INTO users (login, role, person_id, activation_required, password_reset_required, provisioned_for)
    SELECT c.login, '{{role}}', a.person_id, true, true, '{{entity}}:' || a.legacy_id
    FROM provisioned_logins c JOIN apply_rows a ON a.legacy_id = c.legacy_id
    ORDER BY a.legacy_id
    RETURNING id, provisioned_for)
UPDATE apply_rows a
SET user_id = c.id
FROM created c
WHERE c.provisioned_for = '{{entity}}:' || a.legacy_id;

DROP TABLE provisioned_logins;
