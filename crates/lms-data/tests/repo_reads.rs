//! The repository's reads on a real PostgreSQL: get, lookup by legacy id,
//! NotFound, every filter, and keyset pagination.

#[path = "repo_support.rs"]
mod support;

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone, Utc};
use lms_domain::DomainError;
use lms_domain::account::Role;
use lms_domain::mark::GradeScale;
use lms_domain::model::*;
use lms_domain::person::Gender;
use lms_domain::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};
use rust_decimal::Decimal;
use support::{Env, seed};

fn is_not_found(result: Result<impl std::fmt::Debug, DomainError>, resource: &str) -> bool {
    result.err().is_some_and(
        |error| matches!(error, DomainError::NotFound { resource: r, .. } if r == resource),
    )
}

fn legacy(legacy_id: i64, source_deleted: bool) -> Option<Legacy> {
    Some(Legacy {
        legacy_id,
        source_deleted,
    })
}

const MISSING: i64 = 987_654_321;

#[tokio::test]
async fn directory_resources_by_id_and_legacy_id() -> anyhow::Result<()> {
    let env = Env::new("repodirectory").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;

    let org = repo.get_organization(OrganizationId(f.org1)).await?;
    assert_eq!(
        org,
        Organization {
            id: OrganizationId(f.org1),
            parent_id: None,
            name: "College One".into(),
            short_name: Some("C1".into()),
            org_type: Some("college".into()),
            bin: Some("123456789012".into()),
            archived: false,
            created_at: Some(Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap()),
            legacy: legacy(10, false),
        }
    );
    assert_eq!(repo.lookup_organization(10).await?, org);
    let branch = repo.get_organization(OrganizationId(f.org2)).await?;
    assert_eq!(branch.parent_id, Some(OrganizationId(f.org1)));
    assert!(branch.archived);
    assert_eq!(branch.legacy, None, "no legacy id, no legacy");
    assert!(is_not_found(
        repo.get_organization(OrganizationId(MISSING)).await,
        "organization"
    ));
    assert!(is_not_found(
        repo.lookup_organization(MISSING).await,
        "organization"
    ));
    // Beyond the integer legacy ids: cannot exist, still a NotFound.
    assert!(is_not_found(
        repo.lookup_organization(i64::MAX).await,
        "organization"
    ));

    let person = repo.get_person(PersonId(f.person1)).await?;
    assert_eq!(
        person,
        Person {
            id: PersonId(f.person1),
            last_name: Some("Ivanov".into()),
            first_name: Some("Ivan".into()),
            middle_name: Some("Ivanovich".into()),
            iin: Some("050301500123".into()),
            birth_date: NaiveDate::from_ymd_opt(2005, 3, 1),
            gender: Some(Gender::Male),
            phone: Some("+7 700 000 0000".into()),
            legacy: legacy(20, false),
        }
    );
    assert_eq!(repo.lookup_person(20).await?, person);
    let deleted = repo.lookup_person(21).await?;
    assert_eq!(
        deleted.legacy,
        legacy(21, true),
        "flagged rows are returned"
    );
    assert_eq!(deleted.gender, Some(Gender::Female));
    assert_eq!(repo.get_person(PersonId(f.person3)).await?.legacy, None);
    assert!(is_not_found(
        repo.get_person(PersonId(MISSING)).await,
        "person"
    ));
    assert!(is_not_found(repo.lookup_person(MISSING).await, "person"));

    let user = repo.get_user(UserId(f.user1)).await?;
    assert_eq!(
        user,
        User {
            id: UserId(f.user1),
            person_id: Some(PersonId(f.person1)),
            login: "ivanov".into(),
            email: Some("ivanov@mail.kz".into()),
            role: Role::Student,
            is_active: true,
            password_reset_required: false,
            activation_required: false,
            created_at: Some(Utc.with_ymd_and_hms(2021, 9, 1, 0, 0, 0).unwrap()),
            last_login_at: None,
            legacy: legacy(30, false),
        }
    );
    assert!(
        !format!("{user:?}").contains("secret-hash"),
        "the password hash never leaves the data layer"
    );
    assert_eq!(repo.lookup_user(30).await?, user);
    let teacher = repo.lookup_user(31).await?;
    assert_eq!(
        (teacher.role, teacher.password_reset_required),
        (Role::Teacher, true)
    );
    let provisioned = repo.get_user(UserId(f.user3)).await?;
    assert_eq!(
        (
            provisioned.activation_required,
            provisioned.is_active,
            provisioned.legacy
        ),
        (true, false, None)
    );
    assert!(is_not_found(repo.get_user(UserId(MISSING)).await, "user"));
    assert!(is_not_found(repo.lookup_user(MISSING).await, "user"));

    let staff = repo.get_staff_member(StaffMemberId(f.staff1)).await?;
    assert_eq!(
        staff,
        StaffMember {
            id: StaffMemberId(f.staff1),
            person_id: PersonId(f.person2),
            user_id: UserId(f.user2),
            organization_id: Some(OrganizationId(f.org1)),
            position: Some("teacher".into()),
            hired_on: NaiveDate::from_ymd_opt(2015, 9, 1),
            left_on: None,
            legacy: legacy(40, false),
        }
    );
    assert_eq!(repo.lookup_staff_member(40).await?, staff);
    assert!(is_not_found(
        repo.get_staff_member(StaffMemberId(MISSING)).await,
        "staff member"
    ));
    assert!(is_not_found(
        repo.lookup_staff_member(MISSING).await,
        "staff member"
    ));
    env.finish().await
}

