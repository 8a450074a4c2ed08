//! The degraded read mode against the LMS itself: a small legacy database is
//! migrated by the engine, then every migrated row is read both ways (the
//! LMS repository, the legacy reader) and the answers must be equal, field
//! for field; lists with every filter must hold the same items.

use lms_engine::RunStatus;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use lms_config::Settings;
use lms_data::legacy_read::LegacyReader;
use lms_data::{Database, Repository, schema};
use lms_domain::DomainError;
use lms_domain::account::Role;
use lms_domain::model::*;
use lms_domain::status::{EnrollmentStatus, StudentStatus};
use lms_engine::inline::run_inline;
use lms_engine::setup::connect_engine;
use lms_engine::{RunKind, RunOptions, plan_run};
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_pg::PoolConfig;
use lms_testkit::{TestDatabase, test_settings};
use sqlx::{AssertSqlSafe, PgPool};

/// Not UTC, so that the conversion of legacy timestamps is exercised.
const LEGACY_ZONE: &str = "Asia/Almaty";

/// No row has this id in either database.
const MISSING: i64 = 987_654_321;

/// Runs a full migration inline; fails unless it succeeds.
async fn migrate(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let engine = connect_engine(settings, name.to_owned(), 2).await?;
    let options = RunOptions {
        entities: Vec::new(),
        chunk_size: 1_000,
        max_chunks: settings.migration.max_chunks,
        request: None,
        kind: RunKind::Full,
        on_conflict: lms_engine::ConflictPolicy::KeepLms,
        hold: None,
    };
    let planned = plan_run(&engine.lms, &engine.legacy, &options).await?;
    let status = run_inline(&engine, planned.run_id, 2).await?;
    anyhow::ensure!(
        status == RunStatus::Succeeded,
        "the migration ended {status}"
    );
    engine.lms.close().await;
    engine.legacy.close().await;
    Ok(())
}

/// Pairs of ids from the LMS database.
async fn id_pairs(pool: &PgPool, sql: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?)
}

/// `(LMS id, legacy id)` of one legacy table's migrated rows.
async fn migrated(pool: &PgPool, entity: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    id_pairs(
        pool,
        &format!(
            "SELECT target_id, legacy_id FROM migration.ledger \
             WHERE entity = '{entity}' AND outcome = 'migrated' ORDER BY legacy_id"
        ),
    )
    .await
}

/// Legacy ids of one table's rows with an outcome other than `migrated`.
async fn not_migrated(pool: &PgPool, entity: &str, outcome: &str) -> anyhow::Result<Vec<i64>> {
    Ok(sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT legacy_id FROM migration.ledger \
         WHERE entity = '{entity}' AND outcome = '{outcome}' ORDER BY legacy_id"
    )))
    .fetch_all(pool)
    .await?)
}

/// Every page of a list, following its cursors.
async fn drain<T>(
    size: u32,
    mut read: impl AsyncFnMut(PageRequest) -> Result<Page<T>, DomainError>,
) -> anyhow::Result<Vec<T>> {
    let mut items = Vec::new();
    let mut request = PageRequest::first(size);
    loop {
        let page = read(request).await?;
        anyhow::ensure!(page.items.len() <= size as usize, "a page overflowed");
        items.extend(page.items);
        match page.next_after {
            Some(cursor) => request = PageRequest::resume(size, Some(cursor)),
            None => return Ok(items),
        }
    }
}

/// The same items, whatever the order.
fn same_items<T: Debug + PartialEq>(
    what: &str,
    mut degraded: Vec<T>,
    mut lms: Vec<T>,
    id: impl Fn(&T) -> i64,
) {
    degraded.sort_by_key(&id);
    lms.sort_by_key(&id);
    assert_eq!(degraded.len(), lms.len(), "{what}: how many");
    for (degraded, lms) in degraded.iter().zip(&lms) {
        assert_eq!(degraded, lms, "{what}");
    }
}

/// Degraded lists come in legacy id order.
fn in_legacy_order<T>(what: &str, items: &[T], legacy: impl Fn(&T) -> Option<Legacy>) {
    let ids: Vec<i64> = items
        .iter()
        .filter_map(|item| legacy(item).map(|l| l.legacy_id))
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "{what}: not in legacy id order"
    );
}

fn not_found<T: Debug>(result: Result<T, DomainError>) -> DomainError {
    match result {
        Err(error @ DomainError::NotFound { .. }) => error,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn not_known<T: Debug>(result: Result<T, DomainError>) -> DomainError {
    match result {
        Err(error @ DomainError::NotKnownToLegacy { .. }) => error,
        other => panic!("expected NotKnownToLegacy, got {other:?}"),
    }
}

/// A few values spread over a sorted list, ends included.
fn sample<T: Clone>(values: &[T], count: usize) -> Vec<T> {
    if values.len() <= count {
        return values.to_vec();
    }
    (0..count)
        .map(|index| values[index * (values.len() - 1) / (count - 1)].clone())
        .collect()
}

/// Time spent per kind of degraded read, for the report.
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration, usize)>);

impl Timings {
    fn add(&mut self, what: &'static str, spent: Duration, count: usize) {
        self.0.push((what, spent, count));
    }
}

struct World {
    repo: Repository,
    reader: LegacyReader,
    lms: PgPool,
    legacy: PgPool,
}

