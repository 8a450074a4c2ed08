//! No single legacy value fails a run: every value of every column's type
//! gets an outcome under the contract, or the documented choice where the
//! contract is silent (docs/contract.md).

mod support;

use lms_engine::RunStatus;
use std::time::Duration;

use lms_engine::inline::run_inline;
use lms_engine::verify::oracle::Oracle;
use lms_engine::{EngineContext, RunOptions, plan_run, report};
use proptest::prelude::*;
use support::arbitrary::legacy_database;
use support::{Fixture, entity, ledger};

const SCHOOL: &str = "INSERT INTO organizations (id, name) VALUES (1, 'College'); \
    INSERT INTO persons (id, last_name) VALUES (1, 'One'); \
    INSERT INTO subjects (id, organization_id, name) VALUES (1, 1, 'Math'); \
    INSERT INTO students (id, person_id, organization_id) VALUES (1, 1, 1);";

async fn lms_text(fixture: &Fixture, query: &str) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_one(fixture.lms())
        .await?)
}

#[tokio::test]
async fn numbers_the_lms_cannot_hold_become_null_or_the_default_with_a_warning()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("numbers").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(
            "UPDATE subjects SET credits = 'NaN' WHERE id = 1; \
             INSERT INTO exams (id, subject_id, title, max_score) VALUES (1, 1, 'Negative', -1), (2, 1, 'NaN', 'NaN'); \
             INSERT INTO exam_results (id, exam_id, student_id, score) VALUES (1, 1, 1, 'NaN'), (2, 2, 1, 100);",
        )
        .await?;

    let report = fixture.migrate(1).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    for (table, id) in [("subjects", 1), ("exams", 1), ("exams", 2)] {
        let row = ledger(fixture.lms(), table, id).await?;
        assert_eq!(
            (row.outcome.as_str(), row.warnings),
            ("migrated", vec!["invalid_number".to_owned()]),
            "{table} {id}"
        );
    }
    // PostgreSQL orders NaN above every number: above the exam's maximum.
    let nan_score = ledger(fixture.lms(), "exam_results", 1).await?;
    assert_eq!(
        (nan_score.outcome.as_str(), nan_score.warnings),
        ("migrated", vec!["score_out_of_range".to_owned()])
    );
    let maxima = lms_text(
        &fixture,
        "SELECT string_agg(max_score::text, ',' ORDER BY legacy_id) FROM assessments",
    )
    .await?;
    assert_eq!(maxima.as_deref(), Some("100.00,100.00"));
    let credits = lms_text(&fixture, "SELECT credits::text FROM subjects").await?;
    assert_eq!(credits, None);
    // Against the default maximum of 100, a score of 100 stands.
    let score = lms_text(
        &fixture,
        "SELECT score::text FROM assessment_submissions WHERE legacy_id = 2",
    )
    .await?;
    assert_eq!(score.as_deref(), Some("100.00"));
    fixture.close().await
}

#[tokio::test]
async fn answers_that_jsonb_or_the_lms_reader_refuse_are_kept_raw() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("answers").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(
            r#"INSERT INTO exams (id, subject_id, title) VALUES (1, 1, 'Exam'), (2, 1, 'Exam'), (3, 1, 'Exam'), (4, 1, 'Exam');
               INSERT INTO exam_results (id, exam_id, student_id, answers) VALUES
                   (1, 1, 1, '[1e-16384]'), (2, 2, 1, '{"a": "\u0000"}'), (3, 3, 1, '[1e400]'), (4, 4, 1, '[1e-400, 2.50]');"#,
        )
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        entity(&report, "exam_results").warnings["invalid_answers_json"],
        3
    );
    let raw = lms_text(
        &fixture,
        "SELECT answers_raw FROM assessment_submissions WHERE legacy_id = 1",
    )
    .await?;
    assert_eq!(raw.as_deref(), Some("[1e-16384]"));
    let json = lms_text(
        &fixture,
        "SELECT answers::text FROM assessment_submissions WHERE legacy_id = 4",
    )
    .await?;
    assert!(json.is_some_and(|json| json.contains("2.50")));
    fixture.close().await
}

