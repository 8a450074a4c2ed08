DROP TABLE migration.staging_witness;
