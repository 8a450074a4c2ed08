    UNION
    -- Users whose settled login or email is not the one last written. The
    -- uniqueness rules settle them among all users, so one user's can
    -- change when only another's row did: a placeholder displaced by a new
    -- legacy login, a keeper gone from legacy.
    SELECT s.legacy_id FROM migration.stage_users s
    JOIN migration.ledger l ON l.entity = 'users' AND l.legacy_id = s.legacy_id
    WHERE l.outcome = 'migrated' AND l.written IS NOT NULL AND l.source_deleted_at IS NULL
      AND ((l.written::migration.owned_users).login, (l.written::migration.owned_users).email)
          IS DISTINCT FROM (s.final_login, s.final_email)
