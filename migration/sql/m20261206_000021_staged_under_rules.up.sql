-- The mirror keeps legacy rows as the stage rules transformed them, keyed
-- by the hash of the legacy row. A rules version that transforms a row
-- otherwise must reach rows legacy did not change: each mirrored row
-- records the engine's rules version it was staged under, and a run stages
-- again the rows staged under another. Rows staged before this migration
-- are of an unknown version (0): the next run stages them all again.
ALTER TABLE migration.stage_organizations ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_persons ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_users ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_groups ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_subjects ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_students ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_teachers ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_journal ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_exams ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
ALTER TABLE migration.stage_exam_results ADD COLUMN staged_under integer NOT NULL DEFAULT 0;