#[tokio::test]
async fn degraded_reads_equal_the_lms_answers() -> anyhow::Result<()> {
    let lms_db = TestDatabase::create("legacyreadlms").await?;
    let legacy_db = TestDatabase::create("legacyreadedu").await?;
    let mut settings = test_settings(
        lms_db.url(),
        legacy_db.url(),
        "redis://127.0.0.1:6379",
        "legacy-read",
    )?;
    settings.legacy.timezone = LEGACY_ZONE.to_owned();
    let db = Database::connect(lms_db.url(), &PoolConfig::small("legacy-read-test")).await?;
    schema::upgrade(&db).await?;
    seed_legacy_database(
        legacy_db.url(),
        SeedOptions {
            scale: Scale::Small,
            seed: 7,
            force: true,
        },
    )
    .await?;
    migrate(&settings, "legacy-read-first").await?;

    let legacy = lms_pg::connect(legacy_db.url(), &PoolConfig::small("legacy-read-test")).await?;
    let reader = LegacyReader::new(legacy.clone(), LEGACY_ZONE.to_owned(), 10_000);
    assert!(!reader.ids_loaded());
    assert!(reader.refresh_ids(db.pool()).await?, "the first load");
    assert!(reader.ids_loaded());
    assert!(
        !reader.refresh_ids(db.pool()).await?,
        "no run since the last load"
    );
    let world = World {
        repo: Repository::new(&db),
        reader,
        lms: db.pool().clone(),
        legacy,
    };
    let mut timings = Timings::default();

    every_row_reads_the_same(&world, &mut timings).await?;
    lists_hold_the_same_items(&world, &mut timings).await?;
    bounded_lists_come_in_short_pages(&world).await?;
    rows_without_a_target_are_not_found(&world).await?;
    lms_ids_the_map_lacks_are_not_known_to_legacy(&world).await?;
    a_second_run_reloads_the_map(&world, &settings).await?;
    a_parent_gone_from_legacy_reads_as_none(&world, &settings).await?;
    instants_at_the_ends_of_the_lms_years_read_the_same(&world, &settings).await?;
    legacy_nan_reads_as_the_migration_writes_it(&world).await?;
    a_row_gone_from_legacy_since_the_map_is_not_known(&world).await?;
    rows_at_the_ends_of_bigint_are_listed(&world, &settings).await?;
    a_ring_of_parents_reads_as_the_lms_links_it(&world, &settings).await?;

    for (what, spent, count) in &timings.0 {
        let each = spent.as_secs_f64() * 1000.0 / (*count).max(1) as f64;
        println!("degraded {what}: {count} in {spent:?} ({each:.2} ms each)");
    }

    // The legacy database going away is an outage, not a bug.
    world.legacy.close().await;
    assert!(matches!(
        world.reader.list_persons(PageRequest::first(5)).await,
        Err(DomainError::Unavailable(_))
    ));
    db.pool().close().await;
    lms_db.drop_now().await?;
    legacy_db.drop_now().await?;
    Ok(())
}

/// Every migrated row, by LMS id and by legacy id, both ways.
async fn every_row_reads_the_same(w: &World, timings: &mut Timings) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);

    let rows = migrated(&w.lms, "organizations").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_organization(OrganizationId(*id)).await?;
        assert_eq!(reader.get_organization(OrganizationId(*id)).await?, lms);
        assert_eq!(reader.lookup_organization(*legacy_id).await?, lms);
    }
    timings.add("organization get+lookup", started.elapsed(), rows.len());

    let rows = migrated(&w.lms, "persons").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_person(PersonId(*id)).await?;
        assert_eq!(reader.get_person(PersonId(*id)).await?, lms);
        assert_eq!(reader.lookup_person(*legacy_id).await?, lms);
    }
    timings.add("person get+lookup", started.elapsed(), rows.len());

    let rows = migrated(&w.lms, "users").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_user(UserId(*id)).await?;
        assert_eq!(reader.get_user(UserId(*id)).await?, lms, "user {legacy_id}");
        assert_eq!(reader.lookup_user(*legacy_id).await?, lms);
    }
    timings.add("user get+lookup", started.elapsed(), rows.len());
    let provisioned = id_pairs(
        &w.lms,
        "SELECT id, 0::bigint FROM users WHERE provisioned_for IS NOT NULL ORDER BY id",
    )
    .await?;
    assert!(
        !provisioned.is_empty(),
        "the seed has students without a login"
    );
    for (id, _) in &provisioned {
        let lms = repo.get_user(UserId(*id)).await?;
        assert_eq!(reader.get_user(UserId(*id)).await?, lms);
    }

    let rows = migrated(&w.lms, "students").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_student(StudentId(*id)).await?;
        assert_eq!(reader.get_student(StudentId(*id)).await?, lms);
        assert_eq!(reader.lookup_student(*legacy_id).await?, lms);
    }
    timings.add("student get+lookup", started.elapsed(), rows.len());

    let courses = id_pairs(&w.lms, "SELECT id, 0::bigint FROM courses ORDER BY id").await?;
    let started = Instant::now();
    for (id, _) in &courses {
        let lms = repo.get_course(CourseId(*id)).await?;
        assert_eq!(reader.get_course(CourseId(*id)).await?, lms);
    }
    timings.add("course get", started.elapsed(), courses.len());

    let rows = migrated(&w.lms, "journal").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_enrollment(EnrollmentId(*id)).await?;
        assert_eq!(reader.get_enrollment(EnrollmentId(*id)).await?, lms);
        assert_eq!(reader.lookup_enrollment(*legacy_id).await?, lms);
    }
    timings.add("enrollment get+lookup", started.elapsed(), rows.len());

    let grades = id_pairs(&w.lms, "SELECT id, legacy_id FROM grades ORDER BY id").await?;
    let started = Instant::now();
    for (id, legacy_id) in &grades {
        let lms = repo.get_grade(GradeId(*id)).await?;
        assert_eq!(reader.get_grade(GradeId(*id)).await?, lms);
        assert_eq!(reader.lookup_grade(*legacy_id).await?, lms);
    }
    timings.add("grade get+lookup", started.elapsed(), grades.len());

    let rows = migrated(&w.lms, "exam_results").await?;
    let started = Instant::now();
    for (id, legacy_id) in &rows {
        let lms = repo.get_submission(SubmissionId(*id)).await?;
        assert_eq!(reader.get_submission(SubmissionId(*id)).await?, lms);
        assert_eq!(reader.lookup_submission(*legacy_id).await?, lms);
    }
    timings.add("submission get+lookup", started.elapsed(), rows.len());
    Ok(())
}

