//! Per table: the rows an apply chunk writes, as one SELECT over the staged
//! rows, their resolutions and the ledger of the tables they reference.
//!
//! Every SELECT yields the same leading columns (legacy_id, outcome, reason,
//! survivor_legacy_id, detail, warnings, source_hash) followed by the target
//! table's columns in `columns` order.

use lms_domain::LegacyEntity;

use crate::plan::IdRange;

/// How one table's staged rows become target rows.
#[derive(Debug)]
pub struct ApplySpec {
    pub entity: LegacyEntity,
    /// Target columns besides `legacy_id`, as the SELECT names them.
    pub columns: &'static [&'static str],
    /// The SELECT of a chunk's rows.
    pub rows: fn(&IdRange) -> String,
}

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

static ORGANIZATIONS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Organizations,
    columns: &[
        "name",
        "short_name",
        "org_type",
        "bin",
        "archived",
        "created_at",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    CASE WHEN d.dangling THEN format('parent_id %s points at no organization', s.parent_legacy_id) END AS detail, \
                    CASE WHEN d.dangling THEN array_append(s.warnings, 'dangling_parent') ELSE s.warnings END AS warnings, \
                    s.source_hash, s.name, s.short_name, s.org_type, s.bin, s.archived, s.created_at::timestamptz AS created_at \
             FROM migration.stage_organizations s \
             CROSS JOIN LATERAL (SELECT s.parent_legacy_id IS NOT NULL AND NOT EXISTS ( \
                 SELECT 1 FROM migration.stage_organizations p WHERE p.legacy_id = s.parent_legacy_id) AS dangling) d \
             WHERE {}",
            range.predicate("s.legacy_id")
        )
    },
};

static PERSONS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Persons,
    columns: &[
        "last_name",
        "first_name",
        "middle_name",
        "iin",
        "birth_date",
        "gender",
        "phone",
        "created_at",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, s.last_name, s.first_name, s.middle_name, s.iin, \
                    s.birth_date, s.gender, s.phone, s.created_at::timestamptz AS created_at \
             FROM migration.stage_persons s WHERE {}",
            range.predicate("s.legacy_id")
        )
    },
};

static USERS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Users,
    columns: &[
        "person_id",
        "login",
        "email",
        "password_hash",
        "password_reset_required",
        "role",
        "is_active",
        "created_at",
        "last_login_at",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    CASE WHEN d.dangling THEN format('person_id %s points at no person', s.person_legacy_id) END AS detail, \
                    CASE WHEN d.dangling THEN array_append(s.warnings, 'dangling_person') ELSE s.warnings END AS warnings, \
                    s.source_hash, p.target_id AS person_id, s.final_login AS login, s.final_email AS email, \
                    s.password_hash, s.password_reset_required, s.role, s.is_active, \
                    s.created_at::timestamptz AS created_at, s.last_login_at::timestamptz AS last_login_at \
             FROM migration.stage_users s {} \
             CROSS JOIN LATERAL (SELECT s.person_legacy_id IS NOT NULL AND p.legacy_id IS NULL AS dangling) d \
             WHERE {}",
            migrated("p", "persons", "s.person_legacy_id"),
            range.predicate("s.legacy_id")
        )
    },
};

static GROUPS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Groups,
    columns: &[
        "organization_id",
        "name",
        "year_of_study",
        "curator_id",
        "academic_year",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, o.target_id AS organization_id, s.name, \
                    s.year_of_study, c.target_id AS curator_id, s.academic_year \
             FROM migration.stage_groups s {} {} WHERE {}",
            migrated("o", "organizations", "s.organization_legacy_id"),
            migrated("c", "teachers", "s.curator_legacy_id"),
            range.predicate("s.legacy_id")
        )
    },
};

static SUBJECTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Subjects,
    columns: &["organization_id", "name", "code", "credits"],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, 'migrated'::text AS outcome, NULL::text AS reason, NULL::bigint AS survivor_legacy_id, \
                    NULL::text AS detail, s.warnings, s.source_hash, o.target_id AS organization_id, s.name, s.code, s.credits \
             FROM migration.stage_subjects s {} WHERE {}",
            migrated("o", "organizations", "s.organization_legacy_id"),
            range.predicate("s.legacy_id")
        )
    },
};

