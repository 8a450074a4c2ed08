ALTER TABLE migration.ledger RENAME TO ledger_partitioned;
ALTER TABLE migration.ledger_partitioned RENAME CONSTRAINT ledger_pkey TO ledger_partitioned_pkey;
CREATE TABLE migration.ledger (
    LIKE migration.ledger_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (entity, legacy_id)
);
INSERT INTO migration.ledger SELECT * FROM migration.ledger_partitioned;
DROP TABLE migration.ledger_partitioned;
