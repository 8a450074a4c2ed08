DROP INDEX migration.ledger_not_migrated_idx;