#[tokio::test]
async fn instants_outside_the_years_one_to_9999_are_unknown_in_any_legacy_zone()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("instants").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(
            "UPDATE organizations SET created_at = '294276-12-31 23:59:59' WHERE id = 1; \
             UPDATE persons SET created_at = '4713-01-01 00:00:00 BC' WHERE id = 1; \
             INSERT INTO exams (id, subject_id, title, exam_date) VALUES (1, 1, 'Far', '5874897-12-31'), (2, 1, 'Near', '9999-12-31'); \
             INSERT INTO exam_results (id, exam_id, student_id, submitted_at) VALUES (1, 1, 1, '9999-12-31 23:59:59');",
        )
        .await?;
    // West of Greenwich, the last instant of 9999 is in 10000 in UTC.
    let engine = EngineContext {
        legacy_timezone: "America/New_York".to_owned(),
        ..fixture.engine.clone()
    };
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &RunOptions {
            chunk_size: 5,
            ..RunOptions::default()
        },
    )
    .await?;
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        run_inline(&engine, planned.run_id, 2),
    )
    .await??;

    assert_eq!(status, RunStatus::Succeeded);
    let created = lms_text(&fixture, "SELECT created_at::text FROM organizations").await?;
    assert_eq!(created, None);
    let dates = lms_text(&fixture, "SELECT string_agg(coalesce(held_on::text, 'NULL'), ',' ORDER BY legacy_id) FROM assessments").await?;
    assert_eq!(dates.as_deref(), Some("NULL,9999-12-31"));
    let submitted = lms_text(&fixture, "SELECT extract(year FROM submitted_at AT TIME ZONE 'UTC')::text FROM assessment_submissions").await?;
    assert_eq!(submitted.as_deref(), Some("10000"));
    let report = report::build(fixture.lms(), planned.run_id).await?;
    assert_eq!(report.unexplained(), 0);
    fixture.close().await
}

#[tokio::test]
async fn a_legacy_zone_postgresql_does_not_know_is_refused_when_a_worker_starts()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("zonetypo").await?;
    let mut settings = fixture.settings.clone();
    settings.legacy.timezone = "Asia/Almati".to_owned();

    let refused = lms_engine::setup::connect_engine(&settings, "zonetypo".to_owned(), 1)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a worker started with an unknown zone"))?;

    assert!(
        refused.to_string().contains("legacy.timezone")
            && refused.to_string().contains("Asia/Almati"),
        "{refused}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_posix_zone_form_is_refused_when_a_worker_starts() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("zoneposix").await?;
    let mut settings = fixture.settings.clone();
    // PostgreSQL takes it, as five hours west of UTC.
    settings.legacy.timezone = "UTC+5".to_owned();

    let refused = lms_engine::setup::connect_engine(&settings, "zoneposix".to_owned(), 1)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a worker started with a POSIX zone form"))?;

    assert!(
        refused.to_string().contains("legacy.timezone") && refused.to_string().contains("UTC+5"),
        "{refused}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_verification_refuses_a_posix_zone_form() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("zoneverify").await?;

    let refused = lms_engine::verify::verify(
        fixture.lms(),
        fixture.legacy(),
        &lms_engine::verify::VerifyOptions {
            chunk_size: 2,
            legacy_timezone: "UTC+5".to_owned(),
        },
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("a verification read legacy times in a POSIX zone form"))?;

    assert!(
        matches!(refused, lms_engine::EngineError::Settings(_)),
        "{refused}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_zone_name_in_any_case_is_accepted_as_postgresql_accepts_it() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("zonecase").await?;
    let mut settings = fixture.settings.clone();
    settings.legacy.timezone = "asia/almaty".to_owned();

    let started = lms_engine::setup::connect_engine(&settings, "zonecase".to_owned(), 1).await;

    assert!(started.is_ok(), "{:?}", started.err());
    fixture.close().await
}

#[tokio::test]
async fn ids_at_the_ends_of_their_types_migrate_and_are_found_again() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("idends").await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO organizations (id, name) VALUES ({min32}, 'Min'), ({max32}, 'Max'), (0, 'Zero'); \
             INSERT INTO persons (id) VALUES ({min32}), ({max32}); \
             INSERT INTO users (id, login, person_id, role) VALUES ({min32}, 'min', {min32}, 'student'); \
             INSERT INTO subjects (id, name) VALUES ({max32}, 'S'); \
             INSERT INTO students (id, user_id, person_id, organization_id) VALUES ({min32}, {min32}, {min32}, 0), ({max32}, NULL, {max32}, {max32}); \
             INSERT INTO journal (id, student_id, subject_id, academic_year, semester) VALUES \
                 ({min64}, {min32}, {max32}, '2024-2025', 1), ({max64}, {max32}, {max32}, '2024-2025', 2), (-1, {max32}, {max32}, '2024-2025', 1); \
             INSERT INTO exams (id, subject_id, title) VALUES ({min32}, {max32}, 'E'); \
             INSERT INTO exam_results (id, exam_id, student_id, score) VALUES ({min64}, {min32}, {min32}, 1), ({max64}, {min32}, {max32}, 2);",
            min32 = i32::MIN,
            max32 = i32::MAX,
            min64 = i64::MIN,
            max64 = i64::MAX,
        ))
        .await?;

    for chunk_size in [1, 2] {
        let report = fixture.migrate(chunk_size).await?;
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        assert_eq!(report.unexplained(), 0);
    }
    assert_eq!(
        ledger(fixture.lms(), "journal", i64::MIN).await?.outcome,
        "migrated"
    );
    assert_eq!(
        ledger(fixture.lms(), "exam_results", i64::MAX)
            .await?
            .outcome,
        "migrated"
    );
    let provisioned = lms_text(&fixture, &format!("SELECT u.login FROM students s JOIN users u ON u.id = s.user_id WHERE s.legacy_id = {}", i32::MAX)).await?;
    assert_eq!(provisioned, Some(format!("student.{}", i32::MAX)));
    fixture.close().await
}