/// Lists with every filter: the same items as the LMS's, in legacy order,
/// paged through with small pages.
async fn lists_hold_the_same_items(w: &World, timings: &mut Timings) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let started = Instant::now();
    let mut lists = 0;

    let degraded = drain(7, async |p| reader.list_organizations(p).await).await?;
    in_legacy_order("organizations", &degraded, |o| o.legacy);
    let lms = drain(1000, async |p| repo.list_organizations(p).await).await?;
    same_items("organizations", degraded, lms, |o| o.id.0);

    let degraded = drain(13, async |p| reader.list_persons(p).await).await?;
    in_legacy_order("persons", &degraded, |p| p.legacy);
    let lms = drain(1000, async |p| repo.list_persons(p).await).await?;
    same_items("persons", degraded, lms, |p| p.id.0);
    lists += 2;

    let mut user_filters = vec![UserFilter::default()];
    user_filters.extend(Role::ALL.map(|role| UserFilter { role: Some(role) }));
    for filter in &user_filters {
        let degraded = drain(11, async |p| reader.list_users(filter, p).await).await?;
        in_legacy_order("users", &degraded, |u| u.legacy);
        let lms = drain(1000, async |p| repo.list_users(filter, p).await).await?;
        same_items(&format!("users {filter:?}"), degraded, lms, |u| u.id.0);
        lists += 1;
    }

    let organizations = id_pairs(
        &w.lms,
        "SELECT DISTINCT organization_id, 0::bigint FROM students WHERE organization_id IS NOT NULL ORDER BY 1",
    )
    .await?;
    let groups = id_pairs(
        &w.lms,
        "SELECT DISTINCT group_id, 0::bigint FROM students WHERE group_id IS NOT NULL ORDER BY 1",
    )
    .await?;
    let mut student_filters = vec![StudentFilter::default()];
    student_filters.extend(StudentStatus::ALL.iter().map(|status| StudentFilter {
        status: Some(*status),
        ..StudentFilter::default()
    }));
    for (organization, _) in sample(&organizations, 6) {
        student_filters.push(StudentFilter {
            organization_id: Some(OrganizationId(organization)),
            ..StudentFilter::default()
        });
    }
    for (group, _) in sample(&groups, 6) {
        student_filters.push(StudentFilter {
            group_id: Some(GroupId(group)),
            status: Some(StudentStatus::Active),
            ..StudentFilter::default()
        });
    }
    for filter in &student_filters {
        let degraded = drain(9, async |p| reader.list_students(filter, p).await).await?;
        in_legacy_order("students", &degraded, |s| s.legacy);
        let lms = drain(1000, async |p| repo.list_students(filter, p).await).await?;
        same_items(&format!("students {filter:?}"), degraded, lms, |s| s.id.0);
        lists += 1;
    }

    let course_keys: Vec<(i64, i64)> = id_pairs(
        &w.lms,
        "SELECT id, coalesce(group_id, 0) FROM courses ORDER BY id",
    )
    .await?;
    let subjects = id_pairs(
        &w.lms,
        "SELECT DISTINCT subject_id, 0::bigint FROM courses ORDER BY 1",
    )
    .await?;
    let years: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT academic_year FROM courses ORDER BY 1")
            .fetch_all(&w.lms)
            .await?;
    let mut course_filters = vec![CourseFilter::default()];
    for (subject, _) in sample(&subjects, 5) {
        course_filters.push(CourseFilter {
            subject_id: Some(SubjectId(subject)),
            ..CourseFilter::default()
        });
    }
    // Groups the courses have (0 stands for none; an id nobody has is
    // checked by lms_ids_the_map_lacks_are_not_known_to_legacy).
    let course_groups: Vec<(i64, i64)> = course_keys
        .iter()
        .copied()
        .filter(|(_, group)| *group != 0)
        .collect();
    for (_, group) in sample(&course_groups, 5) {
        course_filters.push(CourseFilter {
            group_id: Some(GroupId(group)),
            ..CourseFilter::default()
        });
    }
    for year in &years {
        course_filters.push(CourseFilter {
            academic_year: Some(year.clone()),
            ..CourseFilter::default()
        });
    }
    for filter in &course_filters {
        let degraded = drain(8, async |p| reader.list_courses(filter, p).await).await?;
        let lms = drain(1000, async |p| repo.list_courses(filter, p).await).await?;
        same_items(&format!("courses {filter:?}"), degraded, lms, |c| c.id.0);
        lists += 1;
    }

    // Students whose merged duplicates have journal rows and results of
    // their own: those rows attach to the survivor.
    let survivors = id_pairs(
        &w.lms,
        "SELECT DISTINCT target_id, 0::bigint FROM migration.ledger \
         WHERE entity = 'students' AND outcome = 'merged' ORDER BY 1",
    )
    .await?;
    assert!(!survivors.is_empty(), "the seed merges students");
    let enrolled = id_pairs(
        &w.lms,
        "SELECT DISTINCT student_id, 0::bigint FROM course_enrollments ORDER BY 1",
    )
    .await?;
    let ungrouped = id_pairs(
        &w.lms,
        "SELECT id, 0::bigint FROM courses WHERE group_id IS NULL ORDER BY id",
    )
    .await?;
    let mut enrollment_filters = vec![EnrollmentFilter::default()];
    enrollment_filters.extend(EnrollmentStatus::ALL.iter().map(|status| EnrollmentFilter {
        status: Some(*status),
        ..EnrollmentFilter::default()
    }));
    for (student, _) in sample(&survivors, 6)
        .into_iter()
        .chain(sample(&enrolled, 6))
    {
        enrollment_filters.push(EnrollmentFilter {
            student_id: Some(StudentId(student)),
            ..EnrollmentFilter::default()
        });
    }
    for (course, _) in sample(&course_keys, 6)
        .into_iter()
        .chain(sample(&ungrouped, 3))
    {
        enrollment_filters.push(EnrollmentFilter {
            course_id: Some(CourseId(course)),
            ..EnrollmentFilter::default()
        });
    }
    for filter in &enrollment_filters {
        let size = if filter == &EnrollmentFilter::default() {
            250
        } else {
            6
        };
        let degraded = drain(size, async |p| reader.list_enrollments(filter, p).await).await?;
        in_legacy_order("enrollments", &degraded, |e| e.legacy);
        let lms = drain(1000, async |p| repo.list_enrollments(filter, p).await).await?;
        same_items(&format!("enrollments {filter:?}"), degraded, lms, |e| {
            e.id.0
        });
        lists += 1;
    }

    let graded = id_pairs(
        &w.lms,
        "SELECT e.id, count(g.id) FROM course_enrollments e LEFT JOIN grades g ON g.enrollment_id = e.id \
         GROUP BY e.id ORDER BY e.id",
    )
    .await?;
    let mut grade_filters = vec![GradeFilter::default()];
    let without_grade = graded
        .iter()
        .find(|(_, count)| *count == 0)
        .map(|(id, _)| *id);
    for enrollment in sample(&graded, 8)
        .into_iter()
        .map(|(id, _)| id)
        .chain(without_grade)
    {
        grade_filters.push(GradeFilter {
            enrollment_id: Some(EnrollmentId(enrollment)),
        });
    }
    for filter in &grade_filters {
        let degraded = drain(97, async |p| reader.list_grades(filter, p).await).await?;
        in_legacy_order("grades", &degraded, |g| g.legacy);
        let lms = drain(1000, async |p| repo.list_grades(filter, p).await).await?;
        same_items(&format!("grades {filter:?}"), degraded, lms, |g| g.id.0);
        lists += 1;
    }

    let assessments = id_pairs(
        &w.lms,
        "SELECT DISTINCT assessment_id, 0::bigint FROM assessment_submissions ORDER BY 1",
    )
    .await?;
    let mut submission_filters = vec![SubmissionFilter::default()];
    for (assessment, _) in sample(&assessments, 6) {
        submission_filters.push(SubmissionFilter {
            assessment_id: Some(AssessmentId(assessment)),
            ..SubmissionFilter::default()
        });
    }
    for (student, _) in sample(&survivors, 6) {
        submission_filters.push(SubmissionFilter {
            student_id: Some(StudentId(student)),
            ..SubmissionFilter::default()
        });
    }
    if let (Some((assessment, _)), Some((student, _))) = (assessments.first(), survivors.first()) {
        submission_filters.push(SubmissionFilter {
            assessment_id: Some(AssessmentId(*assessment)),
            student_id: Some(StudentId(*student)),
        });
    }
    for filter in &submission_filters {
        let degraded = drain(23, async |p| reader.list_submissions(filter, p).await).await?;
        in_legacy_order("submissions", &degraded, |s| s.legacy);
        let lms = drain(1000, async |p| repo.list_submissions(filter, p).await).await?;
        same_items(&format!("submissions {filter:?}"), degraded, lms, |s| {
            s.id.0
        });
        lists += 1;
    }
    timings.add("list comparison (all pages)", started.elapsed(), lists);
    Ok(())
}

