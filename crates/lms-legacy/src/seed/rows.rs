//! Legacy rows as the generator writes them: exactly the columns of
//! `schema.sql`, with values kept as text where the schema allows dirt.

use lms_pg::copy_text::RowWriter;

/// A row of one legacy table that can be written with COPY.
pub trait LegacyRow {
    /// The table and its column list, for `COPY table (columns) FROM STDIN`.
    const TABLE: &'static str;
    const COLUMNS: &'static str;
    fn write(&self, row: &mut RowWriter<'_>);
}

#[derive(Debug, Clone)]
pub struct OrgRow {
    pub id: i32,
    pub parent_id: Option<i32>,
    pub name: String,
    pub short_name: Option<String>,
    pub org_type: Option<String>,
    pub bin: Option<String>,
    pub is_deleted: bool,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PersonRow {
    pub id: i32,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub iin: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i32,
    pub login: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub person_id: Option<i32>,
    pub role: String,
    pub is_active: bool,
    pub created_at: Option<String>,
    pub last_login_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: i32,
    pub organization_id: Option<i32>,
    pub name: String,
    pub course_no: Option<i16>,
    pub curator_teacher_id: Option<i32>,
    pub academic_year: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SubjectRow {
    pub id: i32,
    pub organization_id: Option<i32>,
    pub name: String,
    pub code: Option<String>,
    pub credits: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StudentRow {
    pub id: i32,
    pub user_id: Option<i32>,
    pub person_id: Option<i32>,
    pub organization_id: Option<i32>,
    pub group_id: Option<i32>,
    pub admission_year: Option<i16>,
    pub status: Option<String>,
    pub record_book_no: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TeacherRow {
    pub id: i32,
    pub user_id: Option<i32>,
    pub person_id: Option<i32>,
    pub organization_id: Option<i32>,
    pub position: Option<String>,
    pub hired_at: Option<String>,
    pub fired_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExamRow {
    pub id: i32,
    pub subject_id: Option<i32>,
    pub group_id: Option<i32>,
    pub teacher_id: Option<i32>,
    pub title: String,
    pub exam_type: Option<String>,
    pub exam_date: Option<String>,
    pub max_score: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JournalRow {
    pub id: i64,
    pub student_id: Option<i32>,
    pub subject_id: Option<i32>,
    pub group_id: Option<i32>,
    pub teacher_id: Option<i32>,
    pub academic_year: String,
    pub semester: i16,
    pub status: Option<String>,
    pub mark_current: Option<String>,
    pub mark_final: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExamResultRow {
    pub id: i64,
    pub exam_id: Option<i32>,
    pub student_id: Option<i32>,
    pub score: Option<String>,
    pub submitted_at: Option<String>,
    pub status: Option<String>,
    pub answers: Option<String>,
}

fn opt_i32(value: Option<i32>) -> Option<i64> {
    value.map(i64::from)
}

impl LegacyRow for OrgRow {
    const TABLE: &'static str = "organizations";
    const COLUMNS: &'static str =
        "id, parent_id, name, short_name, org_type, bin, is_deleted, created_at";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.parent_id))
            .text(&self.name)
            .opt_text(self.short_name.as_deref())
            .opt_text(self.org_type.as_deref())
            .opt_text(self.bin.as_deref())
            .bool(self.is_deleted)
            .opt_text(self.created_at.as_deref())
            .finish();
    }
}

impl LegacyRow for PersonRow {
    const TABLE: &'static str = "persons";
    const COLUMNS: &'static str =
        "id, last_name, first_name, middle_name, iin, birth_date, gender, phone, created_at";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_text(self.last_name.as_deref())
            .opt_text(self.first_name.as_deref())
            .opt_text(self.middle_name.as_deref())
            .opt_text(self.iin.as_deref())
            .opt_text(self.birth_date.as_deref())
            .opt_text(self.gender.as_deref())
            .opt_text(self.phone.as_deref())
            .opt_text(self.created_at.as_deref())
            .finish();
    }
}

impl LegacyRow for UserRow {
    const TABLE: &'static str = "users";
    const COLUMNS: &'static str =
        "id, login, email, password_hash, person_id, role, is_active, created_at, last_login_at";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .text(&self.login)
            .opt_text(self.email.as_deref())
            .opt_text(self.password_hash.as_deref())
            .opt_int(opt_i32(self.person_id))
            .text(&self.role)
            .bool(self.is_active)
            .opt_text(self.created_at.as_deref())
            .opt_text(self.last_login_at.as_deref())
            .finish();
    }
}

impl LegacyRow for GroupRow {
    const TABLE: &'static str = "groups";
    const COLUMNS: &'static str =
        "id, organization_id, name, course_no, curator_teacher_id, academic_year";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.organization_id))
            .text(&self.name)
            .opt_int(self.course_no.map(i64::from))
            .opt_int(opt_i32(self.curator_teacher_id))
            .opt_text(self.academic_year.as_deref())
            .finish();
    }
}

