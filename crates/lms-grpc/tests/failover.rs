//! The failover pool under a real outage: throwaway PostgreSQL clusters
//! for the LMS primary (and a streaming standby), traffic flowing while the
//! primary is stopped and started again.
//!
//! Reads must keep succeeding (from the standby, or from the legacy
//! database when there is none), writes must fail with UNAVAILABLE and
//! never be lost once acknowledged, every response must name its source,
//! and traffic must return to the primary at the next probe (the tests
//! allow three probe intervals, for a loaded machine).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lms_config::{Settings, StandbySettings};
use lms_data::{Database, schema};
use lms_engine::inline::run_inline;
use lms_engine::setup::connect_engine;
use lms_engine::{RunKind, RunOptions, plan_run};
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
use lms_grpc::pb::lms::v1::enrollment_service_client::EnrollmentServiceClient;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{TempCluster, TestDatabase, TestRedis, test_settings};
use support::{ADMIN, READER, RunningServer, WRITER};
use tokio::sync::mpsc;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

const PROBE_INTERVAL: Duration = Duration::from_secs(1);

struct Fixture {
    primary: TempCluster,
    standby: Option<TempCluster>,
    legacy_db: TestDatabase,
    redis: TestRedis,
    settings: Settings,
    /// LMS names of migrated students, with their legacy ids.
    students: Vec<(String, i64)>,
    course: String,
}

