-- The live ledger rows that are merged or rejected: a few percent of a
-- table. A delta run looks them up by the thousand (which of the rows it
-- resolves again were merged or rejected before; which merged rows follow a
-- survivor it applied), and without this index each lookup reads the
-- table's whole partition.
CREATE INDEX ledger_not_migrated_idx ON migration.ledger (entity, legacy_id)
    WHERE outcome <> 'migrated' AND source_deleted_at IS NULL;
