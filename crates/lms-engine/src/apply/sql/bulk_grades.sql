, graded AS (
    INSERT INTO grades (legacy_id, enrollment_id, {{grade_columns}})
    SELECT a.legacy_id, a.target_id, {{grade_values}}
    FROM numbered a
    WHERE a.target_id IS NOT NULL AND a.grade_raw_mark IS NOT NULL)
