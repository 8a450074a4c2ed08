//! The repository's writes on a real PostgreSQL: students, enrollments,
//! grades and course materials, and how database refusals reach callers.

#[path = "repo_support.rs"]
mod support;

use lms_domain::mark::GradeScale;
use lms_domain::model::*;
use lms_domain::status::{EnrollmentStatus, StudentStatus};
use lms_domain::{DomainError, FieldViolation};
use support::{Env, seed};

const MISSING: i64 = 987_654_321;

fn not_found_resource<T: std::fmt::Debug>(result: Result<T, DomainError>) -> String {
    match result {
        Err(DomainError::NotFound { resource, .. }) => resource.to_owned(),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn precondition<T: std::fmt::Debug>(result: Result<T, DomainError>) -> String {
    match result {
        Err(DomainError::FailedPrecondition(message)) => message,
        other => panic!("expected FailedPrecondition, got {other:?}"),
    }
}

fn invalid_fields<T: std::fmt::Debug>(result: Result<T, DomainError>) -> Vec<String> {
    match result {
        Err(DomainError::InvalidArgument(violations)) => violations
            .into_iter()
            .map(|FieldViolation { field, .. }| field)
            .collect(),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn students_are_created_patched_and_deleted() -> anyhow::Result<()> {
    let env = Env::new("repostudents").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    // A person and a user of their own for the new student.
    let person = env
        .id("INSERT INTO persons (last_name) VALUES ('New') RETURNING id")
        .await?;
    let user = env
        .id(&format!(
            "INSERT INTO users (person_id, login, role) VALUES ({person}, 'new', 'student') RETURNING id"
        ))
        .await?;
    let new = NewStudent {
        person_id: PersonId(person),
        user_id: UserId(user),
        organization_id: Some(OrganizationId(f.org1)),
        group_id: Some(GroupId(f.group1)),
        admission_year: Some(2025),
        status: StudentStatus::AcademicLeave,
        record_book_no: Some("RB-9".into()),
    };
    let created = repo.create_student(new.clone()).await?;
    assert_eq!(
        created,
        Student {
            id: created.id,
            person_id: PersonId(person),
            user_id: UserId(user),
            organization_id: Some(OrganizationId(f.org1)),
            group_id: Some(GroupId(f.group1)),
            admission_year: Some(2025),
            status: StudentStatus::AcademicLeave,
            record_book_no: Some("RB-9".into()),
            legacy: None,
        }
    );
    assert_eq!(repo.get_student(created.id).await?, created);

    // References to rows that do not exist.
    let message = precondition(
        repo.create_student(NewStudent {
            person_id: PersonId(MISSING),
            ..new.clone()
        })
        .await,
    );
    assert_eq!(message, format!("person {MISSING} does not exist"));
    let message = precondition(
        repo.create_student(NewStudent {
            group_id: Some(GroupId(MISSING)),
            ..new.clone()
        })
        .await,
    );
    assert!(message.contains("student group"), "{message}");

    // A patch writes only what it names; Some(None) clears.
    let patched = repo
        .update_student(
            created.id,
            StudentPatch {
                group_id: Some(None),
                status: Some(StudentStatus::Active),
                record_book_no: Some(Some("RB-10".into())),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        patched,
        Student {
            group_id: None,
            status: StudentStatus::Active,
            record_book_no: Some("RB-10".into()),
            ..created.clone()
        }
    );
    let cleared = repo
        .update_student(
            created.id,
            StudentPatch {
                organization_id: Some(None),
                admission_year: Some(None),
                record_book_no: Some(None),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        (
            cleared.organization_id,
            cleared.admission_year,
            cleared.record_book_no.clone()
        ),
        (None, None, None)
    );
    assert_eq!(cleared.status, StudentStatus::Active);
    let unchanged = repo
        .update_student(created.id, StudentPatch::default())
        .await?;
    assert_eq!(unchanged, cleared, "an empty patch changes nothing");
    let message = precondition(
        repo.update_student(
            created.id,
            StudentPatch {
                organization_id: Some(Some(OrganizationId(MISSING))),
                ..Default::default()
            },
        )
        .await,
    );
    assert!(message.contains("organization"), "{message}");
    assert_eq!(
        not_found_resource(
            repo.update_student(
                StudentId(MISSING),
                StudentPatch {
                    status: Some(StudentStatus::Graduated),
                    ..Default::default()
                }
            )
            .await
        ),
        "student"
    );
    assert_eq!(
        not_found_resource(
            repo.update_student(StudentId(MISSING), StudentPatch::default())
                .await
        ),
        "student"
    );

    // Students still referenced are not deleted.
    let message = precondition(repo.delete_student(StudentId(f.student1)).await);
    assert_eq!(
        message,
        format!(
            "student {} still has enrollments; delete them first",
            f.student1
        )
    );
    env.exec(&format!(
        "DELETE FROM course_enrollments WHERE student_id = {}",
        f.student2
    ))
    .await?;
    let message = precondition(repo.delete_student(StudentId(f.student2)).await);
    assert_eq!(
        message,
        format!(
            "student {} still has submissions; delete them first",
            f.student2
        )
    );

    repo.delete_student(created.id).await?;
    assert_eq!(
        not_found_resource(repo.get_student(created.id).await),
        "student"
    );
    assert_eq!(
        not_found_resource(repo.delete_student(created.id).await),
        "student"
    );
    env.finish().await
}

#[tokio::test]
async fn enrollments_are_created_patched_and_deleted() -> anyhow::Result<()> {
    let env = Env::new("repoenrollments").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    let new = NewEnrollment {
        student_id: StudentId(f.student2),
        course_id: CourseId(f.course1),
        teacher_id: Some(StaffMemberId(f.staff1)),
        status: EnrollmentStatus::Active,
        current_mark: Some("4".into()),
    };
    let created = repo.create_enrollment(new.clone()).await?;
    assert_eq!(
        (
            created.student_id,
            created.course_id,
            created.teacher_id,
            created.status,
            created.current_mark.as_deref(),
            created.legacy
        ),
        (
            StudentId(f.student2),
            CourseId(f.course1),
            Some(StaffMemberId(f.staff1)),
            EnrollmentStatus::Active,
            Some("4"),
            None
        )
    );
    assert!(created.updated_at.is_some());
    assert_eq!(repo.get_enrollment(created.id).await?, created);

    match repo.create_enrollment(new.clone()).await {
        Err(DomainError::AlreadyExists { resource, detail }) => {
            assert_eq!(resource, "enrollment");
            assert_eq!(detail, "this student is already enrolled in this course");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // enrollment1 is flagged deleted in legacy: it does not hold the key.
    repo.create_enrollment(NewEnrollment {
        student_id: StudentId(f.student1),
        course_id: CourseId(f.course1),
        ..new.clone()
    })
    .await?;
    let message = precondition(
        repo.create_enrollment(NewEnrollment {
            student_id: StudentId(MISSING),
            ..new.clone()
        })
        .await,
    );
    assert_eq!(message, format!("student {MISSING} does not exist"));
    let message = precondition(
        repo.create_enrollment(NewEnrollment {
            course_id: CourseId(MISSING),
            ..new.clone()
        })
        .await,
    );
    assert_eq!(message, format!("course {MISSING} does not exist"));
    let message = precondition(
        repo.create_enrollment(NewEnrollment {
            student_id: StudentId(f.student1),
            course_id: CourseId(f.course2),
            teacher_id: Some(StaffMemberId(MISSING)),
            ..new.clone()
        })
        .await,
    );
    assert!(message.contains("staff member"), "{message}");

    let patched = repo
        .update_enrollment(
            created.id,
            EnrollmentPatch {
                teacher_id: Some(None),
                status: Some(EnrollmentStatus::Completed),
                current_mark: Some(None),
            },
        )
        .await?;
    assert_eq!(
        (patched.teacher_id, patched.status, patched.current_mark),
        (None, EnrollmentStatus::Completed, None)
    );
    assert!(patched.updated_at >= created.updated_at);
    let mark_only = repo
        .update_enrollment(
            created.id,
            EnrollmentPatch {
                current_mark: Some(Some("5".into())),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(mark_only.status, EnrollmentStatus::Completed, "left alone");
    assert_eq!(mark_only.current_mark.as_deref(), Some("5"));
    assert_eq!(
        repo.update_enrollment(created.id, EnrollmentPatch::default())
            .await?,
        mark_only
    );
    assert_eq!(
        not_found_resource(
            repo.update_enrollment(
                EnrollmentId(MISSING),
                EnrollmentPatch {
                    status: Some(EnrollmentStatus::Dropped),
                    ..Default::default()
                }
            )
            .await
        ),
        "enrollment"
    );

    // Grades go with their enrollment.
    repo.delete_enrollment(EnrollmentId(f.enrollment1)).await?;
    assert_eq!(
        not_found_resource(repo.get_grade(GradeId(f.grade1)).await),
        "grade"
    );
    assert_eq!(
        not_found_resource(repo.delete_enrollment(EnrollmentId(f.enrollment1)).await),
        "enrollment"
    );
    env.finish().await
}

#[tokio::test]
async fn grades_read_their_marks() -> anyhow::Result<()> {
    let env = Env::new("repogrades").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    let enrollment = EnrollmentId(f.enrollment2);
    let interim = |raw: &str| NewGrade {
        enrollment_id: enrollment,
        kind: GradeKind::Interim,
        raw_mark: raw.into(),
    };

    let pass = repo.create_grade(interim("Зачет")).await?;
    assert_eq!(
        (
            pass.raw_mark.as_str(),
            pass.scale,
            pass.value.as_deref(),
            pass.points
        ),
        ("Зачет", Some(GradeScale::PassFail), Some("pass"), None)
    );
    assert!(pass.graded_at.is_some());
    assert_eq!(pass.legacy, None);
    let lowered = repo.create_grade(interim("зачет")).await?;
    assert_eq!(lowered.value.as_deref(), Some("pass"));
    let unreadable = repo.create_grade(interim("4.5")).await?;
    assert_eq!(
        (
            unreadable.raw_mark.as_str(),
            unreadable.scale,
            unreadable.value,
            unreadable.points
        ),
        ("4.5", None, None, None),
        "a mark on no known scale is kept raw"
    );
    let five = repo
        .create_grade(NewGrade {
            kind: GradeKind::Final,
            ..interim("  5 ")
        })
        .await?;
    assert_eq!(
        (
            five.kind,
            five.raw_mark.as_str(),
            five.scale,
            five.value.as_deref(),
            five.points
        ),
        (
            GradeKind::Final,
            "5",
            Some(GradeScale::FivePoint),
            Some("5"),
            Some(5)
        )
    );
    let percent = repo.create_grade(interim("87")).await?;
    assert_eq!(
        (percent.scale, percent.points),
        (Some(GradeScale::Percent), Some(87))
    );

    assert_eq!(
        invalid_fields(repo.create_grade(interim("   ")).await),
        vec!["grade.raw_mark"]
    );
    match repo
        .create_grade(NewGrade {
            kind: GradeKind::Final,
            ..interim("4")
        })
        .await
    {
        Err(DomainError::AlreadyExists { resource, detail }) => {
            assert_eq!(resource, "grade");
            assert_eq!(detail, "this enrollment already has a final grade");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let message = precondition(
        repo.create_grade(NewGrade {
            enrollment_id: EnrollmentId(MISSING),
            ..interim("5")
        })
        .await,
    );
    assert_eq!(message, format!("enrollment {MISSING} does not exist"));

    // A new raw mark is read again; the kind alone leaves the mark.
    let letter = repo
        .update_grade(
            unreadable.id,
            GradePatch {
                raw_mark: Some("b+".into()),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        (
            letter.raw_mark.as_str(),
            letter.scale,
            letter.value.as_deref(),
            letter.kind
        ),
        (
            "b+",
            Some(GradeScale::Letter),
            Some("B+"),
            GradeKind::Interim
        )
    );
    let unread = repo
        .update_grade(
            percent.id,
            GradePatch {
                raw_mark: Some("n/a".into()),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        (unread.scale, unread.value, unread.points),
        (None, None, None),
        "scale, value and points are cleared with an unreadable mark"
    );
    let rekinded = repo
        .update_grade(
            letter.id,
            GradePatch {
                kind: Some(GradeKind::Interim),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(rekinded.value.as_deref(), Some("B+"));
    assert_eq!(
        repo.update_grade(letter.id, GradePatch::default()).await?,
        rekinded
    );
    assert_eq!(
        invalid_fields(
            repo.update_grade(
                letter.id,
                GradePatch {
                    raw_mark: Some(" ".into()),
                    ..Default::default()
                }
            )
            .await
        ),
        vec!["grade.raw_mark"]
    );
    assert!(matches!(
        repo.update_grade(
            pass.id,
            GradePatch {
                kind: Some(GradeKind::Final),
                ..Default::default()
            }
        )
        .await,
        Err(DomainError::AlreadyExists { .. })
    ));
    assert_eq!(
        not_found_resource(
            repo.update_grade(
                GradeId(MISSING),
                GradePatch {
                    raw_mark: Some("5".into()),
                    ..Default::default()
                }
            )
            .await
        ),
        "grade"
    );

    repo.delete_grade(pass.id).await?;
    assert_eq!(not_found_resource(repo.get_grade(pass.id).await), "grade");
    assert_eq!(
        not_found_resource(repo.delete_grade(pass.id).await),
        "grade"
    );
    env.finish().await
}

#[tokio::test]
async fn materials_belong_to_their_course() -> anyhow::Result<()> {
    let env = Env::new("repomaterials").await?;
    let f = seed(&env).await?;
    let repo = &env.repo;
    let course = CourseId(f.course2);
    let other = CourseId(f.course1);
    let new = NewMaterial {
        title: "Reading list".into(),
        kind: MaterialKind::Text,
        url: None,
        body: Some("Chapters 1-3".into()),
        position: 5,
    };
    let created = repo.create_material(course, new.clone()).await?;
    assert_eq!(
        (
            created.course_id,
            created.title.as_str(),
            created.kind,
            created.url.as_deref(),
            created.body.as_deref(),
            created.position
        ),
        (
            course,
            "Reading list",
            MaterialKind::Text,
            None,
            Some("Chapters 1-3"),
            5
        )
    );
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(repo.get_material(course, created.id).await?, created);
    let listed = repo.list_materials(course, PageRequest::first(0)).await?;
    assert_eq!(
        listed.items.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        vec![f.material3, created.id.0]
    );

    assert_eq!(
        invalid_fields(
            repo.create_material(
                course,
                NewMaterial {
                    kind: MaterialKind::Link,
                    ..new.clone()
                }
            )
            .await
        ),
        vec!["course_material.url"],
        "a link needs a url"
    );
    assert_eq!(
        invalid_fields(
            repo.create_material(
                course,
                NewMaterial {
                    title: String::new(),
                    ..new.clone()
                }
            )
            .await
        ),
        vec!["course_material.title"]
    );
    assert_eq!(
        not_found_resource(repo.create_material(CourseId(MISSING), new.clone()).await),
        "course"
    );

    // Reached through another course, a material does not exist.
    assert_eq!(
        not_found_resource(repo.get_material(other, created.id).await),
        "course material"
    );
    let patch = MaterialPatch {
        body: Some(None),
        title: Some("Reading".into()),
        ..Default::default()
    };
    assert_eq!(
        not_found_resource(repo.update_material(other, created.id, patch.clone()).await),
        "course material"
    );
    assert_eq!(
        not_found_resource(repo.delete_material(other, created.id).await),
        "course material"
    );

    let patched = repo.update_material(course, created.id, patch).await?;
    assert_eq!(
        (
            patched.title.as_str(),
            patched.body.as_deref(),
            patched.position,
            patched.kind
        ),
        ("Reading", None, 5, MaterialKind::Text)
    );
    assert!(patched.updated_at > created.updated_at, "updated_at moves");
    assert_eq!(patched.created_at, created.created_at);
    assert_eq!(
        repo.update_material(course, created.id, MaterialPatch::default())
            .await?,
        patched,
        "an empty patch changes nothing"
    );
    assert_eq!(
        invalid_fields(
            repo.update_material(
                course,
                created.id,
                MaterialPatch {
                    kind: Some(MaterialKind::Link),
                    ..Default::default()
                }
            )
            .await
        ),
        vec!["course_material.url"]
    );
    let link = repo
        .update_material(
            course,
            created.id,
            MaterialPatch {
                kind: Some(MaterialKind::Link),
                url: Some(Some("https://example.org/r".into())),
                position: Some(0),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(
        (link.kind, link.url.as_deref(), link.position),
        (MaterialKind::Link, Some("https://example.org/r"), 0)
    );
    assert_eq!(
        invalid_fields(
            repo.update_material(
                course,
                created.id,
                MaterialPatch {
                    url: Some(None),
                    ..Default::default()
                }
            )
            .await
        ),
        vec!["course_material.url"]
    );

    repo.delete_material(course, created.id).await?;
    assert_eq!(
        not_found_resource(repo.get_material(course, created.id).await),
        "course material"
    );
    assert_eq!(
        not_found_resource(repo.delete_material(course, created.id).await),
        "course material"
    );
    // Materials page like everything else.
    env.exec(&format!(
        "INSERT INTO course_materials (course_id, title, kind, body) \
         SELECT {}, 'M' || g, 'text', 'b' FROM generate_series(1, 4) g",
        f.course2
    ))
    .await?;
    let first = repo.list_materials(course, PageRequest::first(3)).await?;
    assert_eq!(first.items.len(), 3);
    let rest = repo
        .list_materials(course, PageRequest::resume(3, first.next_after))
        .await?;
    assert_eq!((rest.items.len(), rest.next_after), (2, None));
    assert!(rest.items.iter().all(|m| m.course_id == course));
    env.finish().await
}

/// Pages of materials read under a byte bound: only the rows whose text
/// fits are loaded (at least one), and the cursors give every row once.
async fn material_titles_by_pages(
    env: &Env,
    course: CourseId,
    max_bytes: usize,
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut pages = Vec::new();
    let mut request = PageRequest::first(100).with_max_bytes(max_bytes);
    for _ in 0..20 {
        let page = env.repo.list_materials(course, request).await?;
        pages.push(page.items.into_iter().map(|m| m.title).collect());
        match page.next_after {
            Some(cursor) => {
                request = PageRequest::resume(100, Some(cursor)).with_max_bytes(max_bytes)
            }
            None => return Ok(pages),
        }
    }
    anyhow::bail!("the pages do not end")
}

#[tokio::test]
async fn a_text_material_does_not_become_a_file_without_a_url() -> anyhow::Result<()> {
    let env = Env::new("repofileurl").await?;
    let f = seed(&env).await?;
    let course = CourseId(f.course2);
    let text = env
        .repo
        .create_material(
            course,
            NewMaterial {
                title: "Reading list".into(),
                kind: MaterialKind::Text,
                url: None,
                body: Some("Chapters 1-3".into()),
                position: 0,
            },
        )
        .await?;

    let refused = env
        .repo
        .update_material(
            course,
            text.id,
            MaterialPatch {
                kind: Some(MaterialKind::File),
                ..MaterialPatch::default()
            },
        )
        .await;

    assert_eq!(invalid_fields(refused), vec!["course_material.url"]);
    env.finish().await
}

#[tokio::test]
async fn materials_load_only_what_a_response_can_carry() -> anyhow::Result<()> {
    let env = Env::new("repomaterialbytes").await?;
    let f = seed(&env).await?;
    env.exec(&format!(
        "DELETE FROM course_materials WHERE course_id = {}",
        f.course1
    ))
    .await?;
    env.exec(&format!(
        "INSERT INTO course_materials (course_id, title, kind, body) \
         SELECT {}, 'M' || g, 'text', repeat('b', 1000) FROM generate_series(1, 5) g",
        f.course1
    ))
    .await?;
    let course = CourseId(f.course1);
    // About 1,002 bytes each: two fit in 2,500.
    assert_eq!(
        material_titles_by_pages(&env, course, 2_500).await?,
        vec![vec!["M1", "M2"], vec!["M3", "M4"], vec!["M5"]]
    );
    // One row larger than the bound still comes, alone.
    assert_eq!(material_titles_by_pages(&env, course, 500).await?.len(), 5);
    env.finish().await
}

#[tokio::test]
async fn a_write_whose_commit_reply_is_lost_says_it_may_have_been_applied() -> anyhow::Result<()> {
    let env = Env::new("repolostcommit").await?;
    let f = seed(&env).await?;
    let (link, through) = lms_testkit::SilentLink::in_front_of(env.test_db.url()).await?;
    // In plain text, so that the link sees the statement go by.
    let plain = lms_config::PostgresUrl::parse(&format!("{}?sslmode=disable", through.expose()))
        .map_err(anyhow::Error::msg)?;
    let linked =
        lms_data::Database::connect(&plain, &lms_pg::PoolConfig::small("lost-commit")).await?;
    let repo = lms_data::Repository::new(&linked);
    let call = lms_domain::audit::Call {
        actor: "tester".into(),
        method: "UpdateCourseMaterial".into(),
        resource: None,
        key: None,
    };
    let patch = MaterialPatch {
        title: Some("Renamed".into()),
        kind: None,
        url: None,
        body: None,
        position: None,
    };
    link.hang_up_after(b"COMMIT");

    let outcome = repo
        .audited(&call)
        .update_material(CourseId(f.course2), MaterialId(f.material3), patch)
        .await;

    // The server may still be finishing the commit the client never heard of.
    let mut title = String::new();
    for _ in 0..100 {
        title = sqlx::query_scalar("SELECT title FROM course_materials WHERE id = $1")
            .bind(f.material3)
            .fetch_one(env.pool())
            .await?;
        if title == "Renamed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(title, "Renamed", "the server committed");
    let Err(DomainError::Unavailable(message)) = outcome else {
        anyhow::bail!("expected UNAVAILABLE, got {outcome:?}");
    };
    assert!(message.contains("is unknown"), "{message}");
    linked.pool().close().await;
    env.finish().await
}