/// Rejected and merged rows have no target row of their own: a lookup by
/// their legacy id is NotFound both ways, with the same words; so is a
/// lookup by a legacy id nobody has.
async fn rows_without_a_target_are_not_found(w: &World) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let mut checked = BTreeSet::new();
    for (entity, outcome) in [
        ("students", "rejected"),
        ("students", "merged"),
        ("journal", "rejected"),
        ("journal", "merged"),
        ("exam_results", "rejected"),
        ("exam_results", "merged"),
    ] {
        let legacy_ids = not_migrated(&w.lms, entity, outcome).await?;
        assert!(!legacy_ids.is_empty(), "the seed has {outcome} {entity}");
        for legacy_id in sample(&legacy_ids, 25) {
            let (degraded, lms) = match entity {
                "students" => (
                    not_found(reader.lookup_student(legacy_id).await),
                    not_found(repo.lookup_student(legacy_id).await),
                ),
                "journal" => (
                    not_found(reader.lookup_enrollment(legacy_id).await),
                    not_found(repo.lookup_enrollment(legacy_id).await),
                ),
                _ => (
                    not_found(reader.lookup_submission(legacy_id).await),
                    not_found(repo.lookup_submission(legacy_id).await),
                ),
            };
            assert_eq!(degraded, lms, "{outcome} {entity} {legacy_id}");
            checked.insert((entity, outcome));
        }
    }
    assert_eq!(checked.len(), 6);

    let missing = [
        (
            not_found(reader.lookup_user(i64::MAX).await),
            not_found(repo.lookup_user(i64::MAX).await),
        ),
        (
            not_found(reader.lookup_grade(MISSING).await),
            not_found(repo.lookup_grade(MISSING).await),
        ),
    ];
    for (degraded, lms) in missing {
        assert_eq!(degraded, lms);
    }
    Ok(())
}

