-- One legacy table's preview ($1: the table): what its staged snapshot
-- would change against the ledger. Created: staged rows with no live ledger
-- row; updated: staged rows whose live ledger row has another source hash;
-- deleted: live ledger rows with no staged row (legacy deleted them).
SELECT count(s.legacy_id)::bigint AS legacy_rows,
       count(*) FILTER (WHERE s.legacy_id IS NOT NULL
                          AND (l.legacy_id IS NULL OR l.source_deleted_at IS NOT NULL))::bigint AS creates,
       count(*) FILTER (WHERE s.legacy_id IS NOT NULL AND l.legacy_id IS NOT NULL
                          AND l.source_deleted_at IS NULL
                          AND l.source_hash <> s.source_hash)::bigint AS updates,
       count(*) FILTER (WHERE s.legacy_id IS NULL AND l.source_deleted_at IS NULL)::bigint AS deletes
FROM {{stage}} s
FULL JOIN (SELECT legacy_id, source_hash, source_deleted_at
           FROM migration.ledger WHERE entity = $1) l
       ON l.legacy_id = s.legacy_id
