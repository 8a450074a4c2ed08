-- The LMS domain.
--
-- Every table filled from legacy data keeps the legacy id it came from
-- (NULL for rows born in the LMS) and a source_deleted_at flag: when the
-- legacy row behind a target row disappears, the row is flagged, never
-- hard-deleted. Natural-key uniqueness holds among rows not so flagged.
-- Every foreign-key column is the leading column of a plain index.

CREATE TABLE organizations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    parent_id         bigint REFERENCES organizations (id),
    name              text NOT NULL CHECK (name <> ''),
    short_name        text,
    org_type          text,
    bin               varchar(12),
    archived          boolean NOT NULL DEFAULT false,
    created_at        timestamptz,
    source_deleted_at timestamptz
);
CREATE INDEX organizations_parent_id_idx ON organizations (parent_id);

CREATE TABLE persons (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    last_name         text,
    first_name        text,
    middle_name       text,
    iin               varchar(12),
    birth_date        date,
    gender            text CHECK (gender IN ('male', 'female')),
    phone             text,
    created_at        timestamptz,
    source_deleted_at timestamptz
);

CREATE TABLE users (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id               integer UNIQUE,
    person_id               bigint REFERENCES persons (id),
    login                   text NOT NULL CHECK (login <> ''),
    email                   text CHECK (email <> ''),
    password_hash           text,
    -- No usable password: the user must set one before signing in.
    password_reset_required boolean NOT NULL DEFAULT false,
    -- Provisioned for a legacy student or teacher who had no login.
    activation_required     boolean NOT NULL DEFAULT false,
    role                    text NOT NULL
                            CHECK (role IN ('student', 'teacher', 'admin', 'parent', 'methodist', 'other')),
    is_active               boolean NOT NULL DEFAULT true,
    created_at              timestamptz,
    last_login_at           timestamptz,
    source_deleted_at       timestamptz
);
CREATE INDEX users_person_id_idx ON users (person_id);
-- Case-insensitive, Unicode-aware whatever the database's default locale.
CREATE UNIQUE INDEX users_login_key ON users (lower(login COLLATE "und-x-icu"))
    WHERE source_deleted_at IS NULL;
-- Emails are stored normalised (lower(trim(email))); one account per address.
CREATE UNIQUE INDEX users_email_key ON users (lower(email COLLATE "und-x-icu"))
    WHERE email IS NOT NULL AND source_deleted_at IS NULL;

CREATE TABLE staff_members (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    person_id         bigint NOT NULL REFERENCES persons (id),
    user_id           bigint NOT NULL REFERENCES users (id),
    organization_id   bigint REFERENCES organizations (id),
    position          text,
    hired_on          date,
    left_on           date,
    source_deleted_at timestamptz
);
CREATE INDEX staff_members_person_id_idx ON staff_members (person_id);
CREATE INDEX staff_members_user_id_idx ON staff_members (user_id);
CREATE INDEX staff_members_organization_id_idx ON staff_members (organization_id);

-- Legacy "groups": a cohort of students studying together.
CREATE TABLE student_groups (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    organization_id   bigint REFERENCES organizations (id),
    name              text NOT NULL CHECK (name <> ''),
    year_of_study     smallint,
    curator_id        bigint REFERENCES staff_members (id),
    academic_year     text,
    source_deleted_at timestamptz
);
CREATE INDEX student_groups_organization_id_idx ON student_groups (organization_id);
CREATE INDEX student_groups_curator_id_idx ON student_groups (curator_id);

-- The subject catalog.
CREATE TABLE subjects (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    organization_id   bigint REFERENCES organizations (id),
    name              text NOT NULL CHECK (name <> ''),
    code              text,
    credits           numeric(4, 1),
    source_deleted_at timestamptz
);
CREATE INDEX subjects_organization_id_idx ON subjects (organization_id);

CREATE TABLE students (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    person_id         bigint NOT NULL REFERENCES persons (id),
    user_id           bigint NOT NULL REFERENCES users (id),
    organization_id   bigint REFERENCES organizations (id),
    group_id          bigint REFERENCES student_groups (id),
    admission_year    smallint,
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'expelled', 'graduated', 'academic_leave')),
    record_book_no    text,
    source_deleted_at timestamptz
);
CREATE INDEX students_person_id_idx ON students (person_id);
CREATE INDEX students_user_id_idx ON students (user_id);
CREATE INDEX students_organization_id_idx ON students (organization_id);
CREATE INDEX students_group_id_idx ON students (group_id);

