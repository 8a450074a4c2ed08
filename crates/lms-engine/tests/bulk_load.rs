//! The initial-load path: empty tables are loaded without their secondary
//! indexes and foreign keys, which come back (validated by PostgreSQL)
//! before the run may succeed; writes are refused meanwhile; and whatever a
//! failure or a crash leaves, the next run repairs and completes.

mod support;

use lms_domain::LegacyEntity;
use lms_engine::RunStatus;
use lms_engine::bulk::LoadPath;
use std::time::Duration;

use lms_data::Database;
use lms_data::repo::Repository;
use lms_domain::DomainError;
use lms_domain::model::{NewStudent, PersonId, StudentId, UserId};
use lms_domain::status::StudentStatus;
use lms_engine::{ChunkOutcome, EngineContext, RetryPolicy, RunOptions, plan_run, run_chunk};
use lms_legacy::Scale;
use sqlx::{AssertSqlSafe, Connection, PgPool};
use support::fingerprint::fingerprint;
use support::{Fixture, entity, run_until};
use uuid::Uuid;

const OPTIONS: RunOptions = RunOptions {
    entities: Vec::new(),
    chunk_size: 400,
    max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
    request: None,
    kind: lms_engine::RunKind::Full,
    on_conflict: lms_engine::ConflictPolicy::KeepLms,
    hold: None,
};

/// Every foreign key and index of the LMS schema, and whether it is valid.
async fn schema_objects(pool: &PgPool) -> anyhow::Result<Vec<(String, bool)>> {
    Ok(sqlx::query_as(
        "SELECT 'fk ' || conrelid::regclass || ' ' || conname, convalidated FROM pg_constraint \
         WHERE contype IN ('f', 'u') AND connamespace = 'public'::regnamespace \
         UNION ALL \
         SELECT 'index ' || x.indrelid::regclass || ' ' || i.relname, x.indisvalid \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         WHERE i.relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    .fetch_all(pool)
    .await?)
}

/// The schema's objects as a fresh LMS database has them.
async fn fresh_schema_objects() -> anyhow::Result<Vec<(String, bool)>> {
    let fresh = Fixture::empty_legacy("bulkfresh").await?;
    let objects = schema_objects(fresh.lms()).await?;
    fresh.close().await?;
    Ok(objects)
}

/// The definitions bulk loads dropped and the write guards they set, still
/// waiting to be put back.
async fn bulk_guards_left(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM migration.deferred_ddl) \
              + (SELECT count(*) FROM migration.bulk_loads)",
    )
    .fetch_one(pool)
    .await?)
}

async fn load_paths(pool: &PgPool, run_id: Uuid) -> anyhow::Result<Vec<(String, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT entity, load_path FROM migration.run_steps WHERE run_id = $1 AND phase = 'apply' ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?)
}

#[tokio::test]
async fn empty_tables_are_loaded_in_bulk_and_end_with_every_key_validated() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkpath", Scale::Small, 81).await?;
    let expected = fresh_schema_objects().await?;

    let report = fixture.migrate(400).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let paths = load_paths(fixture.lms(), report.run_id).await?;
    assert!(
        paths
            .iter()
            .all(|(_, path)| path.as_deref() == Some("bulk")),
        "{paths:?}"
    );
    assert_eq!(schema_objects(fixture.lms()).await?, expected);
    assert!(expected.iter().all(|(_, valid)| *valid));
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM migration.deferred_ddl) + (SELECT count(*) FROM migration.bulk_loads)",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(leftovers, 0);
    fixture.close().await
}

