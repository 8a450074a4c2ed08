-- The migration engine's working tables.
--
-- A run first copies ("stages") every legacy row it covers into
-- migration.stage_<table>, already trimmed, parsed and hashed, so that the
-- rules that need other rows (duplicates, renames, references) run as
-- set-based SQL over indexed data. Staging tables are UNLOGGED scratch:
-- emptied when a run is planned and rebuilt from the legacy database.

ALTER TABLE migration.run_steps ADD COLUMN stats jsonb NOT NULL DEFAULT '{}';

-- An account provisioned for a legacy student or teacher who had no usable
-- login: 'students:<legacy id>' or 'teachers:<legacy id>'.
ALTER TABLE users ADD COLUMN provisioned_for text UNIQUE;

-- Rows that will not become target rows of their own: merged into a
-- survivor, or rejected with a reason. Rows of a staged table without an
-- entry here are migrated.
CREATE UNLOGGED TABLE migration.resolutions (
    entity             text NOT NULL,
    legacy_id          bigint NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('merged', 'rejected')),
    reason             text CHECK (reason IN ('orphan_reference', 'invalid_value')),
    survivor_legacy_id bigint,
    detail             text,
    PRIMARY KEY (entity, legacy_id)
);

CREATE UNLOGGED TABLE migration.stage_organizations (
    legacy_id        integer PRIMARY KEY,
    source_hash      bigint NOT NULL,
    parent_legacy_id integer,
    name             text NOT NULL,
    short_name       text,
    org_type         text,
    bin              text,
    archived         boolean NOT NULL,
    created_at       timestamp,
    warnings         text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_persons (
    legacy_id   integer PRIMARY KEY,
    source_hash bigint NOT NULL,
    last_name   text,
    first_name  text,
    middle_name text,
    iin         text,
    birth_date  date,
    gender      text,
    phone       text,
    created_at  timestamp,
    warnings    text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_users (
    legacy_id               integer PRIMARY KEY,
    source_hash             bigint NOT NULL,
    login                   text NOT NULL,
    login_key               text NOT NULL,
    email                   text,
    password_hash           text,
    password_reset_required boolean NOT NULL,
    person_legacy_id        integer,
    role                    text NOT NULL,
    is_active               boolean NOT NULL,
    created_at              timestamp,
    last_login_at           timestamp,
    warnings                text[] NOT NULL,
    -- Filled by the resolve step: the login (and its case-folded key) and
    -- the email after the uniqueness rules.
    final_login             text,
    final_key               text,
    final_email             text
);
CREATE INDEX stage_users_login_key_idx ON migration.stage_users (login_key);
CREATE INDEX stage_users_final_key_idx ON migration.stage_users (final_key);

CREATE UNLOGGED TABLE migration.stage_groups (
    legacy_id              integer PRIMARY KEY,
    source_hash            bigint NOT NULL,
    organization_legacy_id integer,
    name                   text NOT NULL,
    year_of_study          smallint,
    curator_legacy_id      integer,
    academic_year          text,
    warnings               text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_subjects (
    legacy_id              integer PRIMARY KEY,
    source_hash            bigint NOT NULL,
    organization_legacy_id integer,
    name                   text NOT NULL,
    code                   text,
    credits                numeric(4, 1),
    warnings               text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_students (
    legacy_id              integer PRIMARY KEY,
    source_hash            bigint NOT NULL,
    user_legacy_id         integer,
    person_legacy_id       integer,
    organization_legacy_id integer,
    group_legacy_id        integer,
    admission_year         smallint,
    status                 text NOT NULL,
    record_book_no         text,
    warnings               text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_teachers (
    legacy_id              integer PRIMARY KEY,
    source_hash            bigint NOT NULL,
    user_legacy_id         integer,
    person_legacy_id       integer,
    organization_legacy_id integer,
    position               text,
    hired_on               date,
    left_on                date,
    warnings               text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_journal (
    legacy_id         bigint PRIMARY KEY,
    source_hash       bigint NOT NULL,
    student_legacy_id integer,
    subject_legacy_id integer,
    group_legacy_id   integer,
    teacher_legacy_id integer,
    academic_year     text,
    semester          smallint,
    status            text NOT NULL,
    current_mark      text,
    updated_at        timestamp,
    grade_raw         text,
    grade_scale       text,
    grade_value       text,
    grade_points      smallint,
    -- Why a required value is unusable (the row is rejected as invalid_value).
    invalid_detail    text,
    warnings          text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_exams (
    legacy_id         integer PRIMARY KEY,
    source_hash       bigint NOT NULL,
    subject_legacy_id integer,
    group_legacy_id   integer,
    teacher_legacy_id integer,
    title             text NOT NULL,
    kind              text,
    held_on           date,
    max_score         numeric(6, 2) NOT NULL,
    warnings          text[] NOT NULL
);

CREATE UNLOGGED TABLE migration.stage_exam_results (
    legacy_id         bigint PRIMARY KEY,
    source_hash       bigint NOT NULL,
    exam_legacy_id    integer,
    student_legacy_id integer,
    score             numeric(6, 2),
    submitted_at      timestamp,
    status            text NOT NULL,
    answers           jsonb,
    answers_raw       text,
    warnings          text[] NOT NULL
);
