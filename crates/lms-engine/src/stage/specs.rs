//! What each legacy table's staged row holds, and the row-local contract
//! rules that produce it. Rules that need other rows run later, in SQL.

use lms_domain::account::{Credential, Email, Login, Role};
use lms_domain::answers::{Answers, parse_answers};
use lms_domain::course::CourseTerm;
use lms_domain::mark::parse_mark;
use lms_domain::number::{self, CREDITS_COLUMN};
use lms_domain::person::{Gender, parse_birth_date};
use lms_domain::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};
use lms_domain::text::{lower, required_name};
use lms_domain::{LegacyEntity, Repaired, WarningCode};
use lms_pg::copy_text::RowWriter;

use super::fields::{FieldError, LegacyFields};

/// How one legacy table is staged.
#[derive(Debug)]
pub struct StageSpec {
    pub entity: LegacyEntity,
    /// What the legacy read selects from: the table, joined to what its
    /// row-local rules need (exam results read their exam's maximum).
    pub source: &'static str,
    /// The legacy id column, as the source names it.
    pub id_column: &'static str,
    /// The legacy columns, in the order `transform` reads them.
    pub legacy_columns: &'static [&'static str],
    /// The staging table's columns, in the order `transform` writes them
    /// (`legacy_id` and `source_hash` first).
    pub stage_columns: &'static [&'static str],
    /// Writes the staged row for one legacy row (after `legacy_id, source_hash`).
    pub transform: fn(&LegacyFields<'_>, &mut RowWriter<'_>) -> Result<(), FieldError>,
}

impl StageSpec {
    pub fn for_entity(entity: LegacyEntity) -> &'static StageSpec {
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

/// Collects a row's warnings and writes them as a `text[]` literal.
#[derive(Debug, Default)]
struct Warnings(Vec<WarningCode>);

impl Warnings {
    fn note<T>(&mut self, repaired: Repaired<T>) -> T {
        if let Some(warning) = repaired.warning {
            self.0.push(warning);
        }
        repaired.value
    }

    fn add(&mut self, warning: WarningCode) {
        self.0.push(warning);
    }

