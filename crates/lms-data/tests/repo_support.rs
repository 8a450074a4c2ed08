//! Shared fixtures of the repository tests: a migrated database of the
//! test's own and a small domain inserted with plain SQL.
//!
//! The test files include this with `#[path]`; cargo also builds it as a
//! test target of its own, which has no tests.

#![allow(dead_code)]

use lms_data::{Database, Repository, schema};
use lms_pg::PoolConfig;
use lms_testkit::TestDatabase;
use sqlx::{AssertSqlSafe, PgPool};

/// A migrated database, its connection and a repository on it.
#[derive(Debug)]
pub struct Env {
    pub test_db: TestDatabase,
    pub db: Database,
    pub repo: Repository,
}

impl Env {
    pub async fn new(purpose: &str) -> anyhow::Result<Env> {
        let test_db = TestDatabase::create(purpose).await?;
        let db = Database::connect(test_db.url(), &PoolConfig::small("repo-test")).await?;
        schema::upgrade(&db).await?;
        let repo = Repository::new(&db);
        Ok(Env { test_db, db, repo })
    }

    pub fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    /// Runs one statement returning an id (`... RETURNING id`).
    pub async fn id(&self, sql: &str) -> anyhow::Result<i64> {
        let id: i64 = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.pool())
            .await?;
        Ok(id)
    }

    /// Runs statements separated by `;`.
    pub async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn finish(self) -> anyhow::Result<()> {
        self.db.pool().close().await;
        self.test_db.drop_now().await
    }
}

/// The ids of the fixture rows.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// Legacy 10.
    pub org1: i64,
    /// Born in the LMS, child of org1.
    pub org2: i64,
    /// Legacy 20, male, born 2005-03-01.
    pub person1: i64,
    /// Legacy 21, flagged deleted in legacy.
    pub person2: i64,
    /// Born in the LMS.
    pub person3: i64,
    /// Legacy 30, student, password hash "secret-hash".
    pub user1: i64,
    /// Legacy 31, teacher.
    pub user2: i64,
    /// Born in the LMS, student.
    pub user3: i64,
    /// Legacy 40, in org1.
    pub staff1: i64,
    pub group1: i64,
    pub group2: i64,
    /// "Math".
    pub subject1: i64,
    /// "Physics".
    pub subject2: i64,
    /// Legacy 50: person1, user1, org1, group1, active.
    pub student1: i64,
    /// Born in the LMS: person3, user3, org2, group2, expelled.
    pub student2: i64,
    /// Math, group1, 2025-2026, semester 1.
    pub course1: i64,
    /// Physics, group2, 2024-2025, semester 2.
    pub course2: i64,
    /// Legacy 5000000001: student1 in course1, staff1, active, flagged deleted.
    pub enrollment1: i64,
    /// student2 in course2, dropped.
    pub enrollment2: i64,
    /// Legacy 5000000001: enrollment1's final "5".
    pub grade1: i64,
    /// Legacy 60: Math, group1, staff1.
    pub assessment1: i64,
    /// Physics, group2.
    pub assessment2: i64,
    /// Legacy 7000000001: assessment1, student1, JSON answers, graded.
    pub submission1: i64,
    /// assessment2, student2, raw answers.
    pub submission2: i64,
    /// course1, a link.
    pub material1: i64,
    /// course1, a text.
    pub material2: i64,
    /// course2, a file.
    pub material3: i64,
}