#[tokio::test]
async fn teaching_resources_by_id_and_legacy_id() -> anyhow::Result<()> {
    let env = Env::new("repoteaching").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;

    let student = repo.get_student(StudentId(f.student1)).await?;
    assert_eq!(
        student,
        Student {
            id: StudentId(f.student1),
            person_id: PersonId(f.person1),
            user_id: UserId(f.user1),
            organization_id: Some(OrganizationId(f.org1)),
            group_id: Some(GroupId(f.group1)),
            admission_year: Some(2023),
            status: StudentStatus::Active,
            record_book_no: Some("RB-1".into()),
            legacy: legacy(50, false),
        }
    );
    assert_eq!(repo.lookup_student(50).await?, student);
    let expelled = repo.get_student(StudentId(f.student2)).await?;
    assert_eq!(
        (expelled.status, expelled.legacy),
        (StudentStatus::Expelled, None)
    );
    assert!(is_not_found(
        repo.get_student(StudentId(MISSING)).await,
        "student"
    ));
    assert!(is_not_found(repo.lookup_student(MISSING).await, "student"));

    let course = repo.get_course(CourseId(f.course1)).await?;
    assert_eq!(
        course,
        Course {
            id: CourseId(f.course1),
            subject_id: SubjectId(f.subject1),
            subject_name: "Math".into(),
            group_id: Some(GroupId(f.group1)),
            academic_year: "2025-2026".into(),
            semester: 1,
            derived_from_legacy: true,
        }
    );
    assert!(is_not_found(
        repo.get_course(CourseId(MISSING)).await,
        "course"
    ));

    let enrollment = repo.get_enrollment(EnrollmentId(f.enrollment1)).await?;
    assert_eq!(
        enrollment,
        Enrollment {
            id: EnrollmentId(f.enrollment1),
            student_id: StudentId(f.student1),
            course_id: CourseId(f.course1),
            teacher_id: Some(StaffMemberId(f.staff1)),
            status: EnrollmentStatus::Active,
            current_mark: Some("5".into()),
            updated_at: Some(Utc.with_ymd_and_hms(2025, 10, 1, 10, 0, 0).unwrap()),
            legacy: legacy(5_000_000_001, true),
        }
    );
    // Enrollment legacy ids are bigint: beyond the integer range.
    assert_eq!(repo.lookup_enrollment(5_000_000_001).await?, enrollment);
    let dropped = repo.get_enrollment(EnrollmentId(f.enrollment2)).await?;
    assert_eq!(
        (dropped.status, dropped.legacy),
        (EnrollmentStatus::Dropped, None)
    );
    assert!(is_not_found(
        repo.get_enrollment(EnrollmentId(MISSING)).await,
        "enrollment"
    ));
    assert!(is_not_found(
        repo.lookup_enrollment(MISSING).await,
        "enrollment"
    ));

    let grade = repo.get_grade(GradeId(f.grade1)).await?;
    assert_eq!(
        grade,
        Grade {
            id: GradeId(f.grade1),
            enrollment_id: EnrollmentId(f.enrollment1),
            kind: GradeKind::Final,
            raw_mark: "5".into(),
            scale: Some(GradeScale::FivePoint),
            value: Some("5".into()),
            points: Some(5),
            graded_at: Some(Utc.with_ymd_and_hms(2025, 12, 20, 9, 0, 0).unwrap()),
            legacy: legacy(5_000_000_001, false),
        }
    );
    assert_eq!(repo.lookup_grade(5_000_000_001).await?, grade);
    assert!(is_not_found(
        repo.get_grade(GradeId(MISSING)).await,
        "grade"
    ));
    assert!(is_not_found(repo.lookup_grade(MISSING).await, "grade"));

    let assessment = repo.get_assessment(AssessmentId(f.assessment1)).await?;
    assert_eq!(
        assessment,
        Assessment {
            id: AssessmentId(f.assessment1),
            subject_id: SubjectId(f.subject1),
            group_id: Some(GroupId(f.group1)),
            teacher_id: Some(StaffMemberId(f.staff1)),
            title: "Exam".into(),
            kind: Some("exam".into()),
            held_on: NaiveDate::from_ymd_opt(2025, 12, 15),
            max_score: Decimal::new(100, 0),
            legacy: legacy(60, false),
        }
    );
    assert_eq!(repo.lookup_assessment(60).await?, assessment);
    let quiz = repo.get_assessment(AssessmentId(f.assessment2)).await?;
    assert_eq!(
        (quiz.max_score, quiz.legacy),
        (Decimal::new(100, 0), None),
        "the default max score"
    );
    assert!(is_not_found(
        repo.get_assessment(AssessmentId(MISSING)).await,
        "assessment"
    ));
    assert!(is_not_found(
        repo.lookup_assessment(MISSING).await,
        "assessment"
    ));

    let submission = repo.get_submission(SubmissionId(f.submission1)).await?;
    assert_eq!(
        submission,
        Submission {
            id: SubmissionId(f.submission1),
            assessment_id: AssessmentId(f.assessment1),
            student_id: StudentId(f.student1),
            score: Some(Decimal::new(8750, 2)),
            submitted_at: Some(Utc.with_ymd_and_hms(2025, 12, 15, 12, 0, 0).unwrap()),
            status: SubmissionStatus::Graded,
            answers_json: Some(r#"{"q1":"a"}"#.into()),
            answers_raw: None,
            legacy: legacy(7_000_000_001, false),
        }
    );
    assert_eq!(repo.lookup_submission(7_000_000_001).await?, submission);
    let raw = repo.get_submission(SubmissionId(f.submission2)).await?;
    assert_eq!(
        (raw.status, raw.answers_json, raw.answers_raw.as_deref()),
        (SubmissionStatus::Submitted, None, Some("not json"))
    );
    assert!(is_not_found(
        repo.get_submission(SubmissionId(MISSING)).await,
        "submission"
    ));
    assert!(is_not_found(
        repo.lookup_submission(MISSING).await,
        "submission"
    ));

    let material = repo
        .get_material(CourseId(f.course1), MaterialId(f.material1))
        .await?;
    assert_eq!(material.kind, MaterialKind::Link);
    assert_eq!(material.url.as_deref(), Some("https://example.org/s"));
    assert!(is_not_found(
        repo.get_material(CourseId(f.course2), MaterialId(f.material1))
            .await,
        "course material"
    ));
    env.finish().await
}

fn ids<T>(page: &Page<T>, id: impl Fn(&T) -> i64) -> Vec<i64> {
    page.items.iter().map(id).collect()
}

#[tokio::test]
async fn every_filter_narrows_the_list() -> anyhow::Result<()> {
    let env = Env::new("repofilters").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    let all = PageRequest::first(0);

    let page = repo.list_organizations(all).await?;
    assert_eq!(ids(&page, |o| o.id.0), vec![f.org1, f.org2]);
    let page = repo.list_persons(all).await?;
    assert_eq!(
        ids(&page, |p| p.id.0),
        vec![f.person1, f.person2, f.person3]
    );

    let users = |role| UserFilter { role };
    let page = repo.list_users(&users(None), all).await?;
    assert_eq!(ids(&page, |u| u.id.0), vec![f.user1, f.user2, f.user3]);
    let page = repo.list_users(&users(Some(Role::Student)), all).await?;
    assert_eq!(ids(&page, |u| u.id.0), vec![f.user1, f.user3]);
    let page = repo.list_users(&users(Some(Role::Teacher)), all).await?;
    assert_eq!(ids(&page, |u| u.id.0), vec![f.user2]);
    let page = repo.list_users(&users(Some(Role::Admin)), all).await?;
    assert!(page.items.is_empty());

    let page = repo.list_students(&StudentFilter::default(), all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.student1, f.student2]);
    let filter = StudentFilter {
        organization_id: Some(OrganizationId(f.org2)),
        ..Default::default()
    };
    let page = repo.list_students(&filter, all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.student2]);
    let filter = StudentFilter {
        group_id: Some(GroupId(f.group1)),
        ..Default::default()
    };
    let page = repo.list_students(&filter, all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.student1]);
    let filter = StudentFilter {
        status: Some(StudentStatus::Expelled),
        ..Default::default()
    };
    let page = repo.list_students(&filter, all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.student2]);
    let filter = StudentFilter {
        organization_id: Some(OrganizationId(f.org1)),
        status: Some(StudentStatus::Expelled),
        ..Default::default()
    };
    assert!(
        repo.list_students(&filter, all).await?.items.is_empty(),
        "filters combine"
    );

    let page = repo
        .list_staff_members(&StaffFilter::default(), all)
        .await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.staff1]);
    let filter = StaffFilter {
        organization_id: Some(OrganizationId(f.org2)),
    };
    assert!(
        repo.list_staff_members(&filter, all)
            .await?
            .items
            .is_empty()
    );

    let page = repo.list_courses(&CourseFilter::default(), all).await?;
    assert_eq!(ids(&page, |c| c.id.0), vec![f.course1, f.course2]);
    assert_eq!(page.items[1].subject_name, "Physics");
    let filter = CourseFilter {
        subject_id: Some(SubjectId(f.subject2)),
        ..Default::default()
    };
    assert_eq!(
        ids(&repo.list_courses(&filter, all).await?, |c| c.id.0),
        vec![f.course2]
    );
    let filter = CourseFilter {
        group_id: Some(GroupId(f.group1)),
        ..Default::default()
    };
    assert_eq!(
        ids(&repo.list_courses(&filter, all).await?, |c| c.id.0),
        vec![f.course1]
    );
    let filter = CourseFilter {
        academic_year: Some("2024-2025".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(&repo.list_courses(&filter, all).await?, |c| c.id.0),
        vec![f.course2]
    );

    let page = repo
        .list_enrollments(&EnrollmentFilter::default(), all)
        .await?;
    assert_eq!(ids(&page, |e| e.id.0), vec![f.enrollment1, f.enrollment2]);
    let filter = EnrollmentFilter {
        student_id: Some(StudentId(f.student2)),
        ..Default::default()
    };
    let page = repo.list_enrollments(&filter, all).await?;
    assert_eq!(ids(&page, |e| e.id.0), vec![f.enrollment2]);
    let filter = EnrollmentFilter {
        course_id: Some(CourseId(f.course1)),
        ..Default::default()
    };
    let page = repo.list_enrollments(&filter, all).await?;
    assert_eq!(ids(&page, |e| e.id.0), vec![f.enrollment1]);
    let filter = EnrollmentFilter {
        status: Some(EnrollmentStatus::Dropped),
        ..Default::default()
    };
    let page = repo.list_enrollments(&filter, all).await?;
    assert_eq!(ids(&page, |e| e.id.0), vec![f.enrollment2]);

    let page = repo.list_grades(&GradeFilter::default(), all).await?;
    assert_eq!(ids(&page, |g| g.id.0), vec![f.grade1]);
    let filter = GradeFilter {
        enrollment_id: Some(EnrollmentId(f.enrollment2)),
    };
    assert!(repo.list_grades(&filter, all).await?.items.is_empty());
    let filter = GradeFilter {
        enrollment_id: Some(EnrollmentId(f.enrollment1)),
    };
    assert_eq!(
        ids(&repo.list_grades(&filter, all).await?, |g| g.id.0),
        vec![f.grade1]
    );

    let page = repo
        .list_assessments(&AssessmentFilter::default(), all)
        .await?;
    assert_eq!(ids(&page, |a| a.id.0), vec![f.assessment1, f.assessment2]);
    let filter = AssessmentFilter {
        subject_id: Some(SubjectId(f.subject1)),
        ..Default::default()
    };
    let page = repo.list_assessments(&filter, all).await?;
    assert_eq!(ids(&page, |a| a.id.0), vec![f.assessment1]);
    let filter = AssessmentFilter {
        group_id: Some(GroupId(f.group2)),
        ..Default::default()
    };
    let page = repo.list_assessments(&filter, all).await?;
    assert_eq!(ids(&page, |a| a.id.0), vec![f.assessment2]);

    let page = repo
        .list_submissions(&SubmissionFilter::default(), all)
        .await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.submission1, f.submission2]);
    let filter = SubmissionFilter {
        assessment_id: Some(AssessmentId(f.assessment2)),
        ..Default::default()
    };
    let page = repo.list_submissions(&filter, all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.submission2]);
    let filter = SubmissionFilter {
        student_id: Some(StudentId(f.student1)),
        ..Default::default()
    };
    let page = repo.list_submissions(&filter, all).await?;
    assert_eq!(ids(&page, |s| s.id.0), vec![f.submission1]);

    let page = repo.list_materials(CourseId(f.course1), all).await?;
    assert_eq!(ids(&page, |m| m.id.0), vec![f.material1, f.material2]);
    let page = repo.list_materials(CourseId(f.course2), all).await?;
    assert_eq!(ids(&page, |m| m.id.0), vec![f.material3]);
    assert!(is_not_found(
        repo.list_materials(CourseId(MISSING), all).await,
        "course"
    ));
    env.finish().await
}

