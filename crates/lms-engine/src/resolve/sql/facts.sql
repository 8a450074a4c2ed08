-- What can have changed for one legacy table ($1) since its ledger was last
-- brought in step: rows staged since; the ledger of the tables it references
-- ($2) changed after $3; its LMS rows deleted in the LMS (tables $4); open
-- conflicts to try again under the run's policy ($5); rows a run that did
-- not finish put in the apply scope.
SELECT EXISTS (SELECT 1 FROM migration.stage_changes WHERE entity = $1) AS staged_changes,
       -- One referenced table at a time, so that only its ledger partition
       -- is read. A partition is pruned at run time by a parameter compared
       -- with =, not by = ANY of an array parameter: once the statement's
       -- plan was generic, that read every partition, the journal's half a
       -- million rows among them.
       EXISTS (SELECT 1 FROM unnest($2::text[]) AS referenced (entity),
               LATERAL (SELECT 1 FROM migration.ledger l
                        WHERE l.entity = referenced.entity
                          AND ($3::timestamptz IS NULL OR l.recorded_at > $3)
                        LIMIT 1) AS changed) AS references_changed,
       EXISTS (SELECT 1 FROM migration.lms_deletions WHERE target_table = ANY($4)) AS lms_deletions,
       EXISTS (SELECT 1 FROM migration.ledger
               WHERE entity = $1 AND conflict IS NOT NULL
                 AND (conflict = 'key_taken' OR $5 = 'take_legacy')) AS conflicts_to_retry,
       EXISTS (SELECT 1 FROM migration.apply_scope WHERE entity = $1) AS scope_left