/// An LMS id the map does not hold may be a row created in the LMS: a get
/// by it, or a list filtered by it, is NotKnownToLegacy (retryable) in
/// degraded mode, naming what the LMS's NotFound names; never NotFound or
/// an empty page, which would deny a row the LMS may have.
async fn lms_ids_the_map_lacks_are_not_known_to_legacy(w: &World) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let gets = [
        (
            not_known(reader.get_organization(OrganizationId(MISSING)).await),
            not_found(repo.get_organization(OrganizationId(MISSING)).await),
        ),
        (
            not_known(reader.get_person(PersonId(MISSING)).await),
            not_found(repo.get_person(PersonId(MISSING)).await),
        ),
        (
            not_known(reader.get_user(UserId(MISSING)).await),
            not_found(repo.get_user(UserId(MISSING)).await),
        ),
        (
            not_known(reader.get_student(StudentId(MISSING)).await),
            not_found(repo.get_student(StudentId(MISSING)).await),
        ),
        (
            not_known(reader.get_course(CourseId(MISSING)).await),
            not_found(repo.get_course(CourseId(MISSING)).await),
        ),
        (
            not_known(reader.get_enrollment(EnrollmentId(MISSING)).await),
            not_found(repo.get_enrollment(EnrollmentId(MISSING)).await),
        ),
        (
            not_known(reader.get_grade(GradeId(MISSING)).await),
            not_found(repo.get_grade(GradeId(MISSING)).await),
        ),
        (
            not_known(reader.get_submission(SubmissionId(MISSING)).await),
            not_found(repo.get_submission(SubmissionId(MISSING)).await),
        ),
    ];
    for pair in gets {
        match pair {
            (
                DomainError::NotKnownToLegacy { resource, key },
                DomainError::NotFound {
                    resource: lms_resource,
                    key: lms_key,
                },
            ) => assert_eq!((resource, key), (lms_resource, lms_key)),
            other => panic!("expected the same resource and key: {other:?}"),
        }
    }

    let first = PageRequest::first(10);
    let students = StudentFilter {
        organization_id: Some(OrganizationId(MISSING)),
        ..StudentFilter::default()
    };
    not_known(reader.list_students(&students, first).await);
    assert!(repo.list_students(&students, first).await?.items.is_empty());
    let enrollments = EnrollmentFilter {
        student_id: Some(StudentId(MISSING)),
        ..EnrollmentFilter::default()
    };
    not_known(reader.list_enrollments(&enrollments, first).await);
    assert!(
        repo.list_enrollments(&enrollments, first)
            .await?
            .items
            .is_empty()
    );
    let by_course = EnrollmentFilter {
        course_id: Some(CourseId(MISSING)),
        ..EnrollmentFilter::default()
    };
    not_known(reader.list_enrollments(&by_course, first).await);
    let grades = GradeFilter {
        enrollment_id: Some(EnrollmentId(MISSING)),
    };
    not_known(reader.list_grades(&grades, first).await);
    assert!(repo.list_grades(&grades, first).await?.items.is_empty());
    let submissions = SubmissionFilter {
        student_id: Some(StudentId(MISSING)),
        ..SubmissionFilter::default()
    };
    not_known(reader.list_submissions(&submissions, first).await);
    let by_assessment = SubmissionFilter {
        assessment_id: Some(AssessmentId(MISSING)),
        ..SubmissionFilter::default()
    };
    not_known(reader.list_submissions(&by_assessment, first).await);
    let by_group = StudentFilter {
        group_id: Some(GroupId(MISSING)),
        ..StudentFilter::default()
    };
    not_known(reader.list_students(&by_group, first).await);
    let courses = CourseFilter {
        subject_id: Some(SubjectId(MISSING)),
        ..CourseFilter::default()
    };
    not_known(reader.list_courses(&courses, first).await);
    assert!(repo.list_courses(&courses, first).await?.items.is_empty());
    let courses_of_group = CourseFilter {
        group_id: Some(GroupId(MISSING)),
        ..CourseFilter::default()
    };
    not_known(reader.list_courses(&courses_of_group, first).await);
    Ok(())
}

