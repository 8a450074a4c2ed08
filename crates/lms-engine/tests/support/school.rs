//! A small hand-made legacy school for the delta tests: two students of one
//! group, their journal rows (two semesters of one subject for the first
//! student), one exam with a result of each.

use lms_engine::{ConflictPolicy, RunStatus};
use sqlx::PgPool;

use super::Fixture;

pub const SCHOOL: &str = r#"
INSERT INTO organizations (id, name) VALUES (1, 'College');
INSERT INTO persons (id, last_name, first_name) VALUES (1, 'Ахметов', 'Нұрлан'), (2, 'Petrova', 'Anna'), (3, 'Ivanov', 'Ivan');
INSERT INTO users (id, login, email, person_id, role) VALUES
    (1, 'alpha', 'alpha@mail.kz', 1, 'student'),
    (2, 'beta', 'beta@mail.kz', 2, 'student'),
    (3, 'gamma', NULL, 3, 'teacher');
INSERT INTO groups (id, organization_id, name) VALUES (1, 1, 'ИС-24-1');
INSERT INTO subjects (id, organization_id, name) VALUES (1, 1, 'Math'), (2, 1, 'Physics');
INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) VALUES
    (10, 1, 1, 1, 1, 'active'),
    (11, 2, 2, 1, 1, 'active');
INSERT INTO teachers (id, user_id, person_id, organization_id) VALUES (20, 3, 3, 1);
INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) VALUES
    (100, 10, 1, 1, 20, '2024-2025', 1, 'active', '5'),
    (101, 10, 1, 1, 20, '2024-2025', 2, 'active', '4'),
    (102, 11, 1, 1, 20, '2024-2025', 1, 'active', NULL),
    (103, 11, 2, 1, 20, '2024-2025', 1, 'completed', 'зачет');
INSERT INTO exams (id, subject_id, group_id, title, max_score) VALUES (30, 1, 1, 'Final', 100);
INSERT INTO exam_results (id, exam_id, student_id, score, submitted_at, status, answers) VALUES
    (300, 30, 10, 80, '2025-01-10 10:00', 'graded', '{"q": 1}'),
    (301, 30, 11, 70, '2025-01-10 11:00', 'graded', NULL);
"#;

/// A fixture with [`SCHOOL`] as its legacy database, migrated once.
pub async fn migrated_school(purpose: &str) -> anyhow::Result<Fixture> {
    let fixture = Fixture::empty_legacy(purpose).await?;
    fixture.legacy_sql(SCHOOL).await?;
    let report = fixture.migrate(2).await?;
    anyhow::ensure!(
        report.status == RunStatus::Succeeded,
        "first run: {:?}",
        report.error
    );
    Ok(fixture)
}

/// The school with legacy user 4 migrated and then deleted in the LMS, and
/// a new legacy student 12 whose user it is, not yet migrated.
pub async fn school_with_a_student_whose_user_was_deleted_in_the_lms(
    purpose: &str,
) -> anyhow::Result<Fixture> {
    let fixture = migrated_school(purpose).await?;
    fixture
        .legacy_sql("INSERT INTO users (id, login, role) VALUES (4, 'delta', 'parent')")
        .await?;
    let report = fixture.rerun(2, ConflictPolicy::KeepLms, 2).await?;
    anyhow::ensure!(
        report.status == RunStatus::Succeeded,
        "user 4's run: {:?}",
        report.error
    );
    fixture
        .lms_sql("DELETE FROM users WHERE legacy_id = 4")
        .await?;
    fixture
        .legacy_sql(
            "INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) \
             VALUES (12, 4, 3, 1, 1, 'active')",
        )
        .await?;
    Ok(fixture)
}

/// One column of the LMS row a legacy row became.
pub async fn lms_value(
    pool: &PgPool,
    table: &str,
    column: &str,
    legacy_id: i64,
) -> anyhow::Result<Option<String>> {
    let query = format!("SELECT {column}::text FROM {table} WHERE legacy_id = $1");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(query))
        .bind(legacy_id)
        .fetch_one(pool)
        .await?)
}

/// An enrollment another service created for student 11 in course
/// (Physics, semester 2), with the given status.
pub fn lms_born_enrollment(status: &str) -> String {
    format!(
        "INSERT INTO courses (subject_id, group_id, academic_year, semester) \
             SELECT s.id, g.id, '2024-2025', 2 FROM subjects s, student_groups g \
             WHERE s.legacy_id = 2 AND g.legacy_id = 1; \
         INSERT INTO course_enrollments (student_id, course_id, status, updated_at) \
             SELECT st.id, c.id, '{status}', now() FROM students st, courses c \
             WHERE st.legacy_id = 11 AND c.semester = 2 AND c.derived_from_legacy = false;"
    )
}

/// Legacy's row for that enrollment's key.
pub const LEGACY_ROW_IN_THAT_COURSE: &str = "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status) \
     VALUES (104, 11, 2, 1, NULL, '2024-2025', 2, 'active')";
