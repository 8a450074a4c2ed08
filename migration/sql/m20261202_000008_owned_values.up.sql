-- The values the migration owns in each LMS row it writes, as one composite
-- type per legacy table, in the target columns' own types. The three-way
-- delta compares these typed (numerics by value at the column's scale,
-- timestamps as instants, jsonb as jsonb), and the ledger keeps them as
-- to_jsonb of this type, read back with jsonb_populate_record.
--
-- Field names are the target's column names; a journal row's final grade
-- has its columns prefixed with grade_. Columns both sides stamp
-- (course_enrollments.updated_at, grades.graded_at) are not owned.

CREATE TYPE migration.owned_organizations AS (
    name text, short_name text, org_type text, bin varchar(12), archived boolean, created_at timestamptz);
CREATE TYPE migration.owned_persons AS (
    last_name text, first_name text, middle_name text, iin varchar(12), birth_date date, gender text,
    phone text, created_at timestamptz);
CREATE TYPE migration.owned_users AS (
    person_id bigint, login text, email text, password_hash text, password_reset_required boolean,
    role text, is_active boolean, created_at timestamptz, last_login_at timestamptz);
CREATE TYPE migration.owned_teachers AS (
    person_id bigint, user_id bigint, organization_id bigint, position text, hired_on date, left_on date);
CREATE TYPE migration.owned_groups AS (
    organization_id bigint, name text, year_of_study smallint, curator_id bigint, academic_year text);
CREATE TYPE migration.owned_subjects AS (
    organization_id bigint, name text, code text, credits numeric(4, 1));
CREATE TYPE migration.owned_students AS (
    person_id bigint, user_id bigint, organization_id bigint, group_id bigint, admission_year smallint,
    status text, record_book_no text);
CREATE TYPE migration.owned_journal AS (
    student_id bigint, course_id bigint, teacher_id bigint, status text, current_mark text,
    grade_kind text, grade_raw_mark text, grade_scale text, grade_value text, grade_points smallint);
CREATE TYPE migration.owned_exams AS (
    subject_id bigint, group_id bigint, teacher_id bigint, title text, kind text, held_on date,
    max_score numeric(6, 2));
CREATE TYPE migration.owned_exam_results AS (
    assessment_id bigint, student_id bigint, score numeric(6, 2), submitted_at timestamptz, status text,
    answers jsonb, answers_raw text);

-- Baselines written by migration 000007 nested the values by LMS table
-- ({"course_enrollments": {...}, "grades": {...}}); they become flat.
CREATE OR REPLACE FUNCTION pg_temp.flatten(entity text, value jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE
        WHEN value IS NULL THEN NULL
        WHEN entity = 'journal' THEN
            coalesce(value->'course_enrollments', '{}'::jsonb)
            || CASE WHEN jsonb_typeof(value->'grades') = 'object' THEN
                   (SELECT coalesce(jsonb_object_agg('grade_' || key, v), '{}'::jsonb)
                    FROM jsonb_each(value->'grades') AS g(key, v))
               ELSE '{}'::jsonb END
        ELSE (SELECT v FROM jsonb_each(value) AS t(key, v) LIMIT 1)
    END
$$;
UPDATE migration.ledger
SET written = pg_temp.flatten(entity, written),
    proposed = pg_temp.flatten(entity, proposed),
    conflict_lms = pg_temp.flatten(entity, conflict_lms)
WHERE written IS NOT NULL OR proposed IS NOT NULL OR conflict_lms IS NOT NULL;
DROP FUNCTION pg_temp.flatten(text, jsonb);