pub async fn seed(env: &Env) -> anyhow::Result<Fixture> {
    let org1 = env
        .id("INSERT INTO organizations (legacy_id, name, short_name, org_type, bin, created_at) \
             VALUES (10, 'College One', 'C1', 'college', '123456789012', '2020-01-02T03:04:05Z') RETURNING id")
        .await?;
    let org2 = env
        .id(&format!(
            "INSERT INTO organizations (parent_id, name, archived) VALUES ({org1}, 'Branch', true) RETURNING id"
        ))
        .await?;
    let person1 = env
        .id("INSERT INTO persons (legacy_id, last_name, first_name, middle_name, iin, birth_date, gender, phone) \
             VALUES (20, 'Ivanov', 'Ivan', 'Ivanovich', '050301500123', '2005-03-01', 'male', '+7 700 000 0000') RETURNING id")
        .await?;
    let person2 = env
        .id(
            "INSERT INTO persons (legacy_id, last_name, gender, source_deleted_at) \
             VALUES (21, 'Petrova', 'female', now()) RETURNING id",
        )
        .await?;
    let person3 = env
        .id("INSERT INTO persons (last_name) VALUES ('Sidorov') RETURNING id")
        .await?;
    let user1 = env
        .id(&format!(
            "INSERT INTO users (legacy_id, person_id, login, email, password_hash, role, created_at) \
             VALUES (30, {person1}, 'ivanov', 'ivanov@mail.kz', 'secret-hash', 'student', '2021-09-01T00:00:00Z') RETURNING id"
        ))
        .await?;
    let user2 = env
        .id(&format!(
            "INSERT INTO users (legacy_id, person_id, login, role, password_reset_required) \
             VALUES (31, {person2}, 'petrova', 'teacher', true) RETURNING id"
        ))
        .await?;
    let user3 = env
        .id(&format!(
            "INSERT INTO users (person_id, login, role, activation_required, is_active) \
             VALUES ({person3}, 'sidorov', 'student', true, false) RETURNING id"
        ))
        .await?;
    let staff1 = env
        .id(&format!(
            "INSERT INTO staff_members (legacy_id, person_id, user_id, organization_id, position, hired_on) \
             VALUES (40, {person2}, {user2}, {org1}, 'teacher', '2015-09-01') RETURNING id"
        ))
        .await?;
    let group1 = env
        .id(&format!(
            "INSERT INTO student_groups (organization_id, name) VALUES ({org1}, 'G-1') RETURNING id"
        ))
        .await?;
    let group2 = env
        .id(&format!(
            "INSERT INTO student_groups (organization_id, name) VALUES ({org2}, 'G-2') RETURNING id"
        ))
        .await?;
    let subject1 = env
        .id("INSERT INTO subjects (legacy_id, name, credits) VALUES (1, 'Math', 4.5) RETURNING id")
        .await?;
    let subject2 = env
        .id("INSERT INTO subjects (name) VALUES ('Physics') RETURNING id")
        .await?;
    let student1 = env
        .id(&format!(
            "INSERT INTO students (legacy_id, person_id, user_id, organization_id, group_id, admission_year, status, record_book_no) \
             VALUES (50, {person1}, {user1}, {org1}, {group1}, 2023, 'active', 'RB-1') RETURNING id"
        ))
        .await?;
    let student2 = env
        .id(&format!(
            "INSERT INTO students (person_id, user_id, organization_id, group_id, status) \
             VALUES ({person3}, {user3}, {org2}, {group2}, 'expelled') RETURNING id"
        ))
        .await?;
    let course1 = env
        .id(&format!(
            "INSERT INTO courses (subject_id, group_id, academic_year, semester, derived_from_legacy) \
             VALUES ({subject1}, {group1}, '2025-2026', 1, true) RETURNING id"
        ))
        .await?;
    let course2 = env
        .id(&format!(
            "INSERT INTO courses (subject_id, group_id, academic_year, semester) \
             VALUES ({subject2}, {group2}, '2024-2025', 2) RETURNING id"
        ))
        .await?;
    let enrollment1 = env
        .id(&format!(
            "INSERT INTO course_enrollments (legacy_id, student_id, course_id, teacher_id, status, current_mark, updated_at, source_deleted_at) \
             VALUES (5000000001, {student1}, {course1}, {staff1}, 'active', '5', '2025-10-01T10:00:00Z', now()) RETURNING id"
        ))
        .await?;
    let enrollment2 = env
        .id(&format!(
            "INSERT INTO course_enrollments (student_id, course_id, status) \
             VALUES ({student2}, {course2}, 'dropped') RETURNING id"
        ))
        .await?;
    let grade1 = env
        .id(&format!(
            "INSERT INTO grades (legacy_id, enrollment_id, kind, raw_mark, scale, value, points, graded_at) \
             VALUES (5000000001, {enrollment1}, 'final', '5', 'five_point', '5', 5, '2025-12-20T09:00:00Z') RETURNING id"
        ))
        .await?;
    let assessment1 = env
        .id(&format!(
            "INSERT INTO assessments (legacy_id, subject_id, group_id, teacher_id, title, kind, held_on, max_score) \
             VALUES (60, {subject1}, {group1}, {staff1}, 'Exam', 'exam', '2025-12-15', 100) RETURNING id"
        ))
        .await?;
    let assessment2 = env
        .id(&format!(
            "INSERT INTO assessments (subject_id, group_id, title) VALUES ({subject2}, {group2}, 'Quiz') RETURNING id"
        ))
        .await?;
    let submission1 = env
        .id(&format!(
            "INSERT INTO assessment_submissions (legacy_id, assessment_id, student_id, score, submitted_at, status, answers) \
             VALUES (7000000001, {assessment1}, {student1}, 87.5, '2025-12-15T12:00:00Z', 'graded', '{{\"q1\": \"a\"}}') RETURNING id"
        ))
        .await?;
    let submission2 = env
        .id(&format!(
            "INSERT INTO assessment_submissions (assessment_id, student_id, answers_raw) \
             VALUES ({assessment2}, {student2}, 'not json') RETURNING id"
        ))
        .await?;
    let material1 = env
        .id(&format!(
            "INSERT INTO course_materials (course_id, title, kind, url, position) \
             VALUES ({course1}, 'Syllabus', 'link', 'https://example.org/s', 1) RETURNING id"
        ))
        .await?;
    let material2 = env
        .id(&format!(
            "INSERT INTO course_materials (course_id, title, kind, body, position) \
             VALUES ({course1}, 'Notes', 'text', 'Read chapter 1', 2) RETURNING id"
        ))
        .await?;
    let material3 = env
        .id(&format!(
            "INSERT INTO course_materials (course_id, title, kind, url) \
             VALUES ({course2}, 'Slides', 'file', 'files/slides.pdf') RETURNING id"
        ))
        .await?;
    Ok(Fixture {
        org1,
        org2,
        person1,
        person2,
        person3,
        user1,
        user2,
        user3,
        staff1,
        group1,
        group2,
        subject1,
        subject2,
        student1,
        student2,
        course1,
        course2,
        enrollment1,
        enrollment2,
        grade1,
        assessment1,
        assessment2,
        submission1,
        submission2,
        material1,
        material2,
        material3,
    })
}
