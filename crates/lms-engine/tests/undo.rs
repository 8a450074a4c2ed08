//! Undo of a delta run: the LMS and the ledger as before the run, a re-run
//! after it as if it had not happened, and the refusals.

mod support;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use lms_engine::inline::run_inline;
use lms_engine::undo::retention::prune_until_done;
use lms_engine::undo::undo_run;
use lms_engine::{
    ConflictPolicy, EngineContext, EngineError, RetryPolicy, RunOptions, RunStatus, plan_run,
};
use lms_legacy::Scale;
use sqlx::{AssertSqlSafe, PgPool, Row};
use support::Fixture;
use support::fingerprint::fingerprint;
use support::school::migrated_school;
use uuid::Uuid;

/// Every table a run writes, with the column its rows sort by.
const TABLES: [&str; 14] = [
    "organizations",
    "persons",
    "users",
    "staff_members",
    "student_groups",
    "subjects",
    "students",
    "courses",
    "course_enrollments",
    "grades",
    "assessments",
    "assessment_submissions",
    "migration.ledger",
    "migration.lms_deletions",
];

/// Every row of every table a run writes, whole (ids, timestamps, the
/// ledger's run ids and baselines).
async fn full_contents(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, Vec<String>>> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1"
        )))
        .fetch_all(pool)
        .await?;
        out.insert(table, rows);
    }
    Ok(out)
}

/// Legacy edits for the school: an update, rows added (a person, a user, a
/// student and a journal row), a mark changed and a row deleted.
const SCHOOL_DELTA: &str = r#"
UPDATE users SET email = 'alpha.new@mail.kz' WHERE id = 1;
INSERT INTO persons (id, last_name, first_name) VALUES (4, 'Sidorov', 'Petr');
INSERT INTO users (id, login, email, person_id, role) VALUES (4, 'delta', 'delta@mail.kz', 4, 'student');
INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) VALUES (12, 4, 4, 1, 1, 'active');
INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final)
    VALUES (104, 12, 1, 1, 20, '2024-2025', 1, 'active', '3');
UPDATE journal SET mark_final = '3' WHERE id = 100;
DELETE FROM exam_results WHERE id = 301;
"#;

/// A delta run over the whole school at `chunk_size`; its id.
async fn delta(fixture: &Fixture, chunk_size: u32) -> anyhow::Result<Uuid> {
    let report = fixture
        .rerun(chunk_size, ConflictPolicy::KeepLms, 2)
        .await?;
    anyhow::ensure!(
        report.status == RunStatus::Succeeded,
        "delta run: {:?}",
        report.error
    );
    Ok(report.run_id)
}

async fn restores_the_school(purpose: &str, chunk_size: u32) -> anyhow::Result<()> {
    let fixture = migrated_school(purpose).await?;
    let before = full_contents(fixture.lms()).await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, chunk_size).await?;
    assert_ne!(
        full_contents(fixture.lms()).await?,
        before,
        "the delta changed the LMS"
    );
    let undone = undo_run(fixture.lms(), run, None).await?;
    assert_eq!(undone.status, RunStatus::Undone);
    let after = full_contents(fixture.lms()).await?;
    for table in TABLES {
        assert_eq!(after[table], before[table], "{table} after undo");
    }
    fixture.close().await
}

#[tokio::test]
async fn undo_restores_updated_inserted_and_retired_rows_and_the_ledger() -> anyhow::Result<()> {
    restores_the_school("undo1", 1).await
}

#[tokio::test]
async fn undo_restores_a_delta_run_in_larger_chunks_as_well() -> anyhow::Result<()> {
    restores_the_school("undo3", 3).await
}

/// One percent of a seeded legacy database edited, added to and deleted from.
async fn one_percent_delta(fixture: &Fixture) -> anyhow::Result<()> {
    fixture
        .legacy_sql(
            "UPDATE users SET email = 'changed.' || id || '@mail.kz' WHERE id % 100 = 7; \
             UPDATE journal SET mark_final = CASE mark_final WHEN '5' THEN '4' ELSE '5' END WHERE id % 100 = 3; \
             DELETE FROM exam_results WHERE id % 100 = 11; \
             INSERT INTO persons (id, last_name, first_name, birth_date) \
                 SELECT 900000 + id, last_name, first_name, birth_date FROM persons WHERE id % 100 = 5",
        )
        .await
}