#[tokio::test]
async fn a_login_that_collides_again_after_renaming_is_renamed_again_however_often()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("renames").await?;
    // ivan (1) keeps "ivan"; IVAN (2) becomes IVAN.2, which 3 holds; then
    // IVAN.2.2, which 4 holds; and so on down the chain.
    fixture
        .legacy_sql(
            "INSERT INTO users (id, login, role) VALUES \
                 (1, 'ivan', 'student'), (2, 'IVAN', 'student'), (3, 'ivan.2', 'student'), \
                 (4, 'Ivan.2.2', 'student'), (5, 'ivan.2.2.2', 'student'), (6, 'IVAN.2.2.2.2', 'student');",
        )
        .await?;

    let report = fixture.migrate(1).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let login = lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 2").await?;
    assert_eq!(login.as_deref(), Some("IVAN.2.2.2.2.2"));
    fixture.close().await
}

/// User 42 has no login, so its placeholder is `user.42`; user 100's legacy
/// login is `user.42` too.
const PLACEHOLDER_AND_LEGACY_LOGIN: &str = "INSERT INTO users (id, login, role) VALUES \
     (42, '  ', 'student'), (100, 'user.42', 'student');";

#[tokio::test]
async fn a_login_placeholder_gives_way_to_the_legacy_login_it_collides_with() -> anyhow::Result<()>
{
    let fixture = Fixture::empty_legacy("placeholdergives").await?;
    fixture.legacy_sql(PLACEHOLDER_AND_LEGACY_LOGIN).await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let logins = (
        lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 100").await?,
        lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 42").await?,
    );
    assert_eq!(
        logins,
        (Some("user.42".to_owned()), Some("user.42.42".to_owned()))
    );
    assert!(
        ledger(fixture.lms(), "users", 100)
            .await?
            .warnings
            .is_empty()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_placeholder_a_new_legacy_login_displaces_is_renamed_by_the_next_run()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("placeholderdelta").await?;
    fixture
        .legacy_sql("INSERT INTO users (id, login, role) VALUES (42, '', 'student');")
        .await?;
    assert_eq!(fixture.migrate(10).await?.status, RunStatus::Succeeded);
    fixture
        .legacy_sql("INSERT INTO users (id, login, role) VALUES (100, 'user.42', 'student');")
        .await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let logins = (
        lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 100").await?,
        lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 42").await?,
    );
    assert_eq!(
        logins,
        (Some("user.42".to_owned()), Some("user.42.42".to_owned()))
    );
    fixture.close().await
}

#[tokio::test]
async fn a_login_placeholder_takes_on_no_account_born_in_the_lms() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("placeholderborn").await?;
    fixture
        .lms_sql("INSERT INTO users (login, role) VALUES ('user.42', 'student');")
        .await?;
    fixture
        .legacy_sql("INSERT INTO users (id, login, role) VALUES (42, '', 'student');")
        .await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let placeholder = lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 42").await?;
    assert_eq!(placeholder.as_deref(), Some("user.42.42"));
    fixture.close().await
}

