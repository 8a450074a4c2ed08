-- The journal's second target: a surviving row's final grade, written with
-- its enrollment (rows applied or inserted above). A mark that became blank
-- flags the grade.
UPDATE grades g
SET source_deleted_at = now()
FROM apply_plan p, apply_rows a
WHERE p.action IN ('apply', 'insert') AND a.legacy_id = p.legacy_id
  AND a.grade_raw_mark IS NULL AND g.id = p.grade_id;

-- Taking on an LMS-born final grade: the row's own retired grade, if any,
-- gives up the legacy id.
UPDATE grades g
SET legacy_id = NULL
FROM apply_plan p, apply_rows a
WHERE a.legacy_id = p.legacy_id
  AND ((p.action IN ('apply', 'insert') AND a.grade_raw_mark IS NOT NULL) OR p.action IN ('agree', 'conflict', 'raced'))
  AND p.grade_id IS NOT NULL AND g.legacy_id = p.legacy_id AND g.id <> p.grade_id;

-- A retired enrollment that comes back brings back the grades born in the
-- LMS that were retired with it, at the same instant (a teacher's interim
-- grades); the row's own final grade is written below.
UPDATE grades g
SET source_deleted_at = NULL
FROM apply_plan p
WHERE p.action = 'apply' AND p.retired AND g.enrollment_id = p.target_id
  AND g.legacy_id IS NULL AND g.source_deleted_at = p.retired_at;

-- The grade written: the one found (own or adopted), else the row's own
-- retired one, else a new one.
UPDATE apply_plan p
SET grade_id = r.id
FROM grades r
WHERE p.action IN ('apply', 'insert') AND p.grade_id IS NULL AND r.legacy_id = p.legacy_id;

UPDATE grades g
SET ({{grade_columns}}, legacy_id, enrollment_id, source_deleted_at) = ({{grade_values}}, p.legacy_id, p.target_id, NULL)
FROM apply_plan p, apply_rows a
WHERE p.action IN ('apply', 'insert') AND a.legacy_id = p.legacy_id AND a.grade_raw_mark IS NOT NULL
  AND g.id = p.grade_id;

INSERT INTO grades (legacy_id, enrollment_id, {{grade_columns}})
SELECT p.legacy_id, p.target_id, {{grade_values}}
FROM apply_plan p JOIN apply_rows a ON a.legacy_id = p.legacy_id
WHERE p.action IN ('apply', 'insert') AND a.grade_raw_mark IS NOT NULL AND p.grade_id IS NULL
ORDER BY p.legacy_id;

-- An LMS-born grade the row found whose values stay is linked all the same.
UPDATE grades g
SET legacy_id = p.legacy_id
FROM apply_plan p
WHERE p.action IN ('agree', 'conflict', 'raced') AND g.id = p.grade_id AND g.legacy_id IS NULL;