/// The bulk path numbers each chunk's new rows from the table's identity
/// sequence in legacy id order, and every migrated row's ledger entry (and, for the
/// journal, its final grade) points at the LMS row written for it.
#[tokio::test]
async fn a_bulk_load_numbers_targets_in_legacy_order_and_links_each_to_its_row()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkids", Scale::Small, 83).await?;

    let report = fixture.migrate(400).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    for entity in LegacyEntity::ALL {
        let table = entity.target_table();
        let (migrated, linked, out_of_order): (i64, i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT (SELECT count(*) FROM migration.ledger WHERE entity = $1 AND outcome = 'migrated'), \
                    (SELECT count(*) FROM migration.ledger l JOIN {table} t \
                       ON t.id = l.target_id AND t.legacy_id = l.legacy_id \
                     WHERE l.entity = $1 AND l.outcome = 'migrated'), \
                    (SELECT count(*) FROM ( \
                       SELECT t.id < lag(t.id) OVER (PARTITION BY c.id ORDER BY t.legacy_id) AS back \
                       FROM migration.chunks c \
                       JOIN migration.run_steps s ON s.id = c.step_id AND s.phase = 'apply' AND s.entity = $1 \
                       JOIN {table} t ON t.legacy_id BETWEEN coalesce(c.first_legacy_id, -9223372036854775808) \
                                                         AND coalesce(c.last_legacy_id, 9223372036854775807)) n \
                     WHERE back)"
        )))
        .bind(entity.as_str())
        .fetch_one(fixture.lms())
        .await?;
        assert!(migrated > 0, "{entity}: nothing migrated");
        assert_eq!(
            linked, migrated,
            "{entity}: ledger rows not linked to their own row"
        );
        assert_eq!(
            out_of_order, 0,
            "{entity}: ids out of legacy order within a chunk"
        );
    }
    let misgraded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM grades g JOIN course_enrollments e ON e.id = g.enrollment_id \
         WHERE g.legacy_id IS DISTINCT FROM e.legacy_id",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(misgraded, 0);
    fixture.close().await
}

#[tokio::test]
async fn a_run_over_migrated_tables_takes_the_delta_path_and_says_why() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("deltapath", Scale::Small, 82).await?;
    fixture.migrate(400).await?;

    let report = fixture.migrate(400).await?;

    let reasons: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT load_path, load_reason FROM migration.run_steps WHERE run_id = $1 AND phase = 'apply' AND entity = 'journal'",
    )
    .bind(report.run_id)
    .fetch_all(fixture.lms())
    .await?;
    assert_eq!(reasons[0].0, "delta");
    assert!(
        reasons[0]
            .1
            .as_deref()
            .is_some_and(|reason| reason.contains("migrated before"))
    );
    let progress = lms_engine::run_progress(fixture.lms(), report.run_id).await?;
    let journal = progress
        .entities
        .iter()
        .find(|entity| entity.entity == LegacyEntity::Journal);
    assert_eq!(
        journal.and_then(|entity| entity.load_path),
        Some(LoadPath::Delta)
    );
    fixture.close().await
}

#[tokio::test]
async fn writes_to_a_table_being_loaded_in_bulk_are_refused_with_the_reason() -> anyhow::Result<()>
{
    let fixture = Fixture::seeded("bulkrefuse", Scale::Small, 83).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let db = Database::connect(fixture.lms_db.url(), &lms_pg::PoolConfig::small("test")).await?;
    let repository = Repository::new(&db);

    let refused = repository
        .create_student(NewStudent {
            person_id: PersonId(1),
            user_id: UserId(1),
            organization_id: None,
            group_id: None,
            admission_year: None,
            status: StudentStatus::Active,
            record_book_no: None,
        })
        .await;

    match refused {
        Err(DomainError::Busy(message)) => {
            assert!(message.contains("being loaded in bulk"), "{message}");
            assert!(message.contains(&planned.run_id.to_string()), "{message}");
        }
        other => panic!("expected Busy (UNAVAILABLE), got {other:?}"),
    }
    db.pool().close().await;
    fixture.close().await
}

#[tokio::test]
async fn deletes_from_a_table_a_bulk_load_references_are_refused_until_its_keys_are_back()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkparent", Scale::Small, 88).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    // Students are loaded and their own guard is gone; the enrollments
    // referencing them are in, without their foreign keys.
    let finalize = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "finalize"
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("no journal finalize"))?;
    let enrolled: i64 =
        sqlx::query_scalar("SELECT student_id FROM course_enrollments ORDER BY id LIMIT 1")
            .fetch_one(fixture.lms())
            .await?;
    let db = Database::connect(fixture.lms_db.url(), &lms_pg::PoolConfig::small("test")).await?;

    let refused = Repository::new(&db)
        .delete_student(StudentId(enrolled))
        .await;

    let Err(DomainError::Busy(message)) = refused else {
        anyhow::bail!("expected Busy (UNAVAILABLE), got {refused:?}");
    };
    assert!(
        message.contains("rows of students are referenced by")
            && message.contains(&planned.run_id.to_string()),
        "{message}"
    );
    let courses = fixture
        .lms_sql("DELETE FROM courses WHERE id = (SELECT min(course_id) FROM course_enrollments)")
        .await;
    let refused = courses.map_err(|error| format!("{error:#}"));
    assert!(
        refused
            .as_ref()
            .is_err_and(|error| error.contains("rows of courses are referenced by")),
        "{refused:?}"
    );
    let done = run_chunk(&fixture.engine, finalize).await?;
    assert!(matches!(done, ChunkOutcome::Done(_)), "{done:?}");
    run_until(&fixture.engine, planned.run_id, |_, _| false).await?;
    assert_eq!(
        fixture.report(planned.run_id).await?.status,
        RunStatus::Succeeded
    );
    db.pool().close().await;
    fixture.close().await
}