-- A course offering: a subject taught to a group in one semester of one
-- academic year. Migrated courses are derived from the journal's keys.
CREATE TABLE courses (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id          bigint NOT NULL REFERENCES subjects (id),
    group_id            bigint REFERENCES student_groups (id),
    academic_year       text NOT NULL CHECK (academic_year <> ''),
    semester            smallint NOT NULL CHECK (semester IN (1, 2)),
    derived_from_legacy boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT courses_offering_key UNIQUE NULLS NOT DISTINCT (subject_id, group_id, academic_year, semester)
);
CREATE INDEX courses_group_id_idx ON courses (group_id);

CREATE TABLE course_enrollments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         bigint UNIQUE,
    student_id        bigint NOT NULL REFERENCES students (id),
    course_id         bigint NOT NULL REFERENCES courses (id),
    teacher_id        bigint REFERENCES staff_members (id),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'dropped', 'completed')),
    current_mark      text,
    updated_at        timestamptz,
    source_deleted_at timestamptz
);
CREATE INDEX course_enrollments_student_id_idx ON course_enrollments (student_id);
CREATE INDEX course_enrollments_course_id_idx ON course_enrollments (course_id);
CREATE INDEX course_enrollments_teacher_id_idx ON course_enrollments (teacher_id);
CREATE UNIQUE INDEX course_enrollments_student_course_key ON course_enrollments (student_id, course_id)
    WHERE source_deleted_at IS NULL;

CREATE TABLE grades (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The journal row whose mark_final this grade is.
    legacy_id         bigint UNIQUE,
    enrollment_id     bigint NOT NULL REFERENCES course_enrollments (id) ON DELETE CASCADE,
    kind              text NOT NULL DEFAULT 'final' CHECK (kind IN ('final', 'interim')),
    raw_mark          text NOT NULL CHECK (raw_mark <> ''),
    scale             text CHECK (scale IN ('five_point', 'percent', 'pass_fail', 'letter')),
    value             text,
    points            smallint,
    graded_at         timestamptz,
    source_deleted_at timestamptz,
    CHECK ((scale IS NULL) = (value IS NULL))
);
CREATE INDEX grades_enrollment_id_idx ON grades (enrollment_id);
CREATE UNIQUE INDEX grades_one_final_per_enrollment ON grades (enrollment_id)
    WHERE kind = 'final' AND source_deleted_at IS NULL;

CREATE TABLE assessments (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         integer UNIQUE,
    subject_id        bigint NOT NULL REFERENCES subjects (id),
    group_id          bigint REFERENCES student_groups (id),
    teacher_id        bigint REFERENCES staff_members (id),
    title             text NOT NULL CHECK (title <> ''),
    kind              text,
    held_on           date,
    max_score         numeric(6, 2) NOT NULL DEFAULT 100 CHECK (max_score >= 0),
    source_deleted_at timestamptz
);
CREATE INDEX assessments_subject_id_idx ON assessments (subject_id);
CREATE INDEX assessments_group_id_idx ON assessments (group_id);
CREATE INDEX assessments_teacher_id_idx ON assessments (teacher_id);

CREATE TABLE assessment_submissions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy_id         bigint UNIQUE,
    assessment_id     bigint NOT NULL REFERENCES assessments (id),
    student_id        bigint NOT NULL REFERENCES students (id),
    score             numeric(6, 2),
    submitted_at      timestamptz,
    status            text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'graded', 'annulled')),
    -- Valid JSON answers; answers that were not JSON are kept in answers_raw.
    answers           jsonb,
    answers_raw       text,
    source_deleted_at timestamptz,
    CHECK (answers IS NULL OR answers_raw IS NULL)
);
CREATE INDEX assessment_submissions_assessment_id_idx ON assessment_submissions (assessment_id);
CREATE INDEX assessment_submissions_student_id_idx ON assessment_submissions (student_id);
CREATE UNIQUE INDEX assessment_submissions_assessment_student_key
    ON assessment_submissions (assessment_id, student_id) WHERE source_deleted_at IS NULL;

-- Teaching materials of a course; born in the LMS, no legacy source.
CREATE TABLE course_materials (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id  bigint NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    title      text NOT NULL CHECK (title <> ''),
    kind       text NOT NULL CHECK (kind IN ('link', 'file', 'text')),
    url        text,
    body       text,
    position   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'link' OR url IS NOT NULL)
);
CREATE INDEX course_materials_course_id_idx ON course_materials (course_id);
