-- A witness that a run's staging is whole. Staging is unlogged, and
-- PostgreSQL's crash recovery empties every unlogged table together (a
-- promoted standby starts with them empty too). A run writes its row here
-- when it is planned: while the row is here, no crash emptied staging
-- since, and a step that reads staging need not count it against what its
-- stage chunks staged.
CREATE UNLOGGED TABLE migration.staging_witness (
    run_id uuid PRIMARY KEY REFERENCES migration.runs (id) ON DELETE CASCADE
);
