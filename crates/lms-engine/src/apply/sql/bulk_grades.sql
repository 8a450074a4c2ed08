, graded AS (
    INSERT INTO grades (legacy_id, enrollment_id, {{grade_columns}})
    SELECT a.legacy_id, i.id, {{grade_values}}
    FROM apply_rows a JOIN inserted i ON i.legacy_id = a.legacy_id
    WHERE a.grade_raw_mark IS NOT NULL
    ORDER BY a.legacy_id)