#[tokio::test]
async fn a_run_cancelled_mid_load_gives_the_tables_back_at_once() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkcancel", Scale::Small, 89).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "apply"
    })
    .await?;

    lms_engine::control::cancel_run(fixture.lms(), planned.run_id, None).await?;

    assert_eq!(
        bulk_guards_left(fixture.lms()).await?,
        0,
        "dropped definitions and write guards left"
    );
    assert_eq!(
        schema_objects(fixture.lms()).await?,
        fresh_schema_objects().await?,
        "every index and key back, and valid"
    );
    fixture.close().await
}

fn impatient(engine: &EngineContext) -> EngineContext {
    EngineContext {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
        },
        lock_timeout: Duration::from_millis(200),
        ..engine.clone()
    }
}

#[tokio::test]
async fn a_run_that_fails_while_rebuilding_indexes_is_completed_by_the_next() -> anyhow::Result<()>
{
    let fixture = Fixture::seeded("bulkfail", Scale::Small, 84).await?;
    let clean = Fixture::seeded("bulkclean", Scale::Small, 84).await?;
    clean.migrate(400).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let finalize = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "finalize"
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("no journal finalize"))?;
    // A writer holds the table while the indexes are rebuilt: the build
    // waits, gives up, and the run fails with the table half restored.
    let mut holder = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql("BEGIN; LOCK TABLE course_enrollments IN ROW EXCLUSIVE MODE")
        .execute(&mut holder)
        .await?;
    let failed = run_chunk(&impatient(&fixture.engine), finalize).await?;
    assert!(matches!(failed, ChunkOutcome::Failed(_)), "{failed:?}");
    drop(holder);
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.deferred_ddl")
        .fetch_one(fixture.lms())
        .await?;
    assert!(pending > 0, "the dropped indexes are still recorded");

    let next = fixture.migrate(400).await?;

    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(
        schema_objects(fixture.lms()).await?,
        schema_objects(clean.lms()).await?
    );
    assert_eq!(
        fingerprint(fixture.lms()).await?,
        fingerprint(clean.lms()).await?,
        "the same result as a run that never failed"
    );
    clean.close().await?;
    fixture.close().await
}

#[tokio::test]
async fn not_valid_keys_and_invalid_indexes_are_repaired_before_a_run() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkrepair", Scale::Small, 85).await?;
    fixture.migrate(400).await?;
    // What a crash between adding a key and validating it, or inside a
    // concurrent index build, leaves behind.
    fixture
        .lms_sql(
            "ALTER TABLE course_enrollments DROP CONSTRAINT course_enrollments_student_id_fkey; \
             ALTER TABLE course_enrollments ADD CONSTRAINT course_enrollments_student_id_fkey \
                 FOREIGN KEY (student_id) REFERENCES students (id) NOT VALID; \
             UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'grades_enrollment_id_idx'::regclass;",
        )
        .await?;

    let report = fixture.migrate(400).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let objects = schema_objects(fixture.lms()).await?;
    assert!(objects.iter().all(|(_, valid)| *valid), "{objects:?}");
    fixture.close().await
}

/// Plans a run with `options`, runs its chunks up to `entity`'s `phase`
/// and empties every unlogged table there, as a PostgreSQL crash does;
/// returns the run.
async fn crash_before(
    fixture: &Fixture,
    options: &RunOptions,
    entity: &str,
    phase: &str,
) -> anyhow::Result<Uuid> {
    let planned = plan_run(fixture.lms(), fixture.legacy(), options).await?;
    run_until(&fixture.engine, planned.run_id, |name, at| {
        name == entity && at == phase
    })
    .await?;
    fixture.crash_empties_unlogged_tables().await?;
    Ok(planned.run_id)
}