#[tokio::test]
async fn keyset_pages_neither_repeat_nor_skip() -> anyhow::Result<()> {
    let env = Env::new("repopages").await?;
    let repo = &env.repo;
    env.exec("INSERT INTO persons (last_name) SELECT 'P' || g FROM generate_series(1, 25) g")
        .await?;

    let first = repo.list_persons(PageRequest::first(10)).await?;
    assert_eq!(first.items.len(), 10);
    let after = first.next_after;
    assert_eq!(after, first.items.last().map(|p| Cursor::lms(p.id.0)));
    // Rows added while a client pages through land after what it has seen.
    env.exec("INSERT INTO persons (last_name) SELECT 'Q' || g FROM generate_series(1, 7) g")
        .await?;
    let mut seen: Vec<i64> = ids(&first, |p| p.id.0);
    let mut request = PageRequest::resume(10, after);
    let mut pages = 1;
    loop {
        let page = repo.list_persons(request).await?;
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(ids(&page, |p| p.id.0));
        match page.next_after {
            Some(after) => request = PageRequest::resume(10, Some(after)),
            None => break,
        }
    }
    let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM persons ORDER BY id")
        .fetch_all(env.pool())
        .await?;
    assert_eq!(seen, all, "every row once, in id order");
    assert_eq!(pages, 4, "32 rows in pages of 10");
    let distinct: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), 32);

    // An exact multiple of the size: the last full page says nothing follows.
    let page = repo
        .list_persons(PageRequest::new(2, Some(all[29])))
        .await?;
    assert_eq!((page.items.len(), page.next_after), (2, None));
    // After the last id: empty.
    let page = repo
        .list_persons(PageRequest::new(10, Some(all[31])))
        .await?;
    assert!(page.items.is_empty() && page.next_after.is_none());

    // Size 0 is the default of 50; sizes over 1000 are lowered to 1000.
    env.exec("INSERT INTO persons (last_name) SELECT 'R' || g FROM generate_series(1, 1000) g")
        .await?;
    let page = repo.list_persons(PageRequest::first(0)).await?;
    assert_eq!(page.items.len(), 50);
    assert_eq!(page.next_after, Some(Cursor::lms(page.items[49].id.0)));
    let page = repo.list_persons(PageRequest::first(5000)).await?;
    assert_eq!(page.items.len(), 1000);
    assert!(page.next_after.is_some(), "1032 rows: more follow");
    let rest = repo
        .list_persons(PageRequest::resume(5000, page.next_after))
        .await?;
    assert_eq!((rest.items.len(), rest.next_after), (32, None));
    env.finish().await
}