impl LegacyRow for SubjectRow {
    const TABLE: &'static str = "subjects";
    const COLUMNS: &'static str = "id, organization_id, name, code, credits";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.organization_id))
            .text(&self.name)
            .opt_text(self.code.as_deref())
            .opt_text(self.credits.as_deref())
            .finish();
    }
}

impl LegacyRow for StudentRow {
    const TABLE: &'static str = "students";
    const COLUMNS: &'static str =
        "id, user_id, person_id, organization_id, group_id, admission_year, status, record_book_no";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.user_id))
            .opt_int(opt_i32(self.person_id))
            .opt_int(opt_i32(self.organization_id))
            .opt_int(opt_i32(self.group_id))
            .opt_int(self.admission_year.map(i64::from))
            .opt_text(self.status.as_deref())
            .opt_text(self.record_book_no.as_deref())
            .finish();
    }
}

impl LegacyRow for TeacherRow {
    const TABLE: &'static str = "teachers";
    const COLUMNS: &'static str =
        "id, user_id, person_id, organization_id, position, hired_at, fired_at";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.user_id))
            .opt_int(opt_i32(self.person_id))
            .opt_int(opt_i32(self.organization_id))
            .opt_text(self.position.as_deref())
            .opt_text(self.hired_at.as_deref())
            .opt_text(self.fired_at.as_deref())
            .finish();
    }
}

impl LegacyRow for ExamRow {
    const TABLE: &'static str = "exams";
    const COLUMNS: &'static str =
        "id, subject_id, group_id, teacher_id, title, exam_type, exam_date, max_score";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id.into())
            .opt_int(opt_i32(self.subject_id))
            .opt_int(opt_i32(self.group_id))
            .opt_int(opt_i32(self.teacher_id))
            .text(&self.title)
            .opt_text(self.exam_type.as_deref())
            .opt_text(self.exam_date.as_deref())
            .opt_text(self.max_score.as_deref())
            .finish();
    }
}

impl LegacyRow for JournalRow {
    const TABLE: &'static str = "journal";
    const COLUMNS: &'static str = "id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_current, mark_final, updated_at";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id)
            .opt_int(opt_i32(self.student_id))
            .opt_int(opt_i32(self.subject_id))
            .opt_int(opt_i32(self.group_id))
            .opt_int(opt_i32(self.teacher_id))
            .text(&self.academic_year)
            .int(self.semester.into())
            .opt_text(self.status.as_deref())
            .opt_text(self.mark_current.as_deref())
            .opt_text(self.mark_final.as_deref())
            .opt_text(self.updated_at.as_deref())
            .finish();
    }
}

impl LegacyRow for ExamResultRow {
    const TABLE: &'static str = "exam_results";
    const COLUMNS: &'static str = "id, exam_id, student_id, score, submitted_at, status, answers";
    fn write(&self, row: &mut RowWriter<'_>) {
        row.int(self.id)
            .opt_int(opt_i32(self.exam_id))
            .opt_int(opt_i32(self.student_id))
            .opt_text(self.score.as_deref())
            .opt_text(self.submitted_at.as_deref())
            .opt_text(self.status.as_deref())
            .opt_text(self.answers.as_deref())
            .finish();
    }
}
