-- One legacy table's preview ($1: the table) when its mirror and ledger are
-- in step but for the rows recorded in migration.stage_changes: the same
-- counts as preview.sql but the legacy rows (hold.rs adds up what this
-- run's stage chunks read instead of counting the mirror), read from those
-- rows alone (a row not recorded there has the source hash its live ledger
-- row has). The range hole keeps the legacy ids counted: `true` for all,
-- or a stage chunk's own range (hold/stage_shares.rs).
SELECT count(*) FILTER (WHERE c.kind = 'written' AND s.legacy_id IS NOT NULL
                          AND (l.legacy_id IS NULL OR l.source_deleted_at IS NOT NULL))::bigint AS creates,
       count(*) FILTER (WHERE c.kind = 'written' AND l.legacy_id IS NOT NULL
                          AND l.source_deleted_at IS NULL
                          AND l.source_hash <> s.source_hash)::bigint AS updates,
       count(*) FILTER (WHERE c.kind = 'gone' AND s.legacy_id IS NULL
                          AND l.legacy_id IS NOT NULL AND l.source_deleted_at IS NULL)::bigint AS deletes
FROM migration.stage_changes c
LEFT JOIN {{stage}} s ON s.legacy_id = c.legacy_id
LEFT JOIN migration.ledger l ON l.entity = $1 AND l.legacy_id = c.legacy_id
WHERE c.entity = $1 AND {{range}}
