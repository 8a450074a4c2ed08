-- Staging and resolutions become ordinary (WAL-logged) tables.
--
-- They were UNLOGGED scratch, rebuilt from the legacy database by every
-- run. But a run lives through an LMS primary crash: its workers pause,
-- retry, and carry on once the primary is back. Crash recovery empties
-- UNLOGGED tables, so the steps after staging found nothing to resolve and
-- the run ended with rows without an outcome. Logging the scratch costs
-- WAL volume during staging; a run that survives its database is worth it.
ALTER TABLE migration.resolutions SET LOGGED;
ALTER TABLE migration.stage_organizations SET LOGGED;
ALTER TABLE migration.stage_persons SET LOGGED;
ALTER TABLE migration.stage_users SET LOGGED;
ALTER TABLE migration.stage_groups SET LOGGED;
ALTER TABLE migration.stage_subjects SET LOGGED;
ALTER TABLE migration.stage_students SET LOGGED;
ALTER TABLE migration.stage_teachers SET LOGGED;
ALTER TABLE migration.stage_journal SET LOGGED;
ALTER TABLE migration.stage_exams SET LOGGED;
ALTER TABLE migration.stage_exam_results SET LOGGED;
