    UNION
    -- Organizations whose parent came to legacy or left it since their
    -- ledger was written: whether the parent points nowhere (and the
    -- warning that says so) is settled anew, though their own row did not
    -- change.
    SELECT s.legacy_id FROM migration.stage_organizations s
    JOIN migration.ledger l ON l.entity = 'organizations' AND l.legacy_id = s.legacy_id
    WHERE l.outcome = 'migrated' AND l.source_deleted_at IS NULL
      AND {{parent_dangles}} IS DISTINCT FROM ('dangling_parent' = ANY (l.warnings))