#[tokio::test]
async fn staging_a_crash_lost_is_staged_again_with_the_same_result() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkcrash", Scale::Small, 86).await?;
    let clean = Fixture::seeded("bulkcrashclean", Scale::Small, 86).await?;
    clean.migrate(400).await?;
    // A PostgreSQL crash empties unlogged tables: staging among them.
    let run_id = crash_before(&fixture, &OPTIONS, "journal", "apply").await?;

    run_until(&fixture.engine, run_id, |_, _| false).await?;

    let report = fixture.report(run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let restaged: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((stats->>'restaged')::bigint), 0)::bigint FROM migration.chunks WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_one(fixture.lms())
    .await?;
    assert!(restaged > 0, "the lost rows were staged again");
    assert_eq!(entity(&report, "journal").unexplained, 0);
    assert_eq!(
        fingerprint(fixture.lms()).await?,
        fingerprint(clean.lms()).await?
    );
    clean.close().await?;
    fixture.close().await
}

/// Two users whose logins collide, in two chunks of one: the second is
/// renamed, a rule settled over every user.
const COLLIDING_LOGINS: &str = "
INSERT INTO persons (id, last_name, first_name) VALUES (1, 'Petrova', 'Anna'), (2, 'Petrov', 'Anton');
INSERT INTO users (id, login, email, person_id, role) VALUES
    (1, 'apetrova', 'a1@mail.kz', 1, 'student'),
    (2, 'APetrova', 'a2@mail.kz', 2, 'student');
";

#[tokio::test]
async fn staging_lost_before_users_are_applied_settles_logins_over_every_user() -> anyhow::Result<()>
{
    let fixture = Fixture::empty_legacy("bulklostlogins").await?;
    let clean = Fixture::empty_legacy("bulklostloginsclean").await?;
    fixture.legacy_sql(COLLIDING_LOGINS).await?;
    clean.legacy_sql(COLLIDING_LOGINS).await?;
    clean.migrate(1).await?;
    let options = RunOptions {
        chunk_size: 1,
        ..OPTIONS
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "users" && phase == "apply"
    })
    .await?;
    // A crash empties every unlogged table, staging among them.
    fixture.crash_empties_unlogged_tables().await?;
    // The second user's chunk runs first (as a second worker may).
    let last_users_apply: i64 = sqlx::query_scalar(
        "SELECT max(c.id) FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'users' AND s.phase = 'apply'",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;

    let first = run_chunk(&fixture.engine, last_users_apply).await?;
    run_until(&fixture.engine, planned.run_id, |_, _| false).await?;

    assert!(matches!(first, ChunkOutcome::Done(_)), "{first:?}");
    let report = fixture.report(planned.run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let logins = "SELECT login FROM users ORDER BY legacy_id";
    let renamed: Vec<String> = sqlx::query_scalar(logins).fetch_all(fixture.lms()).await?;
    let expected: Vec<String> = sqlx::query_scalar(logins).fetch_all(clean.lms()).await?;
    assert_eq!(renamed, expected);
    clean.close().await?;
    fixture.close().await
}

#[tokio::test]
async fn staging_lost_before_resolve_over_changed_legacy_is_resolved_as_it_is_now()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulklostearly", Scale::Small, 90).await?;
    let clean = Fixture::seeded("bulklostearlyclean", Scale::Small, 90).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "resolve"
    })
    .await?;
    // Legacy changes after the journal was staged, and a crash empties
    // staging before the journal is resolved.
    let edit = "DELETE FROM journal WHERE id = (SELECT max(id) FROM journal); \
                UPDATE journal SET mark_final = CASE WHEN mark_final = '5' THEN '4' ELSE '5' END \
                WHERE id = (SELECT min(id) FROM journal)";
    fixture.legacy_sql(edit).await?;
    clean.legacy_sql(edit).await?;
    fixture.crash_empties_unlogged_tables().await?;

    run_until(&fixture.engine, planned.run_id, |_, _| false).await?;

    let report = fixture.report(planned.run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    clean.migrate(400).await?;
    assert_eq!(
        fingerprint(fixture.lms()).await?,
        fingerprint(clean.lms()).await?,
        "the run ends where a run over the changed legacy does"
    );
    clean.close().await?;
    fixture.close().await
}

