//! Every rule of the contract on hand-made legacy rows, each with the exact
//! outcome DATA.md (and docs/contract.md, where DATA.md is silent) gives it.

// Rows read back from SQL are tuples; naming each shape would add nothing.
#![allow(clippy::type_complexity)]

mod support;

use lms_engine::RunStatus;
use sqlx::Row;
use support::{Fixture, entity, ledger};

const LEGACY_ROWS: &str = r#"
INSERT INTO organizations (id, parent_id, name, org_type, is_deleted) VALUES
    (1, NULL, 'Root network', 'Network', false),
    (2, 1, 'College', ' College ', false),
    (3, 99, 'Lost child', 'department', false),
    (4, 1, '   ', NULL, true);
INSERT INTO persons (id, last_name, first_name, birth_date, gender) VALUES
    (1, 'Ахметов', 'Нұрлан', '2001-02-29', 'м'),
    (2, ' Қасымова ', 'Әлия', '29.02.2004', 'ж'),
    (3, 'Petrov', 'Ivan', '', 'X'),
    (4, 'Smirnova', 'Olga', NULL, 'F'),
    (5, 'Nobody', 'Refers', '1999-12-31', NULL);
INSERT INTO users (id, login, email, password_hash, person_id, role) VALUES
    (1, 'Ivan', ' IVAN@Mail.KZ ', '$2a$10$abcdefghijklmnopqrstuv0123456789ABCDEFGHIJKLMNOPQRSTU', 1, ' Teacher '),
    (2, ' ivan ', 'ivan@mail.kz', '5f4dcc3b5aa765d61d8327deb882cf99', 999, 'student'),
    (3, 'ivan.2', NULL, '$2y$10$abcdefghijklmnopqrstuv0123456789ABCDEFGHIJKLMNOPQRSTU', NULL, 'Director'),
    (4, 'Әлия', 'not-an-email', NULL, 2, 'PARENT'),
    (5, 'әлия', '   ', NULL, NULL, 'methodist'),
    (6, '   ', 'six@mail.kz', NULL, NULL, 'admin'),
    (10, 'nurlan', 'nurlan@mail.kz', NULL, 1, 'student'),
    (11, 'aliya', 'aliya@mail.kz', NULL, 2, 'student'),
    (12, 'Student.107', NULL, NULL, NULL, 'student');
INSERT INTO groups (id, organization_id, name, course_no, curator_teacher_id, academic_year) VALUES
    (1, 2, 'ИС-23-1', 2, 202, '2024-2025');
INSERT INTO subjects (id, organization_id, name) VALUES (1, 2, 'Математика'), (2, 2, 'Физическая культура');
INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) VALUES
    (100, 10, 1, 2, 1, ' Active '),
    (101, 11, 1, 2, 1, 'expelled'),
    (102, NULL, 1, NULL, NULL, NULL),
    (103, 10, 77, 2, 1, 'active'),
    (104, 10, NULL, 2, 1, 'active'),
    (105, 999, 2, 2, 999, 'перевод'),
    (106, 10, 3, 2, 1, 'graduated'),
    (107, NULL, 4, 2, 1, 'academic_leave');
INSERT INTO teachers (id, user_id, person_id, organization_id, position) VALUES
    (200, NULL, 4, 2, 'Преподаватель'),
    (201, 11, 88, 2, NULL),
    (202, 11, 2, 2, 'Teacher');
INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) VALUES
    (1000, 100, 1, 1, 202, '2023-2024', 1, 'COMPLETED', '5'),
    (1001, 101, 1, 1, 202, '2023-2024', 1, 'completed', '3'),
    (1002, 100, 1, 1, 202, ' 2023-2024 ', 1, 'completed', '4'),
    (1003, 100, 2, 1, 202, '2023-2024', 1, 'completed', ''),
    (1004, 100, 2, 1, 202, '2023-2024', 1, 'completed', 'зачет'),
    (1005, 103, 1, 1, 202, '2023-2024', 1, 'completed', '5'),
    (1006, 9999, 1, 1, 202, '2023-2024', 1, 'completed', '5'),
    (1007, 100, 999, 1, 202, '2023-2024', 1, 'completed', '5'),
    (1008, 100, 1, NULL, 999, '2023-2024', 1, NULL, 'B+'),
    (1009, 100, 1, 999, 202, '2023-2024', 1, 'active', 'отл'),
    (1010, 100, 1, 1, NULL, '2024-2025', 2, 'weird', '87'),
    (1011, 100, 1, 1, 202, '  ', 1, 'active', NULL),
    (1012, 100, 1, 1, 202, '2024-2025', 3, 'active', NULL),
    (1013, 100, 2, 1, 202, '2024-2025', 2, 'dropped', '4.5');