    fn write(&self, row: &mut RowWriter<'_>) {
        let codes: Vec<&str> = self.0.iter().map(|code| code.as_str()).collect();
        row.text(&format!("{{{}}}", codes.join(",")));
    }
}

/// The contract's required names, shared with degraded reads
/// (`lms_domain::text::required_name`).
fn name_or_placeholder(
    value: Option<&str>,
    kind: &str,
    id: i64,
    warnings: &mut Warnings,
) -> String {
    warnings.note(required_name(value, kind, id))
}

static ORGANIZATIONS: StageSpec = StageSpec {
    source: "organizations",
    id_column: "id",
    entity: LegacyEntity::Organizations,
    legacy_columns: &[
        "id",
        "parent_id",
        "name",
        "short_name",
        "org_type",
        "bin",
        "is_deleted",
        "created_at",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "parent_legacy_id",
        "name",
        "short_name",
        "org_type",
        "bin",
        "archived",
        "created_at",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let id = f.id(0)?;
        row.opt_int(f.int(1)?)
            .text(&name_or_placeholder(
                f.text(2),
                "Organization",
                id,
                &mut warnings,
            ))
            .opt_text(f.text(3))
            .opt_text(f.text(4).map(lower).as_deref())
            .opt_text(f.text(5))
            .bool(f.bool(6)?.unwrap_or(false))
            .opt_text(f.instant(7));
        warnings.write(row);
        Ok(())
    },
};

static PERSONS: StageSpec = StageSpec {
    source: "persons",
    id_column: "id",
    entity: LegacyEntity::Persons,
    legacy_columns: &[
        "id",
        "last_name",
        "first_name",
        "middle_name",
        "iin",
        "birth_date",
        "gender",
        "phone",
        "created_at",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "last_name",
        "first_name",
        "middle_name",
        "iin",
        "birth_date",
        "gender",
        "phone",
        "created_at",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let birth_date = warnings.note(parse_birth_date(f.verbatim(5)));
        row.opt_text(f.text(1))
            .opt_text(f.text(2))
            .opt_text(f.text(3))
            .opt_text(f.text(4))
            .opt_display(birth_date)
            .opt_text(Gender::parse_legacy(f.verbatim(6)).map(Gender::as_str))
            .opt_text(f.text(7))
            .opt_text(f.instant(8));
        warnings.write(row);
        Ok(())
    },
};

static USERS: StageSpec = StageSpec {
    source: "users",
    id_column: "id",
    entity: LegacyEntity::Users,
    legacy_columns: &[
        "id",
        "login",
        "email",
        "password_hash",
        "person_id",
        "role",
        "is_active",
        "created_at",
        "last_login_at",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "login",
        "login_placeholder",
        "email",
        "password_hash",
        "password_reset_required",
        "person_legacy_id",
        "role",
        "is_active",
        "created_at",
        "last_login_at",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let id = f.id(0)?;
        let (login, placeholder) = match Login::from_legacy(f.verbatim(1).unwrap_or_default()) {
            Some(login) => (login, false),
            None => {
                // A blank or overlong login cannot sign in; the account keeps a
                // unique placeholder, counted as a rename.
                warnings.add(WarningCode::LoginRenamed);
                (Login::provisioned("user", id), true)
            }
        };
        let email = warnings.note(Email::from_legacy(f.verbatim(2)));
        let credential = warnings.note(Credential::from_legacy(f.verbatim(3)));
        let role = warnings.note(Role::from_legacy(f.verbatim(5).unwrap_or_default()));
        let (hash, reset) = match &credential {
            Credential::Bcrypt(hash) => (Some(hash.as_str()), false),
            Credential::ResetRequired => (None, true),
        };
        row.text(login.as_str())
            .bool(placeholder)
            .opt_text(email.as_ref().map(Email::as_str))
            .opt_text(hash)
            .bool(reset)
            .opt_int(f.int(4)?)
            .text(role.as_str())
            .bool(f.bool(6)?.unwrap_or(true))
            .opt_text(f.instant(7))
            .opt_text(f.instant(8));
        warnings.write(row);
        Ok(())
    },
};

static GROUPS: StageSpec = StageSpec {
    source: "groups",
    id_column: "id",
    entity: LegacyEntity::Groups,
    legacy_columns: &[
        "id",
        "organization_id",
        "name",
        "course_no",
        "curator_teacher_id",
        "academic_year",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "organization_legacy_id",
        "name",
        "year_of_study",
        "curator_legacy_id",
        "academic_year",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let id = f.id(0)?;
        row.opt_int(f.int(1)?)
            .text(&name_or_placeholder(f.text(2), "Group", id, &mut warnings))
            .opt_int(f.int(3)?)
            .opt_int(f.int(4)?)
            .opt_text(f.text(5));
        warnings.write(row);
        Ok(())
    },
};

static SUBJECTS: StageSpec = StageSpec {
    source: "subjects",
    id_column: "id",
    entity: LegacyEntity::Subjects,
    legacy_columns: &["id", "organization_id", "name", "code", "credits"],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "organization_legacy_id",
        "name",
        "code",
        "credits",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let id = f.id(0)?;
        let credits = warnings.note(CREDITS_COLUMN.accept(f.verbatim(4)));
        row.opt_int(f.int(1)?)
            .text(&name_or_placeholder(
                f.text(2),
                "Subject",
                id,
                &mut warnings,
            ))
            .opt_text(f.text(3))
            .opt_display(credits);
        warnings.write(row);
        Ok(())
    },
};

static STUDENTS: StageSpec = StageSpec {
    source: "students",
    id_column: "id",
    entity: LegacyEntity::Students,
    legacy_columns: &[
        "id",
        "user_id",
        "person_id",
        "organization_id",
        "group_id",
        "admission_year",
        "status",
        "record_book_no",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "user_legacy_id",
        "person_legacy_id",
        "organization_legacy_id",
        "group_legacy_id",
        "admission_year",
        "status",
        "record_book_no",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let status = warnings.note(StudentStatus::from_legacy(f.verbatim(6)));
        row.opt_int(f.int(1)?)
            .opt_int(f.int(2)?)
            .opt_int(f.int(3)?)
            .opt_int(f.int(4)?)
            .opt_int(f.int(5)?)
            .text(status.as_str())
            .opt_text(f.text(7));
        warnings.write(row);
        Ok(())
    },
};

static TEACHERS: StageSpec = StageSpec {
    source: "teachers",
    id_column: "id",
    entity: LegacyEntity::Teachers,
    legacy_columns: &[
        "id",
        "user_id",
        "person_id",
        "organization_id",
        "position",
        "hired_at",
        "fired_at",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "user_legacy_id",
        "person_legacy_id",
        "organization_legacy_id",
        "position",
        "hired_on",
        "left_on",
        "warnings",
    ],
    transform: |f, row| {
        row.opt_int(f.int(1)?)
            .opt_int(f.int(2)?)
            .opt_int(f.int(3)?)
            .opt_text(f.text(4))
            .opt_text(f.instant(5))
            .opt_text(f.instant(6));
        Warnings::default().write(row);
        Ok(())
    },
};