#[tokio::test]
async fn verification_agrees_with_the_run_on_a_placeholder_that_gives_way() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("placeholderverify").await?;
    fixture.legacy_sql(PLACEHOLDER_AND_LEGACY_LOGIN).await?;
    let report = fixture.migrate(10).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);

    assert_verification_clean(&fixture, 10).await?;
    fixture.close().await
}

#[tokio::test]
async fn verification_agrees_with_the_run_on_a_submission_with_fractional_seconds()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("fractionverify").await?;
    fixture.legacy_sql(SCHOOL).await?;
    // On exam 1 the later submission is the one whose time has a fraction;
    // on exam 2, the one whose time has none.
    fixture
        .legacy_sql(
            "INSERT INTO exams (id, subject_id, title) VALUES (1, 1, 'One'), (2, 1, 'Two'); \
             INSERT INTO exam_results (id, exam_id, student_id, score, submitted_at) \
             VALUES (10, 1, 1, 50, '2024-05-01 10:00:00.25'), (11, 1, 1, 60, '2024-05-01 09:00:00'), \
                    (20, 2, 1, 50, '2024-05-01 10:00:00'), (21, 2, 1, 60, '2024-05-01 09:00:00.5');",
        )
        .await?;
    let report = fixture.migrate(10).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);

    assert_verification_clean(&fixture, 10).await?;
    fixture.close().await
}

/// "The latest `submitted_at` survives (NULLs last)" in legacy's order,
/// though the LMS stores none of these instants: `infinity` is later than
/// any date, year 10000 later than 9999, and a BC date or `-infinity` is a
/// value, not a NULL.
#[tokio::test]
async fn the_latest_submission_survives_in_legacys_order_past_the_lms_years() -> anyhow::Result<()>
{
    let fixture = Fixture::empty_legacy("latestbeyond").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(
            "INSERT INTO exams (id, subject_id, title) VALUES (1, 1, 'A'), (2, 1, 'B'), (3, 1, 'C'), (4, 1, 'D'); \
             INSERT INTO exam_results (id, exam_id, student_id, submitted_at) VALUES \
                 (10, 1, 1, 'infinity'), (11, 1, 1, '2024-05-01 10:00'), \
                 (20, 2, 1, '10000-01-01 00:00'), (21, 2, 1, '9999-12-31 23:59:59.999999'), \
                 (30, 3, 1, '0044-03-15 10:00 BC'), (31, 3, 1, NULL), \
                 (40, 4, 1, '-infinity'), (41, 4, 1, NULL);",
        )
        .await?;

    let report = fixture.migrate(3).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    for (merged, survivor) in [(11, 10), (21, 20), (31, 30), (41, 40)] {
        let row = ledger(fixture.lms(), "exam_results", merged).await?;
        assert_eq!(
            (row.outcome.as_str(), row.survivor),
            ("merged", Some(survivor)),
            "result {merged}"
        );
    }
    assert_verification_clean(&fixture, 3).await?;
    fixture.close().await
}

/// Verifies the migrated LMS against legacy, `chunk_size` ids at a time, and
/// asserts that it finds no row it cannot explain.
async fn assert_verification_clean(fixture: &Fixture, chunk_size: u32) -> anyhow::Result<()> {
    let verification = lms_engine::verify::verify(
        fixture.lms(),
        fixture.legacy(),
        &lms_engine::verify::VerifyOptions {
            chunk_size,
            legacy_timezone: "UTC".to_owned(),
        },
    )
    .await?;
    assert_eq!(
        verification.unexplained(),
        0,
        "{}",
        lms_engine::verify::table::to_table(&verification)
    );
    Ok(())
}

/// 9,600 characters of hex that compress poorly: longer than any B-tree
/// index entry PostgreSQL can hold.
const TOO_LONG_TO_INDEX: &str =
    "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i)";

#[tokio::test]
async fn a_login_too_long_to_index_gets_a_placeholder() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("longlogin").await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO users (id, login, role) VALUES (1, {TOO_LONG_TO_INDEX}, 'student');"
        ))
        .await?;

    let report = fixture.migrate(1).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let login = lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 1").await?;
    assert_eq!(login.as_deref(), Some("user.1"));
    assert_eq!(
        ledger(fixture.lms(), "users", 1).await?.warnings,
        ["login_renamed"]
    );
    fixture.close().await
}