/// A primary (and optionally a standby) holding a migrated LMS database, and
/// the legacy database it came from.
async fn fixture(purpose: &str, with_standby: bool) -> anyhow::Result<Fixture> {
    let primary = TempCluster::primary(&format!("{purpose}primary")).await?;
    let standby = if with_standby {
        Some(TempCluster::standby_of(&primary, &format!("{purpose}standby")).await?)
    } else {
        None
    };
    let admin = lms_pg::connect(
        &primary.url("postgres")?,
        &lms_pg::PoolConfig::small("failover-test"),
    )
    .await?;
    sqlx::query("CREATE DATABASE lms").execute(&admin).await?;
    admin.close().await;

    let legacy_db = TestDatabase::create(&format!("{purpose}edu")).await?;
    seed_legacy_database(
        legacy_db.url(),
        SeedOptions {
            scale: Scale::Small,
            seed: 11,
            force: true,
        },
    )
    .await?;
    let redis = TestRedis::new(purpose);
    let mut settings = test_settings(
        &primary.url("lms")?,
        legacy_db.url(),
        redis.url(),
        redis.namespace(),
    )?;
    let db = Database::connect(
        &settings.database.url,
        &lms_pg::PoolConfig::small("failover-test"),
    )
    .await?;
    schema::upgrade(&db).await?;
    let engine = connect_engine(&settings, format!("{purpose}-inline"), 2).await?;
    let planned = plan_run(
        &engine.lms,
        &engine.legacy,
        &RunOptions {
            entities: Vec::new(),
            chunk_size: 5_000,
            max_chunks: settings.migration.max_chunks,
            request: None,
            kind: RunKind::Full,
            on_conflict: lms_engine::ConflictPolicy::KeepLms,
            hold: None,
        },
    )
    .await?;
    anyhow::ensure!(
        run_inline(&engine, planned.run_id, 2).await? == lms_engine::RunStatus::Succeeded
    );
    engine.lms.close().await;
    engine.legacy.close().await;
    let students: Vec<(String, i64)> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT id, legacy_id::bigint FROM students WHERE legacy_id IS NOT NULL ORDER BY id LIMIT 20",
    )
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(|(id, legacy_id)| (format!("students/{id}"), legacy_id))
    .collect();
    let course: i64 = sqlx::query_scalar("SELECT min(id) FROM courses")
        .fetch_one(db.pool())
        .await?;
    let expected_students: i64 = sqlx::query_scalar("SELECT count(*) FROM students")
        .fetch_one(db.pool())
        .await?;
    db.pool().close().await;

    if let Some(standby) = &standby {
        // The standby must have replayed the migration before the outage.
        let replica = lms_pg::connect(
            &standby.url("lms")?,
            &lms_pg::PoolConfig::small("failover-test"),
        )
        .await?;
        let mut seen = 0;
        for _ in 0..200 {
            seen = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM students")
                .fetch_one(&replica)
                .await
                .unwrap_or(0);
            if seen == expected_students {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        replica.close().await;
        anyhow::ensure!(seen == expected_students, "the standby did not catch up");
        settings.database.standbys = vec![StandbySettings {
            url: standby.url("lms")?,
            min_connections: None,
            max_connections: None,
            connect_timeout: None,
            acquire_timeout: None,
        }];
    }
    settings.database.connect_timeout = Duration::from_secs(1);
    settings.database.acquire_timeout = Duration::from_secs(1);
    settings.failover.probe_interval = PROBE_INTERVAL;
    // As long as the interval allows: a probe that a loaded machine holds
    // up must not mark a live primary down mid-test.
    settings.failover.probe_timeout = PROBE_INTERVAL;
    Ok(Fixture {
        primary,
        standby,
        legacy_db,
        redis,
        settings,
        students,
        course: format!("courses/{course}"),
    })
}

impl Fixture {
    async fn close(self) -> anyhow::Result<()> {
        drop(self.standby);
        drop(self.primary);
        self.redis.clean().await?;
        self.legacy_db.drop_now().await
    }
}

/// One read of the background traffic.
#[derive(Debug)]
struct ReadOutcome {
    source: Result<String, Code>,
    student: Option<pb::Student>,
}

/// Reads students in a loop until `running` is cleared.
fn read_traffic(
    mut client: StudentServiceClient<support::Authed>,
    names: Vec<String>,
    running: Arc<AtomicBool>,
) -> mpsc::UnboundedReceiver<ReadOutcome> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut next = 0;
        while running.load(Ordering::Relaxed) {
            let name = names[next % names.len()].clone();
            next += 1;
            let outcome = match client.get_student(pb::GetStudentRequest { name }).await {
                Ok(response) => ReadOutcome {
                    source: Ok(source_of(response.metadata())),
                    student: Some(response.into_inner()),
                },
                Err(status) => ReadOutcome {
                    source: Err(status.code()),
                    student: None,
                },
            };
            if sender.send(outcome).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    receiver
}

fn source_of(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-lms-data-source")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("(none)")
        .to_owned()
}

fn drain(receiver: &mut mpsc::UnboundedReceiver<ReadOutcome>) -> Vec<ReadOutcome> {
    let mut outcomes = Vec::new();
    while let Ok(outcome) = receiver.try_recv() {
        outcomes.push(outcome);
    }
    outcomes
}

/// Waits until a read reports `source`; returns how long that took.
async fn wait_for_source(
    client: &mut StudentServiceClient<support::Authed>,
    name: &str,
    source: &str,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(response) = client
            .get_student(pb::GetStudentRequest {
                name: name.to_owned(),
            })
            .await
            && source_of(response.metadata()) == source
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("reads did not come from {source} within {limit:?}")
}

async fn data_health(server: &RunningServer) -> anyhow::Result<i32> {
    let mut health = HealthClient::new(server.authed(READER).await?);
    Ok(health
        .check(HealthCheckRequest {
            service: "lms.data".into(),
        })
        .await?
        .into_inner()
        .status)
}

async fn create_material(
    client: &mut CourseServiceClient<support::Authed>,
    course: &str,
    title: String,
) -> Result<String, tonic::Status> {
    client
        .create_course_material(pb::CreateCourseMaterialRequest {
            parent: course.to_owned(),
            course_material: Some(pb::CourseMaterial {
                title,
                kind: pb::MaterialKind::Text.into(),
                body: "notes".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().name)
}

#[tokio::test]
async fn reads_fail_over_to_the_standby_and_return_to_the_primary() -> anyhow::Result<()> {
    let fixture = fixture("fostandby", true).await?;
    let server = RunningServer::start(fixture.settings.clone()).await?;
    let names: Vec<String> = fixture
        .students
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let mut reader = StudentServiceClient::new(server.authed(READER).await?);
    let mut writer = CourseServiceClient::new(server.authed(WRITER).await?);
    assert_eq!(data_health(&server).await?, 1, "SERVING on the primary");

    let running = Arc::new(AtomicBool::new(true));
    let mut traffic = read_traffic(reader.clone(), names.clone(), running.clone());
    let mut acknowledged = Vec::new();
    for index in 0..5 {
        acknowledged
            .push(create_material(&mut writer, &fixture.course, format!("before {index}")).await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    fixture.primary.stop().await?;
    let failed_over =
        wait_for_source(&mut reader, &names[0], "standby", Duration::from_secs(10)).await?;
    // Writes fail fast and say why; none is acknowledged.
    for index in 0..5 {
        let refused =
            create_material(&mut writer, &fixture.course, format!("during {index}")).await;
        let status = refused
            .err()
            .ok_or_else(|| anyhow::anyhow!("a write succeeded without the primary"))?;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("primary"), "{}", status.message());
    }
    assert_eq!(data_health(&server).await?, 2, "NOT_SERVING while degraded");
    // Migration control never fails over: it answers from the primary or
    // not at all, and says so.
    let mut migration = MigrationServiceClient::new(server.authed(ADMIN).await?);
    let runs = migration
        .list_runs(lms_grpc::pb::lms::migration::v1::ListRunsRequest::default())
        .await;
    let status = runs
        .err()
        .ok_or_else(|| anyhow::anyhow!("runs were listed without the primary"))?;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(source_of(status.metadata()), "primary");
    tokio::time::sleep(Duration::from_millis(300)).await;

    fixture.primary.start().await?;
    let returned = wait_for_source(&mut reader, &names[0], "primary", PROBE_INTERVAL * 6).await?;
    acknowledged.push(create_material(&mut writer, &fixture.course, "after".to_owned()).await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcomes = drain(&mut traffic);

    let failures: Vec<&ReadOutcome> = outcomes
        .iter()
        .filter(|outcome| outcome.source.is_err())
        .collect();
    assert!(
        failures.is_empty(),
        "reads failed during the outage: {failures:?}"
    );
    let sources: Vec<&str> = outcomes
        .iter()
        .filter_map(|outcome| outcome.source.as_deref().ok())
        .collect();
    assert!(sources.contains(&"standby"), "{sources:?}");
    assert_eq!(sources.first(), Some(&"primary"));
    assert_eq!(sources.last(), Some(&"primary"));
    assert!(
        returned <= PROBE_INTERVAL * 3,
        "traffic returned after {returned:?}"
    );
    assert!(
        failed_over < Duration::from_secs(5),
        "failover took {failed_over:?}"
    );
    assert_eq!(data_health(&server).await?, 1);

    // Nothing acknowledged was lost.
    let mut materials = CourseServiceClient::new(server.authed(READER).await?);
    for name in &acknowledged {
        let found = materials
            .get_course_material(pb::GetCourseMaterialRequest { name: name.clone() })
            .await?;
        assert_eq!(source_of(found.metadata()), "primary");
    }
    server.stop().await?;
    fixture.close().await
}

#[tokio::test]
async fn without_a_standby_reads_come_from_the_legacy_database() -> anyhow::Result<()> {
    let fixture = fixture("folegacy", false).await?;
    let server = RunningServer::start(fixture.settings.clone()).await?;
    let names: Vec<String> = fixture
        .students
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let mut reader = StudentServiceClient::new(server.authed(READER).await?);
    let mut writer = CourseServiceClient::new(server.authed(WRITER).await?);

    // What the LMS says, to compare the degraded answers with.
    let mut from_primary = Vec::new();
    for name in &names {
        let response = reader
            .get_student(pb::GetStudentRequest { name: name.clone() })
            .await?;
        assert_eq!(source_of(response.metadata()), "primary");
        from_primary.push(response.into_inner());
    }

    let running = Arc::new(AtomicBool::new(true));
    let mut traffic = read_traffic(reader.clone(), names.clone(), running.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    fixture.primary.stop().await?;
    wait_for_source(&mut reader, &names[0], "legacy", Duration::from_secs(10)).await?;

    // Degraded answers have the LMS's shape and values.
    for expected in &from_primary {
        let response = reader
            .get_student(pb::GetStudentRequest {
                name: expected.name.clone(),
            })
            .await?;
        assert_eq!(source_of(response.metadata()), "legacy");
        assert_eq!(&response.into_inner(), expected);
    }
    let (_, legacy_id) = fixture.students[0];
    let looked_up = reader
        .lookup_student(pb::LookupStudentRequest {
            legacy_id: Some(legacy_id),
        })
        .await?;
    assert_eq!(source_of(looked_up.metadata()), "legacy");
    assert_eq!(looked_up.into_inner(), from_primary[0]);

    let refused = create_material(&mut writer, &fixture.course, "during".to_owned()).await;
    let status = refused
        .err()
        .ok_or_else(|| anyhow::anyhow!("a write succeeded without the primary"))?;
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(source_of(status.metadata()), "legacy");

    fixture.primary.start().await?;
    let returned = wait_for_source(&mut reader, &names[0], "primary", PROBE_INTERVAL * 6).await?;
    running.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcomes = drain(&mut traffic);
    let failures: Vec<&ReadOutcome> = outcomes
        .iter()
        .filter(|outcome| outcome.source.is_err())
        .collect();
    assert!(
        failures.is_empty(),
        "reads failed during the outage: {failures:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|outcome| outcome.source.as_deref() == Ok("legacy") && outcome.student.is_some())
    );
    assert!(
        returned <= PROBE_INTERVAL * 3,
        "traffic returned after {returned:?}"
    );
    server.stop().await?;
    fixture.close().await
}

/// A course `student` (a resource name) is not enrolled in, read on the
/// primary.
async fn course_without(fixture: &Fixture, student: &str) -> anyhow::Result<String> {
    let lms = lms_pg::connect(
        &fixture.settings.database.url,
        &lms_pg::PoolConfig::small("failover-test"),
    )
    .await?;
    let course: i64 = sqlx::query_scalar(
        "SELECT min(c.id) FROM courses c WHERE NOT EXISTS \
         (SELECT 1 FROM course_enrollments e WHERE e.course_id = c.id AND e.student_id = $1)",
    )
    .bind(student.trim_start_matches("students/").parse::<i64>()?)
    .fetch_one(&lms)
    .await?;
    lms.close().await;
    Ok(format!("courses/{course}"))
}

/// An enrollment created through the API has no legacy row. With the LMS
/// down, a read of it is UNAVAILABLE (reason NOT_KNOWN_TO_LEGACY), which a
/// client retries, and not NOT_FOUND, which would tell it the row is gone.
#[tokio::test]
async fn a_row_created_in_the_lms_is_not_denied_in_degraded_mode() -> anyhow::Result<()> {
    let fixture = fixture("fonotknown", false).await?;
    let server = RunningServer::start(fixture.settings.clone()).await?;
    let mut students = StudentServiceClient::new(server.authed(READER).await?);
    let mut reader = EnrollmentServiceClient::new(server.authed(READER).await?);
    let mut writer = EnrollmentServiceClient::new(server.authed(WRITER).await?);
    let (student, _) = &fixture.students[0];
    let created = writer
        .create_enrollment(pb::CreateEnrollmentRequest {
            enrollment: Some(pb::Enrollment {
                student: student.clone(),
                course: course_without(&fixture, student).await?,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();

    fixture.primary.stop().await?;
    wait_for_source(&mut students, student, "legacy", Duration::from_secs(10)).await?;
    let get = pb::GetEnrollmentRequest {
        name: created.name.clone(),
    };
    let status = reader
        .get_enrollment(get.clone())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("legacy served an enrollment it never had"))?;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_details_error_info().map(|info| info.reason),
        Some("NOT_KNOWN_TO_LEGACY".to_owned())
    );
    assert_eq!(source_of(status.metadata()), "legacy");

    fixture.primary.start().await?;
    wait_for_source(&mut students, student, "primary", PROBE_INTERVAL * 6).await?;
    assert_eq!(reader.get_enrollment(get).await?.into_inner(), created);
    server.stop().await?;
    fixture.close().await
}

/// Every page of `ListStudents` with `filter`: the students, and how many
/// pages came back short of `page_size` with a token.
async fn list_every_student(
    client: &mut StudentServiceClient<support::Authed>,
    filter: &str,
    page_size: i32,
    most_per_page: usize,
) -> anyhow::Result<(Vec<pb::Student>, usize)> {
    let mut students = Vec::new();
    let mut short_pages = 0;
    let mut page_token = String::new();
    for _ in 0..10_000 {
        let page = client
            .list_students(pb::ListStudentsRequest {
                page_size,
                page_token,
                filter: filter.to_owned(),
            })
            .await?
            .into_inner();
        anyhow::ensure!(
            page.students.len() <= most_per_page,
            "a page held {} students",
            page.students.len()
        );
        let ended = page.next_page_token.is_empty();
        if !ended && page.students.len() < page_size as usize {
            short_pages += 1;
        }
        students.extend(page.students);
        if ended {
            return Ok((students, short_pages));
        }
        page_token = page.next_page_token;
    }
    anyhow::bail!("the pages do not end")
}

#[tokio::test]
async fn degraded_lists_stop_at_their_row_bound_and_resume() -> anyhow::Result<()> {
    const BOUND: usize = 5;
    let mut fixture = fixture("fobound", false).await?;
    fixture.settings.legacy.max_rows_per_list = BOUND;
    let server = RunningServer::start(fixture.settings.clone()).await?;
    let mut reader = StudentServiceClient::new(server.authed(READER).await?);
    // The students of one group: a few among many.
    let lms = lms_pg::connect(
        &fixture.settings.database.url,
        &lms_pg::PoolConfig::small("failover-test"),
    )
    .await?;
    let group: i64 = sqlx::query_scalar(
        "SELECT group_id FROM students WHERE group_id IS NOT NULL \
         GROUP BY group_id HAVING count(*) > $1 ORDER BY count(*), group_id LIMIT 1",
    )
    .bind(BOUND as i64)
    .fetch_one(&lms)
    .await?;
    lms.close().await;
    let filter = format!("group = \"groups/{group}\"");
    let (mut from_primary, _) = list_every_student(&mut reader, &filter, 1000, 1000).await?;
    assert!(
        from_primary.len() > BOUND,
        "{} students",
        from_primary.len()
    );

    fixture.primary.stop().await?;
    let (name, _) = &fixture.students[0];
    wait_for_source(&mut reader, name, "legacy", Duration::from_secs(10)).await?;
    // Pages of 50 asked for; each call examines at most 5 legacy rows, so
    // no page holds more than 5, and the short ones carry a token.
    let (mut degraded, short_pages) = list_every_student(&mut reader, &filter, 50, BOUND).await?;
    assert!(short_pages > 0, "no page stopped at the bound");
    degraded.sort_by(|a, b| a.name.cmp(&b.name));
    from_primary.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        degraded, from_primary,
        "every student of the group, each once"
    );
    server.stop().await?;
    fixture.close().await
}