static JOURNAL: StageSpec = StageSpec {
    source: "journal",
    id_column: "id",
    entity: LegacyEntity::Journal,
    legacy_columns: &[
        "id",
        "student_id",
        "subject_id",
        "group_id",
        "teacher_id",
        "academic_year",
        "semester",
        "status",
        "mark_current",
        "mark_final",
        "updated_at",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "student_legacy_id",
        "subject_legacy_id",
        "group_legacy_id",
        "teacher_legacy_id",
        "academic_year",
        "semester",
        "status",
        "current_mark",
        "updated_at",
        "grade_raw",
        "grade_scale",
        "grade_value",
        "grade_points",
        "invalid_detail",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let term = CourseTerm::from_legacy(f.verbatim(5), f.int(6)?);
        let (academic_year, semester, invalid) = match &term {
            Ok(term) => (Some(term.academic_year.as_str()), Some(term.semester), None),
            Err(invalid) => (None, None, Some(invalid.to_string())),
        };
        let status = warnings.note(EnrollmentStatus::from_legacy(f.verbatim(7)));
        let grade = parse_mark(f.verbatim(9)).map(|grade| warnings.note(grade));
        let normalized = grade.as_ref().and_then(|grade| grade.normalized.as_ref());
        row.opt_int(f.int(1)?)
            .opt_int(f.int(2)?)
            .opt_int(f.int(3)?)
            .opt_int(f.int(4)?)
            .opt_text(academic_year)
            .opt_int(semester.map(i64::from))
            .text(status.as_str())
            .opt_text(f.text(8))
            .opt_text(f.instant(10))
            .opt_text(grade.as_ref().map(|grade| grade.raw.as_str()))
            .opt_text(normalized.map(|mark| mark.scale.as_str()))
            .opt_text(normalized.map(|mark| mark.value.as_str()))
            .opt_int(normalized.and_then(|mark| mark.points).map(i64::from))
            .opt_text(invalid.as_deref());
        warnings.write(row);
        Ok(())
    },
};

static EXAMS: StageSpec = StageSpec {
    source: "exams",
    id_column: "id",
    entity: LegacyEntity::Exams,
    legacy_columns: &[
        "id",
        "subject_id",
        "group_id",
        "teacher_id",
        "title",
        "exam_type",
        "exam_date",
        "max_score",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "subject_legacy_id",
        "group_legacy_id",
        "teacher_legacy_id",
        "title",
        "kind",
        "held_on",
        "max_score",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let id = f.id(0)?;
        row.opt_int(f.int(1)?)
            .opt_int(f.int(2)?)
            .opt_int(f.int(3)?)
            .text(&name_or_placeholder(f.text(4), "Exam", id, &mut warnings))
            .opt_text(f.text(5).map(lower).as_deref())
            .opt_text(f.instant(6))
            .display(warnings.note(number::max_score(f.verbatim(7))));
        warnings.write(row);
        Ok(())
    },
};

static EXAM_RESULTS: StageSpec = StageSpec {
    entity: LegacyEntity::ExamResults,
    source: "exam_results r LEFT JOIN exams e ON e.id = r.exam_id",
    id_column: "r.id",
    legacy_columns: &[
        "r.id",
        "r.exam_id",
        "r.student_id",
        "r.score",
        "r.submitted_at",
        "r.status",
        "r.answers",
        "e.max_score",
    ],
    stage_columns: &[
        "legacy_id",
        "source_hash",
        "exam_legacy_id",
        "student_legacy_id",
        "score",
        "score_detail",
        "submitted_at",
        "submitted_order",
        "status",
        "answers",
        "answers_raw",
        "warnings",
    ],
    transform: |f, row| {
        let mut warnings = Warnings::default();
        let status = warnings.note(SubmissionStatus::from_legacy(f.verbatim(5)));
        let answers = parse_answers(f.verbatim(6)).map(|answers| warnings.note(answers));
        let (json, raw) = match &answers {
            Some(Answers::Json(text)) => (Some(text.as_str()), None),
            Some(Answers::Raw(text)) => (None, Some(text.as_str())),
            None => (None, None),
        };
        // The exam's maximum, by the exams rule (NULL or unusable: 100).
        let max = number::max_score(f.verbatim(7)).value;
        let score = number::score(f.verbatim(3), max);
        let score_detail = match (score.warning, f.verbatim(3)) {
            (Some(WarningCode::ScoreOutOfRange), Some(raw)) => {
                Some(format!("score {raw} is outside 0..{max}"))
            }
            (Some(_), Some(raw)) => Some(format!("score {raw} is not a number the LMS can hold")),
            _ => None,
        };
        let score = warnings.note(score);
        row.opt_int(f.int(1)?)
            .opt_int(f.int(2)?)
            .opt_display(score)
            .opt_text(score_detail.as_deref())
            .opt_text(f.instant(4))
            // The resubmissions' order: the legacy value, whatever the LMS
            // can hold of it (resolve/results.rs).
            .opt_text(f.verbatim(4))
            .text(status.as_str())
            .opt_text(json)
            .opt_text(raw);
        warnings.write(row);
        Ok(())
    },
};
