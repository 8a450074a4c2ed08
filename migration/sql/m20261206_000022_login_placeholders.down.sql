ALTER TABLE migration.stage_users DROP COLUMN login_placeholder;
