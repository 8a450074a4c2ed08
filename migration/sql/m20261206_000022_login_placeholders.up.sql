-- Whether a staged login is the placeholder user.<id> given for a blank or
-- overlong legacy login (rules version 3): a placeholder gives way to a
-- legacy login it collides with. Rows staged before are staged again by the
-- first run under version 3 (staged_under).
ALTER TABLE migration.stage_users ADD COLUMN login_placeholder boolean NOT NULL DEFAULT false;
