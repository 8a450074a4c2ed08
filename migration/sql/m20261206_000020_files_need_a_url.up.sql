-- A file, like a link, needs a url: the API's create rule says so, but the
-- check covered links only, so an update could turn a text material into a
-- file with none. New writes are checked from now on; rows such an update
-- already wrote are left as they are (the check is validated only where
-- none exists, as in a fresh database), for an operator to mend.
ALTER TABLE course_materials DROP CONSTRAINT course_materials_check;
ALTER TABLE course_materials ADD CONSTRAINT course_materials_check
    CHECK (kind NOT IN ('link', 'file') OR url IS NOT NULL) NOT VALID;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM course_materials WHERE kind = 'file' AND url IS NULL) THEN
        ALTER TABLE course_materials VALIDATE CONSTRAINT course_materials_check;
    END IF;
END
$$;
