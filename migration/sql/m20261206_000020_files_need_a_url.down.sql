ALTER TABLE course_materials DROP CONSTRAINT course_materials_check;
ALTER TABLE course_materials ADD CONSTRAINT course_materials_check
    CHECK (kind <> 'link' OR url IS NOT NULL);