#[tokio::test]
async fn undoing_the_latest_delta_and_running_it_again_gives_the_same_lms() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("undoredo", Scale::Small, 41).await?;
    assert_eq!(fixture.migrate(500).await?.status, RunStatus::Succeeded);
    one_percent_delta(&fixture).await?;
    let started = Instant::now();
    let run = delta(&fixture, 500).await?;
    let delta_took = started.elapsed();
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migration.run_changes WHERE run_id = $1")
            .bind(run)
            .fetch_one(fixture.lms())
            .await?;
    eprintln!("1% delta at seed scale Small: {delta_took:?}, {logged} rows in its change log");
    let not_undone = fingerprint(fixture.lms()).await?;
    let started = Instant::now();
    undo_run(fixture.lms(), run, None).await?;
    eprintln!("undo: {:?}", started.elapsed());
    delta(&fixture, 137).await?;
    let redone = fingerprint(fixture.lms()).await?;
    for (table, digest) in &not_undone {
        assert_eq!(redone.get(table), Some(digest), "{table} (rows, digest)");
    }
    fixture.close().await
}

/// The refusal of an undo, as text.
async fn refusal(fixture: &Fixture, run: Uuid) -> anyhow::Result<String> {
    match undo_run(fixture.lms(), run, None).await {
        Err(EngineError::UndoRefused(message)) => Ok(message),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
}

async fn user_id(fixture: &Fixture, legacy_id: i64) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE legacy_id = $1")
            .bind(legacy_id)
            .fetch_one(fixture.lms())
            .await?,
    )
}

#[tokio::test]
async fn undo_is_refused_naming_a_row_edited_in_the_lms_since() -> anyhow::Result<()> {
    let fixture = migrated_school("undoedit").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, 2).await?;
    fixture
        .lms_sql("UPDATE users SET email = 'edited.in.lms@mail.kz' WHERE legacy_id = 1")
        .await?;
    let before_refusal = full_contents(fixture.lms()).await?;
    let message = refusal(&fixture, run).await?;
    let id = user_id(&fixture, 1).await?;
    assert!(
        message.contains(&format!("users id {id} (legacy id 1) was changed")),
        "{message}"
    );
    assert_eq!(
        full_contents(fixture.lms()).await?,
        before_refusal,
        "nothing changed"
    );
    fixture.close().await
}

#[tokio::test]
async fn undo_is_refused_naming_a_row_a_later_run_changed() -> anyhow::Result<()> {
    let fixture = migrated_school("undolater").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let first = delta(&fixture, 2).await?;
    fixture
        .legacy_sql("UPDATE users SET email = 'alpha.third@mail.kz' WHERE id = 1")
        .await?;
    delta(&fixture, 2).await?;
    let message = refusal(&fixture, first).await?;
    let id = user_id(&fixture, 1).await?;
    assert!(
        message.contains(&format!("users id {id} (legacy id 1) was changed")),
        "{message}"
    );
    assert!(
        message.contains("migration.ledger entity users, legacy_id 1 (legacy id 1) was changed"),
        "{message}"
    );
    fixture.close().await
}

#[tokio::test]
async fn undo_is_refused_naming_a_new_row_that_references_a_row_the_run_created()
-> anyhow::Result<()> {
    let fixture = migrated_school("undoreferenced").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, 2).await?;
    // An API write after the run: the student the run created (legacy 12)
    // enrolled in a course it is not in yet.
    let row = sqlx::query(
        "INSERT INTO course_enrollments (student_id, course_id) \
         SELECT s.id, c.id FROM students s CROSS JOIN courses c \
         WHERE s.legacy_id = 12 \
           AND NOT EXISTS (SELECT 1 FROM course_enrollments e WHERE e.student_id = s.id AND e.course_id = c.id) \
         ORDER BY c.id LIMIT 1 RETURNING id, student_id",
    )
    .fetch_one(fixture.lms())
    .await?;
    let (enrollment, student): (i64, i64) = (row.try_get("id")?, row.try_get("student_id")?);
    let message = refusal(&fixture, run).await?;
    assert!(
        message.contains(&format!(
            "course_enrollments id {enrollment} references students id {student}, which the run created"
        )),
        "{message}"
    );
    // The run's own enrollment of that student (legacy journal row 104) is
    // the run's to remove, not a new reference.
    let own: i64 = sqlx::query_scalar("SELECT id FROM course_enrollments WHERE legacy_id = 104")
        .fetch_one(fixture.lms())
        .await?;
    assert!(
        !message.contains(&format!("course_enrollments id {own} ")),
        "{message}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_first_load_cannot_be_undone() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("undofirst").await?;
    fixture.legacy_sql(support::school::SCHOOL).await?;
    let first = fixture.migrate(2).await?;
    assert_eq!(first.status, RunStatus::Succeeded);
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.run_changes")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(logged, 0, "a bulk load keeps no change log");
    let message = refusal(&fixture, first.run_id).await?;
    assert!(message.contains("first load"), "{message}");
    assert!(message.contains("fresh database"), "{message}");
    fixture.close().await
}

