-- The ledger, partitioned by legacy table. Each table's outcomes then have
-- their own statistics (a run analyzes only the partition it just wrote, not
-- all of the ledger) and their own small indexes; queries name the table, so
-- they touch one partition.

ALTER TABLE migration.ledger RENAME TO ledger_unpartitioned;
ALTER TABLE migration.ledger_unpartitioned RENAME CONSTRAINT ledger_pkey TO ledger_unpartitioned_pkey;

CREATE TABLE migration.ledger (
    LIKE migration.ledger_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (entity, legacy_id)
) PARTITION BY LIST (entity);

CREATE TABLE migration.ledger_organizations PARTITION OF migration.ledger FOR VALUES IN ('organizations');
CREATE TABLE migration.ledger_persons PARTITION OF migration.ledger FOR VALUES IN ('persons');
CREATE TABLE migration.ledger_users PARTITION OF migration.ledger FOR VALUES IN ('users');
CREATE TABLE migration.ledger_groups PARTITION OF migration.ledger FOR VALUES IN ('groups');
CREATE TABLE migration.ledger_subjects PARTITION OF migration.ledger FOR VALUES IN ('subjects');
CREATE TABLE migration.ledger_students PARTITION OF migration.ledger FOR VALUES IN ('students');
CREATE TABLE migration.ledger_teachers PARTITION OF migration.ledger FOR VALUES IN ('teachers');
CREATE TABLE migration.ledger_journal PARTITION OF migration.ledger FOR VALUES IN ('journal');
CREATE TABLE migration.ledger_exams PARTITION OF migration.ledger FOR VALUES IN ('exams');
CREATE TABLE migration.ledger_exam_results PARTITION OF migration.ledger FOR VALUES IN ('exam_results');

INSERT INTO migration.ledger SELECT * FROM migration.ledger_unpartitioned;
DROP TABLE migration.ledger_unpartitioned;