/// Rows added to legacy are not served until a run migrates them and the
/// map is reloaded; reloading happens once per finished run.
async fn a_second_run_reloads_the_map(w: &World, settings: &Settings) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let added: i64 = sqlx::query_scalar(
        "INSERT INTO organizations (id, name, org_type, created_at) \
         SELECT max(id) FILTER (WHERE id < 2147483647) + 1, '  Added College ', 'COLLEGE', '2024-03-31 23:30:00' \
         FROM organizations RETURNING id::bigint",
    )
    .fetch_one(&w.legacy)
    .await?;
    not_found(reader.lookup_organization(added).await);
    assert!(
        !reader.refresh_ids(&w.lms).await?,
        "nothing ran since the last load"
    );

    migrate(settings, "legacy-read-second").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");
    assert!(!reader.refresh_ids(&w.lms).await?, "loaded already");
    let lms = repo.lookup_organization(added).await?;
    assert_eq!(lms.name, "Added College");
    assert_eq!(reader.lookup_organization(added).await?, lms);
    assert_eq!(reader.get_organization(lms.id).await?, lms);
    Ok(())
}

/// A parent deleted from legacy points nowhere (its LMS row stays): after
/// the run that sees it gone, the child's parent is none both ways.
async fn a_parent_gone_from_legacy_reads_as_none(
    w: &World,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let (parent, child): (i64, i64) = sqlx::query_as(
        "WITH free AS (SELECT c AS id FROM generate_series(1, 1000000) c \
                       WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = c) \
                       ORDER BY c LIMIT 2), \
              pair AS (SELECT min(id) AS parent, max(id) AS child FROM free), \
              added AS (INSERT INTO organizations (id, parent_id, name) \
                        SELECT parent, NULL, 'Parent' FROM pair \
                        UNION ALL SELECT child, parent, 'Child' FROM pair) \
         SELECT parent::bigint, child::bigint FROM pair",
    )
    .fetch_one(&w.legacy)
    .await?;
    migrate(settings, "legacy-read-parent").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");
    let linked = repo.lookup_organization(child).await?;
    assert!(linked.parent_id.is_some(), "the parent was linked");

    sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(i32::try_from(parent)?)
        .execute(&w.legacy)
        .await?;
    migrate(settings, "legacy-read-parent-gone").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");

    let lms = repo.lookup_organization(child).await?;
    assert_eq!(lms.parent_id, None);
    assert_eq!(reader.lookup_organization(child).await?, lms);
    assert_eq!(reader.get_organization(lms.id).await?, lms);
    Ok(())
}

/// The years the LMS holds are judged on legacy's wall clock, before the
/// zone's offset (Almaty's, east of UTC) moves the instant: the first hour
/// of year 1 is kept though it is year 0 in UTC, and the first hour of
/// year 10000 is unknown though it is 9999 in UTC.
async fn instants_at_the_ends_of_the_lms_years_read_the_same(
    w: &World,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let edges: Vec<(i64,)> = sqlx::query_as(
        "WITH two AS (SELECT id FROM organizations ORDER BY id LIMIT 2) \
         UPDATE organizations o SET created_at = CASE WHEN o.id = (SELECT min(id) FROM two) \
                THEN timestamp '0001-01-01 01:00' ELSE timestamp '10000-01-01 01:00' END \
         FROM two WHERE o.id = two.id RETURNING o.id::bigint",
    )
    .fetch_all(&w.legacy)
    .await?;
    migrate(settings, "legacy-read-year-ends").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");

    let mut kept = Vec::new();
    for (legacy_id,) in edges {
        let lms = repo.lookup_organization(legacy_id).await?;
        assert_eq!(reader.lookup_organization(legacy_id).await?, lms);
        kept.push(lms.created_at.is_some());
    }
    kept.sort_unstable();
    assert_eq!(kept, [false, true], "year 1 kept, year 10000 unknown");
    Ok(())
}