#[tokio::test]
async fn an_email_too_long_to_index_is_invalid() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("longemail").await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO users (id, login, email, role) \
             VALUES (1, 'ivan', {TOO_LONG_TO_INDEX} || '@mail.kz', 'student');"
        ))
        .await?;

    let report = fixture.migrate(1).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let email = lms_text(&fixture, "SELECT email FROM users WHERE legacy_id = 1").await?;
    assert_eq!(email, None);
    assert_eq!(
        ledger(fixture.lms(), "users", 1).await?.warnings,
        ["email_invalid"]
    );
    fixture.close().await
}

#[tokio::test]
async fn an_academic_year_too_long_to_index_is_an_invalid_value() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("longyear").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO journal (id, student_id, subject_id, academic_year, semester) \
             VALUES (1, 1, 1, {TOO_LONG_TO_INDEX}, 1), (2, 1, 1, '2024-2025', 1);"
        ))
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let journal = entity(&report, "journal");
    assert_eq!(
        (journal.migrated, journal.rejected["invalid_value"]),
        (1, 1)
    );
    assert_eq!(
        ledger(fixture.lms(), "journal", 1).await?.detail.as_deref(),
        Some("academic_year is 9600 characters long, more than 256")
    );
    fixture.close().await
}

#[tokio::test]
async fn verification_agrees_with_the_run_on_values_too_long_to_index() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("longverify").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO users (id, login, email, role) \
             VALUES (1, {TOO_LONG_TO_INDEX}, {TOO_LONG_TO_INDEX} || '@mail.kz', 'student'); \
             INSERT INTO journal (id, student_id, subject_id, academic_year, semester) \
             VALUES (1, 1, 1, {TOO_LONG_TO_INDEX}, 1), (2, 1, 1, '2024-2025', 1);"
        ))
        .await?;
    let report = fixture.migrate(2).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);

    assert_verification_clean(&fixture, 2).await?;
    fixture.close().await
}

#[tokio::test]
async fn an_answers_exponent_at_the_end_of_its_type_is_kept_raw() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("exponent").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(
            "INSERT INTO exams (id, subject_id, title) VALUES (1, 1, 'Exam'); \
             INSERT INTO exam_results (id, exam_id, student_id, answers) \
             VALUES (1, 1, 1, '[1e-9223372036854775808]');",
        )
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let raw = lms_text(
        &fixture,
        "SELECT answers_raw FROM assessment_submissions WHERE legacy_id = 1",
    )
    .await?;
    assert_eq!(raw.as_deref(), Some("[1e-9223372036854775808]"));
    fixture.close().await
}

#[tokio::test]
async fn every_smallint_of_the_journal_semester_is_an_outcome() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("semesters").await?;
    fixture.legacy_sql(SCHOOL).await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO journal (id, student_id, subject_id, academic_year, semester) VALUES \
                 (1, 1, 1, '2024-2025', {}), (2, 1, 1, '2024-2025', {}), (3, 1, 1, '2024-2025', 0), (4, 1, 1, '2024-2025', 2);",
            i16::MIN,
            i16::MAX
        ))
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let journal = entity(&report, "journal");
    assert_eq!(
        (journal.migrated, journal.rejected["invalid_value"]),
        (1, 3)
    );
    assert_eq!(
        ledger(fixture.lms(), "journal", 1).await?.detail.as_deref(),
        Some("semester -32768 is neither 1 nor 2")
    );
    fixture.close().await
}

