-- One round: a renamed login whose key someone else also has (a kept
-- login, an account no legacy user owns, or a renamed one of a lower id)
-- gets its legacy id once more (ivan.5 becomes ivan.5.5).
UPDATE migration.stage_users s
SET final_login = s.final_login || '.' || s.legacy_id,
    final_key = lower((s.final_login || '.' || s.legacy_id) COLLATE "und-x-icu")
WHERE s.final_key <> s.login_key
  AND (EXISTS (SELECT 1 FROM migration.stage_users o
               WHERE o.final_key = s.final_key AND o.legacy_id <> s.legacy_id
                 AND (o.final_key = o.login_key OR o.legacy_id < s.legacy_id))
       OR EXISTS (SELECT 1 FROM other_accounts r WHERE r.login_key = s.final_key));