INSERT INTO exams (id, subject_id, group_id, teacher_id, title, exam_type, max_score) VALUES
    (1, 1, 1, 202, 'Экзамен', ' Exam ', NULL),
    (2, 999, 1, 202, 'Lost exam', 'test', 100),
    (3, 1, 1, 202, '  ', 'quiz', 5);
INSERT INTO exam_results (id, exam_id, student_id, score, submitted_at, status, answers) VALUES
    (5000, 1, 100, 80, '2024-01-10 10:00', 'graded', '{"q1": "a"}'),
    (5001, 1, 101, 70, '2024-01-12 10:00', 'graded', '{"q1": "b"}'),
    (5002, 1, 100, 90, '2024-01-15 10:00', 'Annulled', '{q1: a'),
    (5003, 1, 100, 95, NULL, 'graded', '[]'),
    (5004, 2, 100, 50, '2024-01-15 10:00', 'graded', NULL),
    (5005, 3, 105, 7, '2024-02-01 09:00', 'graded', NULL),
    (5006, 3, 106, -1, '2024-02-01 09:00', 'graded', NULL),
    (5007, 3, 106, 4, '2024-02-01 09:00', 'graded', NULL),
    (5008, 3, 9999, 3, '2024-02-01 09:00', 'graded', NULL),
    (5009, 99, 100, 3, '2024-02-01 09:00', 'graded', NULL),
    (5010, 1, 102, 60, '2024-02-01 09:00', NULL, '{"q": "\u0000"}');
UPDATE organizations SET created_at = '-infinity' WHERE id = 1;
UPDATE organizations SET created_at = '2010-05-01 08:00' WHERE id = 2;
UPDATE users SET last_login_at = 'infinity' WHERE id = 1;
UPDATE teachers SET hired_at = '2019-09-01', fired_at = 'infinity' WHERE id = 200;
"#;

