-- The contract: among users sharing a valid normalised email the lowest id
-- keeps it and the others lose it (email_duplicate). An address an account
-- no legacy user owns already has is lost too, except by the user taking
-- that very account on.
WITH keepers AS (
    SELECT email_key, min(legacy_id) AS keeper
    FROM migration.stage_users WHERE email_key IS NOT NULL GROUP BY email_key),
decided AS (
    SELECT s.legacy_id,
           s.email_key IS NOT NULL
           AND (s.legacy_id <> k.keeper
                OR EXISTS (SELECT 1 FROM other_accounts r
                           WHERE r.email_key = s.email_key
                             AND NOT (r.born_in_lms AND r.login_key = s.final_key
                                      AND EXISTS (SELECT 1 FROM unwritten_users w
                                                  WHERE w.legacy_id = s.legacy_id)))) AS duplicate
    FROM migration.stage_users s LEFT JOIN keepers k ON k.email_key = s.email_key)
UPDATE migration.stage_users s
SET final_email = CASE WHEN d.duplicate THEN NULL ELSE s.email END,
    -- Resolved again over the same mirror row (a table out of step), the
    -- warning is not added twice.
    warnings = CASE WHEN d.duplicate AND NOT 'email_duplicate' = ANY (s.warnings)
                    THEN array_append(s.warnings, 'email_duplicate') ELSE s.warnings END
FROM decided d
WHERE d.legacy_id = s.legacy_id;