/// Students and teachers: a surviving row whose user points nowhere gets a
/// provisioned account (filled in after this SELECT) and `user_provisioned`.
fn people_rows(
    entity: &str,
    stage: &str,
    extra_columns: &str,
    extra_joins: &str,
    range: &IdRange,
) -> String {
    format!(
        "SELECT s.legacy_id, {RESOLVED}, \
                CASE WHEN r.outcome IS NOT NULL THEN r.detail \
                     WHEN u.legacy_id IS NULL THEN \
                         CASE WHEN s.user_legacy_id IS NULL THEN 'user_id is NULL; an account was provisioned' \
                              ELSE format('user_id %s points at no user; an account was provisioned', s.user_legacy_id) END \
                END AS detail, \
                CASE WHEN r.outcome IS NOT NULL THEN '{{}}'::text[] \
                     WHEN u.legacy_id IS NULL THEN array_append(s.warnings, 'user_provisioned') \
                     ELSE s.warnings END AS warnings, \
                s.source_hash, p.target_id AS person_id, u.target_id AS user_id, o.target_id AS organization_id \
                {extra_columns} \
         FROM {stage} s {resolutions} {person} {user} {organization} {extra_joins} \
         WHERE {predicate}",
        resolutions = resolutions(entity),
        person = migrated("p", "persons", "s.person_legacy_id"),
        user = migrated("u", "users", "s.user_legacy_id"),
        organization = migrated("o", "organizations", "s.organization_legacy_id"),
        predicate = range.predicate("s.legacy_id"),
    )
}

static STUDENTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Students,
    columns: &[
        "person_id",
        "user_id",
        "organization_id",
        "group_id",
        "admission_year",
        "status",
        "record_book_no",
    ],
    rows: |range| {
        people_rows(
            "students",
            "migration.stage_students",
            ", g.target_id AS group_id, s.admission_year, s.status, s.record_book_no",
            &migrated("g", "groups", "s.group_legacy_id"),
            range,
        )
    },
};

static TEACHERS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Teachers,
    columns: &[
        "person_id",
        "user_id",
        "organization_id",
        "position",
        "hired_on",
        "left_on",
    ],
    rows: |range| {
        people_rows(
            "teachers",
            "migration.stage_teachers",
            ", s.position, s.hired_on, s.left_on",
            "",
            range,
        )
    },
};

static JOURNAL: ApplySpec = ApplySpec {
    entity: LegacyEntity::Journal,
    columns: &[
        "student_id",
        "course_id",
        "teacher_id",
        "status",
        "current_mark",
        "updated_at",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, {RESOLVED}, r.detail, \
                    CASE WHEN r.outcome IS NULL THEN s.warnings ELSE '{{}}'::text[] END AS warnings, \
                    s.source_hash, st.target_id AS student_id, c.id AS course_id, t.target_id AS teacher_id, s.status, \
                    s.current_mark, s.updated_at::timestamptz AS updated_at, \
                    s.grade_raw, s.grade_scale, s.grade_value, s.grade_points \
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
            range.predicate("s.legacy_id")
        )
    },
};

static EXAMS: ApplySpec = ApplySpec {
    entity: LegacyEntity::Exams,
    columns: &[
        "subject_id",
        "group_id",
        "teacher_id",
        "title",
        "kind",
        "held_on",
        "max_score",
    ],
    rows: |range| {
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
            range.predicate("s.legacy_id")
        )
    },
};

static EXAM_RESULTS: ApplySpec = ApplySpec {
    entity: LegacyEntity::ExamResults,
    columns: &[
        "assessment_id",
        "student_id",
        "score",
        "submitted_at",
        "status",
        "answers",
        "answers_raw",
    ],
    rows: |range| {
        format!(
            "SELECT s.legacy_id, {RESOLVED}, \
                    CASE WHEN r.outcome IS NOT NULL THEN r.detail \
                         WHEN d.out_of_range THEN format('score %s is outside 0..%s', s.score, a.max_score) END AS detail, \
                    CASE WHEN r.outcome IS NOT NULL THEN '{{}}'::text[] \
                         WHEN d.out_of_range THEN array_append(s.warnings, 'score_out_of_range') \
                         ELSE s.warnings END AS warnings, \
                    s.source_hash, ex.target_id AS assessment_id, st.target_id AS student_id, \
                    CASE WHEN d.out_of_range THEN NULL ELSE s.score END AS score, \
                    s.submitted_at::timestamptz AS submitted_at, s.status, s.answers, s.answers_raw \
             FROM migration.stage_exam_results s {} {} \
             LEFT JOIN assessments a ON a.id = ex.target_id \
             LEFT JOIN migration.ledger st ON st.entity = 'students' AND st.legacy_id = s.student_legacy_id \
                  AND st.outcome IN ('migrated', 'merged') AND st.source_deleted_at IS NULL \
             CROSS JOIN LATERAL (SELECT coalesce(s.score < 0 OR s.score > a.max_score, false) AS out_of_range) d \
             WHERE {}",
            resolutions("exam_results"),
            migrated("ex", "exams", "s.exam_legacy_id"),
            range.predicate("s.legacy_id")
        )
    },
};