#[tokio::test]
async fn staging_lost_after_resolve_over_changed_legacy_fails_the_run_for_the_next_to_finish()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulklostchanged", Scale::Small, 87).await?;
    let clean = Fixture::seeded("bulklostclean", Scale::Small, 87).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let apply = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "apply"
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("no journal apply"))?;
    // Legacy changes after the journal was resolved, and then a crash
    // empties staging: staged again, the rows are not the ones resolved.
    let edit = "UPDATE journal SET mark_final = CASE WHEN mark_final = '5' THEN '4' ELSE '5' END \
                WHERE id = (SELECT min(id) FROM journal)";
    fixture.legacy_sql(edit).await?;
    clean.legacy_sql(edit).await?;
    fixture.crash_empties_unlogged_tables().await?;

    let failed = run_chunk(&fixture.engine, apply).await?;

    let ChunkOutcome::Failed(error) = failed else {
        anyhow::bail!("the apply went on over changed rows: {failed:?}");
    };
    assert!(error.contains("legacy has changed there since"), "{error}");
    let next = fixture.migrate(400).await?;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    clean.migrate(400).await?;
    assert_eq!(
        fingerprint(fixture.lms()).await?,
        fingerprint(clean.lms()).await?,
        "the next run ends where a run over the changed legacy does"
    );
    clean.close().await?;
    fixture.close().await
}

#[tokio::test]
async fn a_failed_runs_chunk_left_queued_gives_the_tables_back_when_delivered_again()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulkfailbusy", Scale::Small, 90).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "apply"
    })
    .await?;
    let apply: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'apply' AND c.state = 'queued' \
         ORDER BY c.id",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    anyhow::ensure!(apply.len() > 1, "{} journal apply chunks", apply.len());
    // A worker holds one apply chunk while another fails the run; then that
    // worker dies, and its chunk is delivered again.
    let mut running = fixture.lms().begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(apply[0])
        .execute(&mut *running)
        .await?;
    let failed =
        lms_engine::progress::fail_chunk(fixture.lms(), planned.run_id, apply[1], "gave up")
            .await?;
    anyhow::ensure!(failed, "the chunk was not failed");
    running.rollback().await?;

    let outcome = run_chunk(&fixture.engine, apply[0]).await?;

    assert!(matches!(outcome, ChunkOutcome::Skipped(_)), "{outcome:?}");
    assert_eq!(
        bulk_guards_left(fixture.lms()).await?,
        0,
        "dropped definitions and write guards left"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_running_when_its_run_failed_gives_the_tables_back_when_it_settles()
-> anyhow::Result<()> {
    use sqlx::Connection;
    let fixture = Fixture::seeded("bulkfailrunning", Scale::Small, 91).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "apply"
    })
    .await?;
    let apply: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'apply' AND c.state = 'queued' \
         ORDER BY c.id",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    anyhow::ensure!(apply.len() > 1, "{} journal apply chunks", apply.len());
    // One apply chunk waits on a table another session holds; meanwhile
    // another chunk fails the run; then the first goes on, finds the run
    // failed and rolls its work back.
    let mut holder = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql("BEGIN; LOCK TABLE course_enrollments IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await?;
    let engine = fixture.engine.clone();
    let chunk = apply[0];
    let running = tokio::spawn(async move { run_chunk(&engine, chunk).await });
    let waited = support::waits_on_a_lock(fixture.lms(), &running).await?;
    let failed =
        lms_engine::progress::fail_chunk(fixture.lms(), planned.run_id, apply[1], "gave up")
            .await?;
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await?;
    let outcome = running.await??;
    anyhow::ensure!(waited && failed, "waited {waited}, failed {failed}");

    assert!(matches!(outcome, ChunkOutcome::Skipped(_)), "{outcome:?}");
    assert_eq!(
        bulk_guards_left(fixture.lms()).await?,
        0,
        "dropped definitions and write guards left"
    );
    fixture.close().await
}