#[tokio::test]
async fn an_unknown_run_is_not_found() -> anyhow::Result<()> {
    let fixture = migrated_school("undounknown").await?;
    let unknown = Uuid::now_v7();
    assert!(matches!(
        undo_run(fixture.lms(), unknown, None).await,
        Err(EngineError::UnknownRun(run)) if run == unknown
    ));
    fixture.close().await
}

#[tokio::test]
async fn a_run_undone_twice_is_refused() -> anyhow::Result<()> {
    let fixture = migrated_school("undotwice").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, 2).await?;
    undo_run(fixture.lms(), run, None).await?;
    let message = refusal(&fixture, run).await?;
    assert!(message.contains("undone already"), "{message}");
    fixture.close().await
}

#[tokio::test]
async fn undo_is_refused_while_a_run_is_active() -> anyhow::Result<()> {
    let fixture = migrated_school("undoactive").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, 2).await?;
    let options = RunOptions {
        chunk_size: 2,
        ..RunOptions::default()
    };
    let active = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    assert!(matches!(
        undo_run(fixture.lms(), run, None).await,
        Err(EngineError::RunActive(blocking)) if blocking == active.run_id
    ));
    fixture.close().await
}

fn retrying(engine: &EngineContext) -> EngineContext {
    EngineContext {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
        ..engine.clone()
    }
}

#[tokio::test]
async fn a_chunk_that_fails_and_retries_leaves_one_image_per_row() -> anyhow::Result<()> {
    let fixture = migrated_school("undoretry").await?;
    let before = full_contents(fixture.lms()).await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    // The first ledger write of the run fails, transiently, after the
    // chunk wrote its LMS rows (and their images).
    fixture
        .lms_sql(
            "CREATE SEQUENCE ledger_writes; \
             CREATE FUNCTION fail_first_ledger_write() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF nextval('ledger_writes') = 1 THEN \
                 RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN NULL; END $$; \
             CREATE TRIGGER fail_first_ledger_write AFTER INSERT ON migration.ledger \
                 FOR EACH STATEMENT EXECUTE FUNCTION fail_first_ledger_write()",
        )
        .await?;
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &RunOptions {
            chunk_size: 2,
            ..RunOptions::default()
        },
    )
    .await?;
    let status = run_inline(&retrying(&fixture.engine), planned.run_id, 1).await?;
    assert_eq!(status, RunStatus::Succeeded);
    let retried: i32 =
        sqlx::query_scalar("SELECT max(attempts) FROM migration.chunks WHERE run_id = $1")
            .bind(planned.run_id)
            .fetch_one(fixture.lms())
            .await?;
    assert!(retried >= 2, "a chunk was retried ({retried} attempts)");
    fixture
        .lms_sql("DROP TRIGGER fail_first_ledger_write ON migration.ledger")
        .await?;
    // The user's image before the run is the user as the first load left
    // it, not as the failed attempt wrote it.
    let before_email: Option<String> = sqlx::query_scalar(
        "SELECT before ->> 'email' FROM migration.run_changes \
         WHERE run_id = $1 AND table_name = 'users' AND legacy_id = 1",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(before_email.as_deref(), Some("alpha@mail.kz"));
    undo_run(fixture.lms(), planned.run_id, None).await?;
    assert_eq!(full_contents(fixture.lms()).await?, before);
    fixture.close().await
}

#[tokio::test]
async fn an_lms_edit_committing_while_an_undo_runs_refuses_it() -> anyhow::Result<()> {
    use sqlx::Connection;
    let fixture = migrated_school("undorace").await?;
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let run = delta(&fixture, 2).await?;
    // An API transaction has edited a row the run wrote, uncommitted.
    let mut api = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql("BEGIN; UPDATE users SET email = 'edited.in.lms@mail.kz' WHERE legacy_id = 1")
        .execute(&mut api)
        .await?;
    let lms = fixture.lms().clone();
    let undo = tokio::spawn(async move { undo_run(&lms, run, None).await });
    // It commits once the undo waits on it.
    let waited = support::waits_on_a_lock(fixture.lms(), &undo).await?;
    sqlx::raw_sql("COMMIT").execute(&mut api).await?;

    let undone = undo.await?;

    anyhow::ensure!(waited, "the undo never waited on the API's transaction");
    assert!(
        matches!(undone, Err(EngineError::UndoRefused(_))),
        "{undone:?}"
    );
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE legacy_id = 1")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(email.as_deref(), Some("edited.in.lms@mail.kz"));
    fixture.close().await
}

/// Two delta runs over the school, the older first.
async fn two_deltas(fixture: &Fixture) -> anyhow::Result<(Uuid, Uuid)> {
    fixture.legacy_sql(SCHOOL_DELTA).await?;
    let older = delta(fixture, 2).await?;
    fixture
        .legacy_sql("UPDATE users SET email = 'alpha.third@mail.kz' WHERE id = 1")
        .await?;
    Ok((older, delta(fixture, 2).await?))
}

