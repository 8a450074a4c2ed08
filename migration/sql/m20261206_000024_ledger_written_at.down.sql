ALTER TABLE migration.ledger DROP COLUMN written_at;
