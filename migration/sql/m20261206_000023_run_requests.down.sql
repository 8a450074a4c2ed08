ALTER TABLE migration.runs DROP COLUMN request;