#[tokio::test]
async fn without_an_id_map_every_read_is_unavailable() -> anyhow::Result<()> {
    // Nothing listens here, and nothing should try: without a map there is
    // no legacy id to ask for.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")?;
    let reader = LegacyReader::new(pool, "UTC".to_owned(), 10_000);
    assert!(!reader.ids_loaded());
    let page = PageRequest::first(10);
    let unavailable = |result: Result<(), DomainError>| match result {
        Err(DomainError::Unavailable(message)) => {
            assert!(message.contains("no id map"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    };
    unavailable(reader.get_organization(OrganizationId(1)).await.map(drop));
    unavailable(reader.list_organizations(page).await.map(drop));
    unavailable(reader.lookup_organization(1).await.map(drop));
    unavailable(reader.get_person(PersonId(1)).await.map(drop));
    unavailable(reader.list_persons(page).await.map(drop));
    unavailable(reader.lookup_person(1).await.map(drop));
    unavailable(reader.get_user(UserId(1)).await.map(drop));
    unavailable(
        reader
            .list_users(&UserFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.lookup_user(1).await.map(drop));
    unavailable(reader.get_student(StudentId(1)).await.map(drop));
    unavailable(
        reader
            .list_students(&StudentFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.lookup_student(1).await.map(drop));
    unavailable(reader.get_course(CourseId(1)).await.map(drop));
    unavailable(
        reader
            .list_courses(&CourseFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.get_enrollment(EnrollmentId(1)).await.map(drop));
    unavailable(
        reader
            .list_enrollments(&EnrollmentFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.lookup_enrollment(1).await.map(drop));
    unavailable(reader.get_grade(GradeId(1)).await.map(drop));
    unavailable(
        reader
            .list_grades(&GradeFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.lookup_grade(1).await.map(drop));
    unavailable(reader.get_submission(SubmissionId(1)).await.map(drop));
    unavailable(
        reader
            .list_submissions(&SubmissionFilter::default(), page)
            .await
            .map(drop),
    );
    unavailable(reader.lookup_submission(1).await.map(drop));
    Ok(())
}

/// Every page of a list, 50 at a time, each holding at most `max_items`:
/// the items, and how many pages came back short but with a cursor.
async fn drain_bounded<T>(
    max_items: usize,
    mut read: impl AsyncFnMut(PageRequest) -> Result<Page<T>, DomainError>,
) -> anyhow::Result<(Vec<T>, usize)> {
    const SIZE: u32 = 50;
    let mut items = Vec::new();
    let mut short_pages = 0;
    let mut request = PageRequest::first(SIZE);
    for _ in 0..100_000 {
        let page = read(request).await?;
        anyhow::ensure!(
            page.items.len() <= max_items,
            "a page held {} items, more than the rows it may examine",
            page.items.len()
        );
        let Some(cursor) = page.next_after else {
            items.extend(page.items);
            return Ok((items, short_pages));
        };
        if page.items.len() < SIZE as usize {
            short_pages += 1;
        }
        items.extend(page.items);
        request = PageRequest::resume(SIZE, Some(cursor));
    }
    anyhow::bail!("the pages do not end")
}

/// A reader that examines at most 3 legacy rows per list call: filters
/// that match few rows among many come back in short pages (some empty)
/// whose cursors together return every matching row exactly once.
async fn bounded_lists_come_in_short_pages(w: &World) -> anyhow::Result<()> {
    const BOUND: usize = 3;
    let reader = LegacyReader::new(w.legacy.clone(), LEGACY_ZONE.to_owned(), BOUND);
    reader.refresh_ids(&w.lms).await?;
    let repo = &w.repo;

    // The students of one group (the smallest with more than BOUND).
    let group: i64 = sqlx::query_scalar(
        "SELECT group_id FROM students WHERE group_id IS NOT NULL \
         GROUP BY group_id HAVING count(*) > 3 ORDER BY count(*), group_id LIMIT 1",
    )
    .fetch_one(&w.lms)
    .await?;
    let of_group = StudentFilter {
        group_id: Some(GroupId(group)),
        ..StudentFilter::default()
    };
    let (degraded, short) =
        drain_bounded(BOUND, async |p| reader.list_students(&of_group, p).await).await?;
    let lms = drain(1000, async |p| repo.list_students(&of_group, p).await).await?;
    anyhow::ensure!(
        lms.len() > BOUND,
        "students: {} match, too few to test",
        lms.len()
    );
    assert!(short > 0, "students: no page stopped at the bound");
    same_items("bounded students", degraded, lms, |s| s.id.0);

    let dropped = EnrollmentFilter {
        status: Some(EnrollmentStatus::Dropped),
        ..EnrollmentFilter::default()
    };
    let (degraded, short) =
        drain_bounded(BOUND, async |p| reader.list_enrollments(&dropped, p).await).await?;
    let lms = drain(1000, async |p| repo.list_enrollments(&dropped, p).await).await?;
    anyhow::ensure!(
        lms.len() > BOUND,
        "enrollments: {} match, too few to test",
        lms.len()
    );
    assert!(short > 0, "enrollments: no page stopped at the bound");
    same_items("bounded enrollments", degraded, lms, |e| e.id.0);

    // The id map's courses count against the bound as legacy rows do.
    let all = CourseFilter::default();
    let (degraded, short) =
        drain_bounded(BOUND, async |p| reader.list_courses(&all, p).await).await?;
    let lms = drain(1000, async |p| repo.list_courses(&all, p).await).await?;
    anyhow::ensure!(
        lms.len() > BOUND,
        "courses: {} match, too few to test",
        lms.len()
    );
    assert!(short > 0, "courses: no page stopped at the bound");
    same_items("bounded courses", degraded, lms, |c| c.id.0);

    // Provisioned accounts (no legacy rows) follow the legacy students only
    // once the scan has reached the table's end, never after a stop.
    let students = UserFilter {
        role: Some(Role::Student),
    };
    let (degraded, short) =
        drain_bounded(50, async |p| reader.list_users(&students, p).await).await?;
    let lms = drain(1000, async |p| repo.list_users(&students, p).await).await?;
    anyhow::ensure!(
        lms.len() > BOUND,
        "users: {} match, too few to test",
        lms.len()
    );
    assert!(short > 0, "users: no page stopped at the bound");
    same_items("bounded users", degraded, lms, |u| u.id.0);
    Ok(())
}

/// A legacy `NaN` (written by SQL; `numeric(6,2)` takes it, and refuses the
/// infinities) reads as the migration writes it, never as an error: a
/// `NaN` maximum is 100, against which the score is judged; a `NaN` score
/// is unset. Runs last: it changes legacy rows.
async fn legacy_nan_reads_as_the_migration_writes_it(w: &World) -> anyhow::Result<()> {
    let (id, legacy_id) = *migrated(&w.lms, "exam_results")
        .await?
        .first()
        .ok_or_else(|| anyhow::anyhow!("no migrated exam result"))?;
    let exam: i32 = sqlx::query_scalar("SELECT exam_id FROM exam_results WHERE id = $1")
        .bind(legacy_id)
        .fetch_one(&w.legacy)
        .await?;
    sqlx::query("UPDATE exams SET max_score = 'NaN' WHERE id = $1")
        .bind(exam)
        .execute(&w.legacy)
        .await?;
    sqlx::query("UPDATE exam_results SET score = 99.5 WHERE id = $1")
        .bind(legacy_id)
        .execute(&w.legacy)
        .await?;
    let read = w.reader.get_submission(SubmissionId(id)).await?;
    assert_eq!(
        read.score.map(|score| score.to_string()).as_deref(),
        Some("99.50")
    );
    sqlx::query("UPDATE exam_results SET score = 'NaN' WHERE id = $1")
        .bind(legacy_id)
        .execute(&w.legacy)
        .await?;
    let read = w.reader.get_submission(SubmissionId(id)).await?;
    assert_eq!(read.score, None);
    let filter = SubmissionFilter {
        assessment_id: Some(read.assessment_id),
        ..SubmissionFilter::default()
    };
    let listed = drain(50, async |p| w.reader.list_submissions(&filter, p).await).await?;
    assert!(listed.contains(&read), "the NaN row is listed too");
    Ok(())
}

/// A row the map holds whose legacy row is gone since (no run has seen it
/// go): the LMS still has it, so neither a get nor a lookup denies it. Runs
/// last: it deletes a legacy row.
async fn a_row_gone_from_legacy_since_the_map_is_not_known(w: &World) -> anyhow::Result<()> {
    let (id, legacy_id) = *migrated(&w.lms, "exam_results")
        .await?
        .last()
        .ok_or_else(|| anyhow::anyhow!("no migrated exam result"))?;
    w.reader.get_submission(SubmissionId(id)).await?;
    sqlx::query("DELETE FROM exam_results WHERE id = $1")
        .bind(legacy_id)
        .execute(&w.legacy)
        .await?;
    not_known(w.reader.get_submission(SubmissionId(id)).await);
    not_known(w.reader.lookup_submission(legacy_id).await);
    w.repo.lookup_submission(legacy_id).await?;
    Ok(())
}

/// Journal and exam result ids are `bigint`: the smallest and the largest
/// it holds are listed like any other, at the ends of the lists.
async fn rows_at_the_ends_of_bigint_are_listed(
    w: &World,
    settings: &Settings,
) -> anyhow::Result<()> {
    let reader = &w.reader;
    let with_grades = id_pairs(
        &w.lms,
        "SELECT legacy_id, 0::bigint FROM grades ORDER BY legacy_id LIMIT 2",
    )
    .await?;
    let results = migrated(&w.lms, "exam_results").await?;
    anyhow::ensure!(with_grades.len() == 2 && results.len() >= 2, "too few rows");
    for (table, low, high) in [
        ("journal", with_grades[0].0, with_grades[1].0),
        ("exam_results", results[0].1, results[1].1),
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET id = CASE WHEN id = $1 THEN $3 ELSE $4 END \
             WHERE id IN ($1, $2)"
        )))
        .bind(low)
        .bind(high)
        .bind(i64::MIN)
        .bind(i64::MAX)
        .execute(&w.legacy)
        .await?;
    }
    migrate(settings, "legacy-read-bigint-ends").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");

    let ends = |ids: Vec<i64>| match (ids.first(), ids.last()) {
        (Some(first), Some(last)) => (*first, *last),
        _ => (0, 0),
    };
    let enrollments = drain(1000, async |p| {
        reader
            .list_enrollments(&EnrollmentFilter::default(), p)
            .await
    })
    .await?;
    let legacy_ids = |items: Vec<Option<Legacy>>| {
        items
            .into_iter()
            .flatten()
            .map(|legacy| legacy.legacy_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ends(legacy_ids(enrollments.iter().map(|e| e.legacy).collect())),
        (i64::MIN, i64::MAX),
        "enrollments"
    );
    let grades = drain(1000, async |p| {
        reader.list_grades(&GradeFilter::default(), p).await
    })
    .await?;
    assert_eq!(
        ends(legacy_ids(grades.iter().map(|g| g.legacy).collect())),
        (i64::MIN, i64::MAX),
        "grades"
    );
    let submissions = drain(1000, async |p| {
        reader
            .list_submissions(&SubmissionFilter::default(), p)
            .await
    })
    .await?;
    assert_eq!(
        ends(legacy_ids(submissions.iter().map(|s| s.legacy).collect())),
        (i64::MIN, i64::MAX),
        "submissions"
    );
    Ok(())
}

/// An organization made its own parent, and two made each other's: the
/// degraded reads break the rings where the migration does.
async fn a_ring_of_parents_reads_as_the_lms_links_it(
    w: &World,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (repo, reader) = (&w.repo, &w.reader);
    let ringed: Vec<(i64,)> = sqlx::query_as(
        "WITH three AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM organizations \
                        ORDER BY id LIMIT 3), \
              linked AS (SELECT a.id, b.id AS parent FROM three a JOIN three b \
                         ON (a.n, b.n) IN ((1, 1), (2, 3), (3, 2))) \
         UPDATE organizations o SET parent_id = linked.parent FROM linked \
         WHERE o.id = linked.id RETURNING o.id::bigint",
    )
    .fetch_all(&w.legacy)
    .await?;
    anyhow::ensure!(ringed.len() == 3, "three organizations");
    migrate(settings, "legacy-read-parent-rings").await?;
    assert!(reader.refresh_ids(&w.lms).await?, "a run finished");

    let mut roots = 0;
    for (legacy_id,) in ringed {
        let lms = repo.lookup_organization(legacy_id).await?;
        assert_eq!(reader.lookup_organization(legacy_id).await?, lms);
        roots += usize::from(lms.parent_id.is_none());
    }
    assert_eq!(roots, 2, "each ring broken once");
    Ok(())
}
