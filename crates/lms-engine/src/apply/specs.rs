//! Per table: the rows an apply chunk writes, as one SELECT over the staged
//! rows, their resolutions and the ledger of the tables they reference, and
//! which of the target's columns the migration owns.
//!
//! Every SELECT yields the same leading columns (legacy_id, outcome, reason,
//! survivor_legacy_id, detail, warnings, source_hash) followed by the target
//! table's columns, named as the target names them.

use lms_domain::LegacyEntity;

/// How one table's staged rows become target rows.
#[derive(Debug)]
pub struct ApplySpec {
    pub entity: LegacyEntity,
    /// Columns both sides stamp (`updated_at`): written with the owned
    /// ones (the fields of `migration.owned_<table>`), never compared.
    pub derived: &'static [&'static str],
    /// The target's natural unique key, when it has one besides
    /// `legacy_id`: rows whose key moves are applied together before the
    /// chunks, and a new row colliding with an LMS-born row adopts it.
    pub natural_key: Option<NaturalKey>,
    /// For tables whose legacy duplicates are one LMS row (the contract's
    /// key groups), when LMS row `x` (or a baseline with the owned fields'
    /// names) is the row of the group apply row `a` proposes: a group
    /// whose survivor leaves hands its row to the survivor that proposes
    /// its key (`resolve/hand_over.rs`). Users, with a natural key but no
    /// duplicates, have none: a new user with a gone user's login is
    /// someone else.
    pub group_key: Option<&'static str>,
    /// The SELECT of a chunk's rows.
    /// Given the condition on the staged row `s.legacy_id` (its range, and
    /// the apply's scope).
    pub rows: fn(&str) -> String,
}

/// A natural unique key of a target table.
#[derive(Debug, Clone, Copy)]
pub struct NaturalKey {
    /// The key's columns (a change in any of them moves the key).
    pub columns: &'static [&'static str],
    /// When LMS row `x` holds the key proposed by apply row `a`, exactly as
    /// the target's unique indexes compare (among live rows).
    pub collides: &'static str,
}

/// The journal's second target: a surviving row's final grade (the
/// `grade_` fields of `migration.owned_journal`).
#[derive(Debug)]
pub struct GradePart {
    /// (grade column, apply row column) pairs the migration owns.
    pub owned: &'static [(&'static str, &'static str)],
    /// Stamped by both sides.
    pub derived: &'static [(&'static str, &'static str)],
}

/// One enrollment per student and course.
const ENROLLMENT_KEY: &str = "(x.student_id, x.course_id) = (a.student_id, a.course_id)";

/// One submission per assessment and student.
const SUBMISSION_KEY: &str = "(x.assessment_id, x.student_id) = (a.assessment_id, a.student_id)";

/// One student per person and organization (no unique index: the LMS may
/// hold more, but the contract's duplicates are one).
const STUDENT_KEY: &str =
    "(x.person_id, x.organization_id) IS NOT DISTINCT FROM (a.person_id, a.organization_id)";

pub static GRADE_PART: GradePart = GradePart {
    owned: &[
        ("kind", "grade_kind"),
        ("raw_mark", "grade_raw_mark"),
        ("scale", "grade_scale"),
        ("value", "grade_value"),
        ("points", "grade_points"),
    ],
    derived: &[("graded_at", "updated_at")],
};

impl ApplySpec {
    pub fn for_entity(entity: LegacyEntity) -> &'static ApplySpec {
        match entity {
            LegacyEntity::Organizations => &ORGANIZATIONS,
            LegacyEntity::Persons => &PERSONS,
            LegacyEntity::Users => &USERS,
            LegacyEntity::Groups => &GROUPS,
            LegacyEntity::Subjects => &SUBJECTS,
            LegacyEntity::Students => &STUDENTS,
            LegacyEntity::Teachers => &TEACHERS,
            LegacyEntity::Journal => &JOURNAL,
            LegacyEntity::Exams => &EXAMS,
            LegacyEntity::ExamResults => &EXAM_RESULTS,
        }
    }
}

/// A LEFT JOIN to the live, migrated ledger row of another table.
fn migrated(alias: &str, entity: &str, column: &str) -> String {
    format!(
        "LEFT JOIN migration.ledger {alias} ON {alias}.entity = '{entity}' AND {alias}.legacy_id = {column} \
         AND {alias}.outcome = 'migrated' AND {alias}.source_deleted_at IS NULL"
    )
}

/// The outcome columns of a table with resolutions (alias `r`).
const RESOLVED: &str = "coalesce(r.outcome, 'migrated') AS outcome, r.reason, r.survivor_legacy_id";

fn resolutions(entity: &str) -> String {
    format!(
        "LEFT JOIN migration.resolutions r ON r.entity = '{entity}' AND r.legacy_id = s.legacy_id"
    )
}

/// Whether the staged organization `s` has a parent that points nowhere
/// (DATA.md: it becomes NULL, warning `dangling_parent`): no legacy
/// organization has that id now, or the link would close a ring of
/// parents and `s` is where it is broken (`lms_data::organization_tree`).
/// The finalize's link and a delta's scope (an organization whose parent
/// came or went) read it from here; the apply's warning reads its two
/// halves, to say which.
pub(crate) const ORGANIZATION_PARENT_DANGLES: &str = lms_data::parent_points_nowhere!(
    "migration.stage_organizations",
    "legacy_id",
    "parent_legacy_id",
    "s"
);