/// A dry run's resolve predicts a table's references from the staging of
/// the tables it references: staging a crash emptied there is staged again
/// first, as the table's own is.
#[tokio::test]
async fn a_dry_run_whose_references_lost_their_staging_predicts_as_a_clean_one()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("bulklostdry", Scale::Small, 91).await?;
    let clean = Fixture::seeded("bulklostdryclean", Scale::Small, 91).await?;
    let dry_run = RunOptions {
        kind: lms_engine::RunKind::DryRun,
        ..OPTIONS
    };
    let expected = clean.migrate_with(dry_run.clone()).await?;
    // The students, subjects, groups and teachers the journal references
    // are staged and resolved; a crash empties their staging.
    let run_id = crash_before(&fixture, &dry_run, "journal", "resolve").await?;

    run_until(&fixture.engine, run_id, |_, _| false).await?;

    let report = fixture.report(run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(entity(&report, "journal"), entity(&expected, "journal"));
    clean.close().await?;
    fixture.close().await
}

/// Runs `ensure_staged` for the journal over `range` in a transaction of
/// its own, left open; returns what it staged again and the transaction.
async fn ensure_journal_staged(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    legacy: PgPool,
    run_id: Uuid,
    range: lms_engine::IdRange,
) -> anyhow::Result<(u64, sqlx::Transaction<'static, sqlx::Postgres>)> {
    let restaged = lms_engine::bulk::ensure_staged(
        &mut tx,
        &legacy,
        run_id,
        LegacyEntity::Journal,
        range,
        lms_engine::Phase::Apply,
    )
    .await?;
    Ok((restaged, tx))
}

/// A run planned and run up to the journal's apply, whose staging a crash
/// then emptied.
async fn journal_staging_lost(purpose: &str, seed: u64) -> anyhow::Result<(Fixture, Uuid)> {
    let fixture = Fixture::seeded(purpose, Scale::Small, seed).await?;
    let run_id = crash_before(&fixture, &OPTIONS, "journal", "apply").await?;
    Ok((fixture, run_id))
}

#[tokio::test]
async fn two_steps_that_find_the_same_staging_lost_stage_it_again_once() -> anyhow::Result<()> {
    let (fixture, run_id) = journal_staging_lost("bulklosttwice", 92).await?;
    let (lms, legacy) = (fixture.lms().clone(), fixture.legacy().clone());
    let all = lms_engine::IdRange::ALL;

    let (first, first_tx) =
        ensure_journal_staged(lms.begin().await?, legacy.clone(), run_id, all).await?;
    let second = tokio::spawn(ensure_journal_staged(
        lms.begin().await?,
        legacy,
        run_id,
        all,
    ));
    let waited = support::waits_on_a_lock(&lms, &second).await?;
    first_tx.commit().await?;
    let (second, second_tx) = second.await??;
    second_tx.commit().await?;

    assert!(waited, "the second check waited for the first");
    assert!(first > 0, "the first check staged the journal again");
    assert_eq!(second, 0, "the second found it staged");
    fixture.close().await
}

#[tokio::test]
async fn steps_over_other_ranges_stage_their_own_again_without_waiting() -> anyhow::Result<()> {
    let (fixture, run_id) = journal_staging_lost("bulklostapart", 93).await?;
    let (lms, legacy) = (fixture.lms().clone(), fixture.legacy().clone());
    let ranges: Vec<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT c.first_legacy_id, c.last_legacy_id FROM migration.chunks c \
         JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'stage' ORDER BY c.id LIMIT 2",
    )
    .bind(run_id)
    .fetch_all(&lms)
    .await?;
    let [(first_from, first_to), (second_from, second_to)] = ranges[..] else {
        anyhow::bail!("the journal has fewer than two stage chunks: {ranges:?}");
    };
    let range = |first, last| lms_engine::IdRange { first, last };

    let (first, first_tx) = ensure_journal_staged(
        lms.begin().await?,
        legacy.clone(),
        run_id,
        range(first_from, first_to),
    )
    .await?;
    let second = tokio::spawn(ensure_journal_staged(
        lms.begin().await?,
        legacy,
        run_id,
        range(second_from, second_to),
    ));
    let waited = support::waits_on_a_lock(&lms, &second).await?;
    // (Committed before the second ends, should it wait for the first.)
    first_tx.commit().await?;
    let (second, second_tx) = second.await??;
    second_tx.commit().await?;

    assert!(!waited, "a step over another range waited");
    assert!(
        first > 0 && second > 0,
        "each staged its range again: {first}, {second}"
    );
    fixture.close().await
}