#[tokio::test]
async fn filtered_lists_page_too() -> anyhow::Result<()> {
    let env = Env::new("repofilterpages").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    // Five more enrollments of student1 in new courses.
    for year in 0..5 {
        env.exec(&format!(
            "INSERT INTO courses (subject_id, academic_year, semester) VALUES ({}, '20{year}0', 1); \
             INSERT INTO course_enrollments (student_id, course_id) \
             SELECT {}, max(id) FROM courses",
            f.subject2, f.student1
        ))
        .await?;
    }
    let filter = EnrollmentFilter {
        student_id: Some(StudentId(f.student1)),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = repo.list_enrollments(&filter, request).await?;
        assert!(
            page.items
                .iter()
                .all(|e| e.student_id == StudentId(f.student1))
        );
        seen.extend(ids(&page, |e| e.id.0));
        match page.next_after {
            Some(after) => request = PageRequest::resume(2, Some(after)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(!seen.contains(&f.enrollment2));

    let courses = repo
        .list_courses(&CourseFilter::default(), PageRequest::first(3))
        .await?;
    assert_eq!(courses.items.len(), 3);
    assert_eq!(courses.next_after, Some(Cursor::lms(courses.items[2].id.0)));
    let rest = repo
        .list_courses(
            &CourseFilter::default(),
            PageRequest::resume(3, courses.next_after),
        )
        .await?;
    assert_eq!(rest.items.len(), 3);
    let last = repo
        .list_courses(
            &CourseFilter::default(),
            PageRequest::resume(3, rest.next_after),
        )
        .await?;
    assert_eq!((last.items.len(), last.next_after), (1, None), "7 courses");
    env.finish().await
}

#[tokio::test]
async fn unknown_enum_text_and_lost_connections_are_reported() -> anyhow::Result<()> {
    let env = Env::new("repobadvalues").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    // The schema's checks keep unknown values out; without them, reading one
    // is a bug to report, not a value to guess.
    env.exec(&format!(
        "ALTER TABLE users DROP CONSTRAINT users_role_check; \
         UPDATE users SET role = 'wizard' WHERE id = {}",
        f.user1
    ))
    .await?;
    let result = repo.get_user(UserId(f.user1)).await;
    assert!(
        matches!(result, Err(DomainError::Internal(ref m)) if m.contains("wizard")),
        "{result:?}"
    );
    assert!(matches!(
        repo.list_users(&UserFilter::default(), PageRequest::first(0))
            .await,
        Err(DomainError::Internal(_))
    ));

    env.db.pool().close().await;
    let result = repo.get_person(PersonId(f.person1)).await;
    assert!(
        matches!(result, Err(DomainError::Unavailable(_))),
        "{result:?}"
    );
    env.test_db.drop_now().await
}