/// The events of `run`'s change log.
async fn logged_events(fixture: &Fixture, run: Uuid) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM migration.run_change_events WHERE run_id = $1")
            .bind(run)
            .fetch_one(fixture.lms())
            .await?,
    )
}

/// Whether `run` is marked as having had its change log removed.
async fn marked_pruned(fixture: &Fixture, run: Uuid) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar(
            "SELECT changes_pruned_at IS NOT NULL FROM migration.runs WHERE id = $1",
        )
        .bind(run)
        .fetch_one(fixture.lms())
        .await?,
    )
}

#[tokio::test]
async fn the_change_log_of_a_run_past_the_undo_history_is_removed() -> anyhow::Result<()> {
    let fixture = migrated_school("undoprune").await?;
    let (older, _) = two_deltas(&fixture).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    assert_eq!(logged_events(&fixture, older).await?, 0);
    assert!(marked_pruned(&fixture, older).await?);
    fixture.close().await
}

#[tokio::test]
async fn the_latest_runs_keep_their_change_logs() -> anyhow::Result<()> {
    let fixture = migrated_school("undokeeplatest").await?;
    let (_, latest) = two_deltas(&fixture).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    assert!(logged_events(&fixture, latest).await? > 0);
    assert!(!marked_pruned(&fixture, latest).await?);
    fixture.close().await
}

#[tokio::test]
async fn runs_within_the_undo_history_keep_their_change_logs() -> anyhow::Result<()> {
    let fixture = migrated_school("undokeep").await?;
    let (older, _) = two_deltas(&fixture).await?;
    let keep_two = NonZeroU32::new(2).ok_or_else(|| anyhow::anyhow!("2 is not zero"))?;
    prune_until_done(fixture.lms(), keep_two).await?;
    assert!(logged_events(&fixture, older).await? > 0);
    fixture.close().await
}

#[tokio::test]
async fn an_undone_runs_change_log_is_removed() -> anyhow::Result<()> {
    let fixture = migrated_school("undoprunedone").await?;
    let (_, latest) = two_deltas(&fixture).await?;
    undo_run(fixture.lms(), latest, None).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    assert_eq!(logged_events(&fixture, latest).await?, 0);
    fixture.close().await
}

#[tokio::test]
async fn events_logged_for_a_run_after_it_was_marked_are_removed_too() -> anyhow::Result<()> {
    let fixture = migrated_school("undoprunelate").await?;
    let (older, _) = two_deltas(&fixture).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    // What a failed run's last chunk, committing after the mark, would log.
    sqlx::query(
        "INSERT INTO migration.run_change_events (run_id, table_name, row_key, legacy_id, before, after) \
         VALUES ($1, 'users', '{\"id\": 1}', 1, NULL, '{}')",
    )
    .bind(older)
    .execute(fixture.lms())
    .await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    assert_eq!(logged_events(&fixture, older).await?, 0);
    fixture.close().await
}

#[tokio::test]
async fn no_change_log_is_removed_while_an_undo_holds_the_runs() -> anyhow::Result<()> {
    let fixture = migrated_school("undoprunewait").await?;
    let (older, _) = two_deltas(&fixture).await?;
    // The lock an undo takes for as long as it runs.
    let mut undo = fixture.lms().begin().await?;
    sqlx::raw_sql("LOCK TABLE migration.runs IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *undo)
        .await?;
    let pruned = tokio::time::timeout(
        Duration::from_secs(30),
        prune_until_done(fixture.lms(), NonZeroU32::MIN),
    )
    .await??;
    undo.rollback().await?;
    assert_eq!(pruned, 0);
    assert!(logged_events(&fixture, older).await? > 0);
    fixture.close().await
}

#[tokio::test]
async fn undo_of_a_run_whose_change_log_was_removed_is_refused_and_changes_nothing()
-> anyhow::Result<()> {
    let fixture = migrated_school("undopruned").await?;
    let (older, _) = two_deltas(&fixture).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    let before = full_contents(fixture.lms()).await?;
    let message = refusal(&fixture, older).await?;
    assert!(message.contains("change log was removed"), "{message}");
    assert!(message.contains("migration.undo_history"), "{message}");
    assert_eq!(full_contents(fixture.lms()).await?, before);
    fixture.close().await
}

#[tokio::test]
async fn the_latest_run_stays_undoable_after_older_logs_are_removed() -> anyhow::Result<()> {
    let fixture = migrated_school("undolatest").await?;
    let (_, latest) = two_deltas(&fixture).await?;
    prune_until_done(fixture.lms(), NonZeroU32::MIN).await?;
    assert_eq!(
        undo_run(fixture.lms(), latest, None).await?.status,
        RunStatus::Undone
    );
    fixture.close().await
}