fn strings(values: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn each_rule_gives_the_contracts_outcome() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("rules").await?;
    fixture.legacy_sql(LEGACY_ROWS).await?;
    let report = fixture.migrate(3).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let lms = fixture.lms();

    // Organizations: all migrated; a dangling parent becomes NULL with a warning.
    assert_eq!(
        ledger(lms, "organizations", 3).await?.warnings,
        strings(&["dangling_parent"])
    );
    assert_eq!(
        ledger(lms, "organizations", 4).await?.warnings,
        strings(&["name_missing"])
    );
    let org: (Option<i64>, String, Option<String>, bool) = sqlx::query_as(
        "SELECT o.parent_id, o.name, o.org_type, o.archived FROM organizations o WHERE legacy_id = 4",
    )
    .fetch_one(lms)
    .await?;
    assert_eq!(
        (org.1.as_str(), org.2, org.3),
        ("Organization 4", None, true)
    );
    // Timestamps and dates of infinity name no instant: they become NULL.
    let created: Vec<(i32, Option<String>)> = sqlx::query_as(
        "SELECT legacy_id, created_at::text FROM organizations WHERE legacy_id IN (1, 2) ORDER BY 1",
    )
    .fetch_all(lms)
    .await?;
    assert_eq!(created[0], (1, None));
    assert!(created[1].1.is_some(), "{created:?}");
    let last_login: Option<String> =
        sqlx::query_scalar("SELECT last_login_at::text FROM users WHERE legacy_id = 1")
            .fetch_one(lms)
            .await?;
    assert_eq!(last_login, None);
    let service: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT hired_on::text, left_on::text FROM staff_members WHERE legacy_id = 200",
    )
    .fetch_one(lms)
    .await?;
    assert_eq!(service, (Some("2019-09-01".to_owned()), None));

    let parents: Vec<(i32, Option<i32>)> = sqlx::query_as(
        "SELECT o.legacy_id, p.legacy_id FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id ORDER BY 1",
    )
    .fetch_all(lms)
    .await?;
    assert_eq!(
        parents,
        vec![(1, None), (2, Some(1)), (3, None), (4, Some(1))]
    );
    let org_type: String = sqlx::query("SELECT org_type FROM organizations WHERE legacy_id = 2")
        .fetch_one(lms)
        .await?
        .get(0);
    assert_eq!(org_type, "college");

    // Persons: dates in two formats when real; gender from the contract's list.
    assert_eq!(
        ledger(lms, "persons", 1).await?.warnings,
        strings(&["unparseable_birth_date"])
    );
    assert!(
        ledger(lms, "persons", 3).await?.warnings.is_empty(),
        "a blank date is no warning"
    );
    let persons: Vec<(i32, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT legacy_id, birth_date::text, gender, last_name FROM persons ORDER BY legacy_id",
    )
    .fetch_all(lms)
    .await?;
    assert_eq!(
        persons[0],
        (1, None, Some("male".into()), Some("Ахметов".into()))
    );
    assert_eq!(
        persons[1],
        (
            2,
            Some("2004-02-29".into()),
            Some("female".into()),
            Some("Қасымова".into())
        )
    );
    assert_eq!(persons[2].2, None, "X is no gender");
    assert_eq!(
        entity(&report, "persons").migrated,
        5,
        "persons referenced by no one migrate too"
    );

    // Users: logins, emails, roles, passwords.
    let users: Vec<(i32, String, Option<String>, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT legacy_id, login, email, role, password_hash, password_reset_required FROM users \
         WHERE legacy_id IS NOT NULL ORDER BY legacy_id",
    )
    .fetch_all(lms)
    .await?;
    let by_id = |id: i32| {
        users
            .iter()
            .find(|user| user.0 == id)
            .cloned()
            .expect("user migrated")
    };
    assert_eq!(by_id(1).1, "Ivan");
    assert_eq!(by_id(1).2.as_deref(), Some("ivan@mail.kz"));
    assert_eq!((by_id(1).3.as_str(), by_id(1).5), ("teacher", false));
    assert!(by_id(1).4.is_some(), "bcrypt hashes are kept");
    assert_eq!(
        by_id(2).1,
        "ivan.2.2",
        "renamed, then renamed again: `ivan.2` is user 3's own login"
    );
    assert_eq!((by_id(2).2, by_id(2).4, by_id(2).5), (None, None, true));
    assert_eq!(
        ledger(lms, "users", 2).await?.warnings,
        strings(&[
            "dangling_person",
            "email_duplicate",
            "login_renamed",
            "password_reset_required"
        ])
    );
    assert_eq!(
        (by_id(3).1.as_str(), by_id(3).3.as_str()),
        ("ivan.2", "other")
    );
    assert_eq!(
        ledger(lms, "users", 3).await?.warnings,
        strings(&["unknown_role"])
    );
    assert_eq!((by_id(4).1.as_str(), by_id(4).2.as_deref()), ("Әлия", None));
    assert_eq!(
        ledger(lms, "users", 4).await?.warnings,
        strings(&["email_invalid"])
    );
    assert_eq!(
        by_id(5).1,
        "әлия.5",
        "Kazakh letters collide under Unicode lower()"
    );
    assert_eq!(
        ledger(lms, "users", 5).await?.warnings,
        strings(&["login_renamed"])
    );
    assert_eq!(
        (by_id(6).1.as_str(), by_id(6).2.as_deref()),
        ("user.6", Some("six@mail.kz"))
    );
    assert_eq!(entity(&report, "users").migrated, 9, "no user is lost");

    // Students.
    assert!(ledger(lms, "students", 100).await?.warnings.is_empty());
    let merged = ledger(lms, "students", 101).await?;
    assert_eq!(
        (merged.outcome.as_str(), merged.survivor),
        ("merged", Some(100))
    );
    assert_eq!(
        merged.target_id,
        ledger(lms, "students", 100).await?.target_id,
        "merged rows share the survivor's target"
    );
    assert_eq!(
        ledger(lms, "students", 102).await?.warnings,
        strings(&["user_provisioned"]),
        "NULL organization is its own key"
    );
    for orphan in [103, 104] {
        let entry = ledger(lms, "students", orphan).await?;
        assert_eq!(
            (entry.outcome.as_str(), entry.reason.as_deref()),
            ("rejected", Some("orphan_reference"))
        );
    }
    assert_eq!(
        ledger(lms, "students", 105).await?.warnings,
        strings(&["unknown_status", "user_provisioned"])
    );
    let student: (String, Option<i64>) =
        sqlx::query_as("SELECT status, group_id FROM students WHERE legacy_id = 105")
            .fetch_one(lms)
            .await?;
    assert_eq!(
        student,
        ("active".to_owned(), None),
        "unknown status is active; a dangling group is NULL"
    );
    let shared: i64 =
        sqlx::query("SELECT count(DISTINCT user_id) FROM students WHERE legacy_id IN (100, 106)")
            .fetch_one(lms)
            .await?
            .get(0);
    assert_eq!(shared, 1, "students sharing a legacy user keep sharing it");
    let provisioned: Vec<(String, Option<String>, bool, String)> = sqlx::query_as(
        "SELECT login, email, activation_required, provisioned_for FROM users WHERE provisioned_for IS NOT NULL ORDER BY 4",
    )
    .fetch_all(lms)
    .await?;
    let logins: Vec<&str> = provisioned.iter().map(|user| user.0.as_str()).collect();
    assert_eq!(
        logins,
        vec!["student.102", "student.105", "student.107.107", "staff.200"]
    );
    assert!(
        provisioned.iter().all(|user| user.1.is_none() && user.2),
        "no email, to be activated"
    );

    // Teachers.
    assert_eq!(
        ledger(lms, "teachers", 200).await?.warnings,
        strings(&["user_provisioned"])
    );
    assert_eq!(
        ledger(lms, "teachers", 201).await?.reason.as_deref(),
        Some("orphan_reference")
    );
    assert!(ledger(lms, "teachers", 202).await?.warnings.is_empty());
    let curator: Option<i32> = sqlx::query(
        "SELECT t.legacy_id FROM student_groups g JOIN staff_members t ON t.id = g.curator_id WHERE g.legacy_id = 1",
    )
    .fetch_one(lms)
    .await?
    .get(0);
    assert_eq!(curator, Some(202));

    // Journal.
    for (id, survivor) in [(1001, 1000), (1002, 1000), (1004, 1003), (1009, 1008)] {
        let entry = ledger(lms, "journal", id).await?;
        assert_eq!(
            (entry.outcome.as_str(), entry.survivor),
            ("merged", Some(survivor)),
            "journal {id}"
        );
    }
    for id in [1005, 1006, 1007] {
        assert_eq!(
            ledger(lms, "journal", id).await?.reason.as_deref(),
            Some("orphan_reference"),
            "journal {id}"
        );
    }
    for id in [1011, 1012] {
        assert_eq!(
            ledger(lms, "journal", id).await?.reason.as_deref(),
            Some("invalid_value"),
            "journal {id}"
        );
    }
    assert_eq!(
        ledger(lms, "journal", 1010).await?.warnings,
        strings(&["unknown_status"])
    );
    assert_eq!(
        ledger(lms, "journal", 1013).await?.warnings,
        strings(&["unparseable_mark"])
    );
    let grades: Vec<(i64, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT legacy_id, raw_mark, scale, value FROM grades ORDER BY legacy_id")
            .fetch_all(lms)
            .await?;
    assert_eq!(
        grades,
        vec![
            (
                1000,
                "5".into(),
                Some("five_point".into()),
                Some("5".into())
            ),
            (1008, "B+".into(), Some("letter".into()), Some("B+".into())),
            (1010, "87".into(), Some("percent".into()), Some("87".into())),
            (1013, "4.5".into(), None, None),
        ],
        "one grade per surviving row with a mark; 1003's blank survivor has none"
    );
    let courses: i64 = sqlx::query("SELECT count(*) FROM courses")
        .fetch_one(lms)
        .await?
        .get(0);
    assert_eq!(courses, 5);
    let journal = entity(&report, "journal");
    assert_eq!(
        (journal.migrated, journal.merged, journal.rejected_total()),
        (5, 4, 5)
    );

    // Exams and results.
    assert_eq!(
        ledger(lms, "exams", 2).await?.reason.as_deref(),
        Some("orphan_reference")
    );
    let max: String = sqlx::query("SELECT max_score::text FROM assessments WHERE legacy_id = 1")
        .fetch_one(lms)
        .await?
        .get(0);
    assert_eq!(max, "100.00", "a NULL max_score means 100");
    for (id, survivor) in [(5000, 5002), (5001, 5002), (5003, 5002), (5006, 5007)] {
        let entry = ledger(lms, "exam_results", id).await?;
        assert_eq!(
            (entry.outcome.as_str(), entry.survivor),
            ("merged", Some(survivor)),
            "result {id}"
        );
    }
    for id in [5004, 5008, 5009] {
        assert_eq!(
            ledger(lms, "exam_results", id).await?.reason.as_deref(),
            Some("orphan_reference"),
            "result {id}"
        );
    }
    assert_eq!(
        ledger(lms, "exam_results", 5002).await?.warnings,
        strings(&["invalid_answers_json"])
    );
    assert_eq!(
        ledger(lms, "exam_results", 5005).await?.warnings,
        strings(&["score_out_of_range"])
    );
    assert_eq!(
        ledger(lms, "exam_results", 5010).await?.warnings,
        strings(&["invalid_answers_json"])
    );
    let submissions: Vec<(i64, Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT legacy_id, score::text, status, answers_raw FROM assessment_submissions ORDER BY legacy_id",
    )
    .fetch_all(lms)
    .await?;
    assert_eq!(
        submissions,
        vec![
            (
                5002,
                Some("90.00".into()),
                "annulled".into(),
                Some("{q1: a".into())
            ),
            (5005, None, "graded".into(), None),
            (5007, Some("4.00".into()), "graded".into(), None),
            (
                5010,
                Some("60.00".into()),
                "submitted".into(),
                Some(r#"{"q": "\u0000"}"#.into())
            ),
        ]
    );

    // Every row accounted for.
    for table in &report.entities {
        assert_eq!(table.unexplained, 0, "{}", table.entity);
        assert_eq!(table.explained(), table.legacy_rows, "{}", table.entity);
    }
    fixture.close().await
}

/// An organization its own parent, a ring of three with a branch hanging
/// from it, and a ring of two: each ring is broken at its lowest id.
const RINGS_OF_PARENTS: &str = "
INSERT INTO organizations (id, parent_id, name) VALUES
    (1, NULL, 'Root'), (3, 3, 'Itself'),
    (4, 5, 'Ring a'), (5, 6, 'Ring b'), (6, 4, 'Ring c'), (7, 4, 'Branch'),
    (8, 9, 'Pair a'), (9, 8, 'Pair b');
";

#[tokio::test]
async fn a_ring_of_parents_is_broken_at_its_lowest_id() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentrings").await?;
    fixture.legacy_sql(RINGS_OF_PARENTS).await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let links: Vec<(i64, Option<i64>, Vec<String>)> = sqlx::query_as(
        "SELECT o.legacy_id::bigint, p.legacy_id::bigint, l.warnings \
         FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id \
         JOIN migration.ledger l ON l.entity = 'organizations' AND l.legacy_id = o.legacy_id \
         ORDER BY o.legacy_id",
    )
    .fetch_all(fixture.lms())
    .await?;
    let dangling = || vec!["dangling_parent".to_owned()];
    assert_eq!(
        links,
        [
            (1, None, vec![]),
            (3, None, dangling()),
            (4, None, dangling()),
            (5, Some(6), vec![]),
            (6, Some(4), vec![]),
            (7, Some(4), vec![]),
            (8, None, dangling()),
            (9, Some(8), vec![]),
        ]
    );
    fixture.close().await
}