proptest! {
    // PROPTEST_CASES runs more cases than the 8 a `make test` affords.
    #![proptest_config(ProptestConfig { cases: support::proptest_cases(8), ..ProptestConfig::default() })]

    /// A legacy database drawn over the full range of every column's type
    /// migrates, with every row accounted for as the contract says, and a
    /// second run finds nothing to change.
    #[test]
    fn any_legacy_database_migrates_with_every_row_explained(
        database in legacy_database(8),
        chunk_size in 1_u32..4,
        parallel in 1_usize..=2,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let fixture = Fixture::empty_legacy("anyvalue").await?;
            fixture.legacy_sql(&database.sql()).await?;
            let options = RunOptions { chunk_size, ..RunOptions::default() };
            let first = fixture.migrate_using(options.clone(), parallel).await?;
            anyhow::ensure!(first.status == RunStatus::Succeeded, "{:?}", first.error);
            anyhow::ensure!(first.unexplained() == 0, "unexplained rows");
            let oracle = Oracle::compute(fixture.legacy()).await?;
            for ((table, id), expected) in &oracle.rows {
                let actual = ledger(fixture.lms(), table.as_str(), *id).await?;
                anyhow::ensure!(
                    (actual.outcome.as_str(), actual.reason.as_deref(), actual.survivor)
                        == (
                            expected.outcome.as_str(),
                            expected.reason.map(|reason| reason.as_str()),
                            expected.survivor
                        ),
                    "{table} {id}: {actual:?}, the contract says {expected:?}"
                );
            }
            // And the independent verification finds the LMS as the contract says.
            let verification = lms_engine::verify::verify(
                fixture.lms(),
                fixture.legacy(),
                &lms_engine::verify::VerifyOptions { chunk_size: 3, legacy_timezone: "UTC".to_owned() },
            )
            .await?;
            anyhow::ensure!(
                verification.unexplained() == 0,
                "verify: {}",
                lms_engine::verify::table::to_table(&verification)
            );
            let second = fixture.migrate_using(options, parallel).await?;
            for table in &second.entities {
                let changes = table.changes;
                anyhow::ensure!(
                    (changes.created, changes.updated, changes.conflicts) == (0, 0, 0),
                    "{}: a second run changed {changes:?}",
                    table.entity
                );
            }
            fixture.close().await
        }).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
    }
}

/// Users 1 and 2 collide (`ivan`/`IVAN`, `anna@mail.kz`/` ANNA@mail.kz`):
/// migrated, then user 1, the keeper, deleted from legacy and migrated again.
async fn keeper_gone(purpose: &str) -> anyhow::Result<Fixture> {
    let fixture = Fixture::empty_legacy(purpose).await?;
    fixture
        .legacy_sql(
            "INSERT INTO users (id, login, email, role) VALUES \
             (1, 'ivan', 'anna@mail.kz', 'student'), (2, 'IVAN', ' ANNA@mail.kz', 'student');",
        )
        .await?;
    anyhow::ensure!(fixture.migrate(10).await?.status == RunStatus::Succeeded);
    fixture
        .legacy_sql("DELETE FROM users WHERE id = 1;")
        .await?;
    let report = fixture.migrate(10).await?;
    anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
    Ok(fixture)
}

#[tokio::test]
async fn a_login_renamed_for_a_keeper_gone_from_legacy_is_its_own_again() -> anyhow::Result<()> {
    let fixture = keeper_gone("keepergone").await?;

    let login = lms_text(&fixture, "SELECT login FROM users WHERE legacy_id = 2").await?;

    assert_eq!(login.as_deref(), Some("IVAN"));
    fixture.close().await
}

#[tokio::test]
async fn an_email_dropped_for_a_keeper_gone_from_legacy_is_kept_again() -> anyhow::Result<()> {
    let fixture = keeper_gone("emailkeepergone").await?;

    let email = lms_text(&fixture, "SELECT email FROM users WHERE legacy_id = 2").await?;

    assert_eq!(email.as_deref(), Some("anna@mail.kz"));
    fixture.close().await
}

#[tokio::test]
async fn a_user_a_gone_keeper_gave_way_to_loses_the_warnings_it_had_for_that() -> anyhow::Result<()>
{
    let fixture = keeper_gone("warningskeepergone").await?;

    let warnings = ledger(fixture.lms(), "users", 2).await?.warnings;

    assert!(warnings.is_empty(), "{warnings:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_dry_run_keeps_apart_journal_rows_of_group_zero_and_of_no_group() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("groupzero").await?;
    fixture.legacy_sql(SCHOOL).await?;
    // A dry run names groups by their legacy ids, and 0 is one.
    fixture
        .legacy_sql(
            "INSERT INTO groups (id, organization_id, name) VALUES (0, 1, 'Zero'); \
             INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester) \
             VALUES (1, 1, 1, 0, '2024-2025', 1), (2, 1, 1, NULL, '2024-2025', 1);",
        )
        .await?;

    let report = fixture
        .migrate_with(RunOptions {
            kind: lms_engine::RunKind::DryRun,
            chunk_size: 10,
            ..RunOptions::default()
        })
        .await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let journal = entity(&report, "journal");
    assert_eq!((journal.migrated, journal.merged), (2, 0));
    fixture.close().await
}