static ORGANIZATIONS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Organizations,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    CASE WHEN d.missing THEN format('parent_id %s points at no organization', s.parent_legacy_id) \
                         WHEN d.ring THEN CASE WHEN s.parent_legacy_id = s.legacy_id \
                                               THEN 'parent_id is the organization itself' \
                                               ELSE format('parent_id %s closes a ring of parents; broken at its lowest id, this one', \
                                                           s.parent_legacy_id) END END AS detail, \
                    CASE WHEN d.missing OR d.ring THEN array_append(s.warnings, 'dangling_parent') ELSE s.warnings END AS warnings, \
                    s.source_hash, s.name, s.short_name, s.org_type, s.bin, s.archived, s.created_at::timestamptz AS created_at \
             FROM migration.stage_organizations s \
             CROSS JOIN LATERAL (SELECT {missing} AS missing, {ring} AS ring) d \
             WHERE {selection}",
            missing = lms_data::parent_missing!(
                "migration.stage_organizations",
                "legacy_id",
                "parent_legacy_id",
                "s"
            ),
            ring = lms_data::parent_closes_ring!(
                "migration.stage_organizations",
                "legacy_id",
                "parent_legacy_id",
                "s"
            ),
        )
    },
};

static PERSONS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Persons,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, s.last_name, s.first_name, s.middle_name, s.iin, \
                    s.birth_date, s.gender, s.phone, s.created_at::timestamptz AS created_at \
             FROM migration.stage_persons s WHERE {}",
            selection
        )
    },
};

static USERS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Users,
    derived: &[],
    natural_key: Some(NaturalKey {
        columns: &["login", "email"],
        collides: "(lower(x.login COLLATE \"und-x-icu\") = lower(a.login COLLATE \"und-x-icu\") \
                   OR lower(x.email COLLATE \"und-x-icu\") = lower(a.email COLLATE \"und-x-icu\"))",
    }),
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    CASE WHEN d.dangling AND p.legacy_id IS NULL THEN format('person_id %s points at no person', s.person_legacy_id) \
                         WHEN d.dangling THEN format('person_id %s points at a person deleted in the LMS', s.person_legacy_id) \
                    END AS detail, \
                    CASE WHEN d.dangling THEN array_append(s.warnings, 'dangling_person') ELSE s.warnings END AS warnings, \
                    s.source_hash, p.target_id AS person_id, s.final_login AS login, s.final_email AS email, \
                    s.password_hash, s.password_reset_required, s.role, s.is_active, \
                    s.created_at::timestamptz AS created_at, s.last_login_at::timestamptz AS last_login_at \
             FROM migration.stage_users s {} \
             CROSS JOIN LATERAL (SELECT s.person_legacy_id IS NOT NULL AND p.target_id IS NULL AS dangling) d \
             WHERE {}",
            migrated("p", "persons", "s.person_legacy_id"),
            selection
        )
    },
};

static GROUPS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Groups,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, o.target_id AS organization_id, s.name, \
                    s.year_of_study, c.target_id AS curator_id, s.academic_year \
             FROM migration.stage_groups s {} {} WHERE {}",
            migrated("o", "organizations", "s.organization_legacy_id"),
            migrated("c", "teachers", "s.curator_legacy_id"),
            selection
        )
    },
};

static SUBJECTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Subjects,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, o.target_id AS organization_id, s.name, s.code, s.credits \
             FROM migration.stage_subjects s {} WHERE {}",
            migrated("o", "organizations", "s.organization_legacy_id"),
            selection
        )
    },
};

/// Students and teachers: a surviving row whose user points nowhere gets a
/// provisioned account (filled in after this SELECT, wherever `user_id`
/// is NULL) and `user_provisioned`. A user with no LMS row (deleted in the
/// LMS, or waiting for a key another account holds) points nowhere in the
/// LMS, as docs/contract.md says of every reference to such a row.
fn people_rows(
    entity: &str,
    stage: &str,
    extra_columns: &str,
    extra_joins: &str,
    selection: &str,
) -> String {
    format!(
        "SELECT s.legacy_id, {RESOLVED}, \
                CASE WHEN r.outcome IS NOT NULL THEN r.detail \
                     WHEN u.target_id IS NULL THEN \
                         CASE WHEN s.user_legacy_id IS NULL THEN 'user_id is NULL; an account was provisioned' \
                              WHEN u.legacy_id IS NULL THEN \
                                  format('user_id %s points at no user; an account was provisioned', s.user_legacy_id) \
                              WHEN 'deleted_in_lms' = ANY (u.warnings) THEN \
                                  format('user_id %s points at a user deleted in the LMS; an account was provisioned', \
                                         s.user_legacy_id) \
                              ELSE format('user_id %s has no LMS row yet (its login or email is held by another \
                                           account, key_taken); an account was provisioned', s.user_legacy_id) END \
                END AS detail, \
                CASE WHEN r.outcome IS NOT NULL THEN '{{}}'::text[] \
                     WHEN u.target_id IS NULL THEN array_append(s.warnings, 'user_provisioned') \
                     ELSE s.warnings END AS warnings, \
                s.source_hash, p.target_id AS person_id, u.target_id AS user_id, o.target_id AS organization_id \
                {extra_columns} \
         FROM {stage} s {resolutions} {person} {user} {organization} {extra_joins} \
         WHERE {predicate}",
        resolutions = resolutions(entity),
        person = migrated("p", "persons", "s.person_legacy_id"),
        user = migrated("u", "users", "s.user_legacy_id"),
        organization = migrated("o", "organizations", "s.organization_legacy_id"),
        predicate = selection,
    )
}

static STUDENTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Students,
    derived: &[],
    natural_key: None,
    group_key: Some(STUDENT_KEY),
    rows: |selection| {
        people_rows(
            "students",
            "migration.stage_students",
            ", g.target_id AS group_id, s.admission_year, s.status, s.record_book_no",
            &migrated("g", "groups", "s.group_legacy_id"),
            selection,
        )
    },
};

static TEACHERS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Teachers,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        people_rows(
            "teachers",
            "migration.stage_teachers",
            ", s.position, s.hired_on, s.left_on",
            "",
            selection,
        )
    },
};

static JOURNAL: ApplySpec = ApplySpec {
    entity: LegacyEntity::Journal,
    derived: &["updated_at"],
    natural_key: Some(NaturalKey {
        columns: &["student_id", "course_id"],
        collides: ENROLLMENT_KEY,
    }),
    group_key: Some(ENROLLMENT_KEY),
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, {RESOLVED}, r.detail, \
                    CASE WHEN r.outcome IS NULL THEN s.warnings ELSE '{{}}'::text[] END AS warnings, \
                    s.source_hash, st.target_id AS student_id, c.id AS course_id, t.target_id AS teacher_id, s.status, \
                    s.current_mark, s.updated_at::timestamptz AS updated_at, \
                    CASE WHEN s.grade_raw IS NOT NULL THEN 'final' END AS grade_kind, \
                    s.grade_raw AS grade_raw_mark, s.grade_scale, s.grade_value, s.grade_points \
             FROM migration.stage_journal s {} \
             LEFT JOIN migration.ledger st ON st.entity = 'students' AND st.legacy_id = s.student_legacy_id \
                  AND st.outcome IN ('migrated', 'merged') AND st.source_deleted_at IS NULL \
             {} {} {} \
             LEFT JOIN courses c ON c.subject_id = sb.target_id AND coalesce(c.group_id, 0) = coalesce(g.target_id, 0) \
                  AND c.academic_year = s.academic_year AND c.semester = s.semester \
             WHERE {}",
            resolutions("journal"),
            migrated("sb", "subjects", "s.subject_legacy_id"),
            migrated("g", "groups", "s.group_legacy_id"),
            migrated("t", "teachers", "s.teacher_legacy_id"),
            selection
        )
    },
};

static EXAMS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Exams,
    derived: &[],
    natural_key: None,
    group_key: None,
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, {RESOLVED}, r.detail, \
                    CASE WHEN r.outcome IS NULL THEN s.warnings ELSE '{{}}'::text[] END AS warnings, \
                    s.source_hash, sb.target_id AS subject_id, g.target_id AS group_id, t.target_id AS teacher_id, \
                    s.title, s.kind, s.held_on, s.max_score \
             FROM migration.stage_exams s {} {} {} {} WHERE {}",
            resolutions("exams"),
            migrated("sb", "subjects", "s.subject_legacy_id"),
            migrated("g", "groups", "s.group_legacy_id"),
            migrated("t", "teachers", "s.teacher_legacy_id"),
            selection
        )
    },
};

static EXAM_RESULTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::ExamResults,
    derived: &[],
    natural_key: Some(NaturalKey {
        columns: &["assessment_id", "student_id"],
        collides: SUBMISSION_KEY,
    }),
    group_key: Some(SUBMISSION_KEY),
    rows: |selection| {
        format!(
            "SELECT s.legacy_id, {RESOLVED}, \
                    CASE WHEN r.outcome IS NOT NULL THEN r.detail ELSE s.score_detail END AS detail, \
                    CASE WHEN r.outcome IS NOT NULL THEN '{{}}'::text[] ELSE s.warnings END AS warnings, \
                    s.source_hash, ex.target_id AS assessment_id, st.target_id AS student_id, s.score, \
                    s.submitted_at::timestamptz AS submitted_at, s.status, s.answers, s.answers_raw \
             FROM migration.stage_exam_results s {} {} \
             LEFT JOIN migration.ledger st ON st.entity = 'students' AND st.legacy_id = s.student_legacy_id \
                  AND st.outcome IN ('migrated', 'merged') AND st.source_deleted_at IS NULL \
             WHERE {}",
            resolutions("exam_results"),
            migrated("ex", "exams", "s.exam_legacy_id"),
            selection
        )
    },
};
