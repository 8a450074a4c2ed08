//! The LMS schema on a real PostgreSQL: every table, every foreign key
//! indexed, the contract's unique constraints, and working downs.

use lms_data::{Database, schema};
use lms_pg::PoolConfig;
use lms_testkit::TestDatabase;
use sqlx::{PgPool, Row};

const DOMAIN_TABLES: [&str; 13] = [
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
    "course_materials",
];

async fn migrated(purpose: &str) -> anyhow::Result<(TestDatabase, Database)> {
    let test_db = TestDatabase::create(purpose).await?;
    let db = Database::connect(test_db.url(), &PoolConfig::small("schema-test")).await?;
    schema::upgrade(&db).await?;
    Ok((test_db, db))
}

async fn tables(pool: &PgPool, schema_name: &str) -> anyhow::Result<Vec<String>> {
    let rows = sqlx::query("SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1")
        .bind(schema_name)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|row| row.get::<String, _>(0)).collect())
}

#[tokio::test]
async fn upgrade_creates_every_table_and_is_idempotent() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemaup").await?;
    let public = tables(db.pool(), "public").await?;
    for table in DOMAIN_TABLES {
        assert!(
            public.contains(&table.to_owned()),
            "{table} missing from {public:?}"
        );
    }
    let bookkeeping = tables(db.pool(), "migration").await?;
    for table in ["runs", "run_steps", "chunks", "ledger"] {
        assert!(
            bookkeeping.contains(&table.to_owned()),
            "migration.{table} missing"
        );
    }
    assert!(
        schema::upgrade(&db).await?.is_empty(),
        "a second upgrade applies nothing"
    );
    assert!(schema::is_up_to_date(&db).await?);
    db.pool().close().await;
    test_db.drop_now().await
}

#[tokio::test]
async fn every_foreign_key_column_leads_a_plain_index() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemafk").await?;
    let rows = sqlx::query(
        "SELECT c.conrelid::regclass::text, a.attname::text, array_length(c.conkey, 1) \
         FROM pg_constraint c \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' \
           AND NOT EXISTS (SELECT 1 FROM pg_index i \
                           WHERE i.indrelid = c.conrelid AND i.indpred IS NULL \
                             AND i.indkey[0] = c.conkey[1])",
    )
    .fetch_all(db.pool())
    .await?;
    let unindexed: Vec<String> = rows
        .iter()
        .map(|row| format!("{}.{}", row.get::<String, _>(0), row.get::<String, _>(1)))
        .collect();
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
    let multi_column: Vec<i32> = rows
        .iter()
        .map(|row| row.get::<i32, _>(2))
        .filter(|n| *n > 1)
        .collect();
    assert!(multi_column.is_empty());
    let count: i64 = sqlx::query("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
        .fetch_one(db.pool())
        .await?
        .get(0);
    assert!(
        count >= 25,
        "expected the schema's foreign keys, found {count}"
    );
    db.pool().close().await;
    test_db.drop_now().await
}

#[tokio::test]
async fn every_legacy_fed_table_keeps_its_legacy_id() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemalegacy").await?;
    for table in DOMAIN_TABLES
        .iter()
        .filter(|t| !matches!(**t, "courses" | "course_materials"))
    {
        let row = sqlx::query(
            "SELECT is_nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 AND column_name = 'legacy_id'",
        )
        .bind(table)
        .fetch_optional(db.pool())
        .await?;
        let nullable: Option<String> = row.map(|row| row.get(0));
        assert_eq!(
            nullable.as_deref(),
            Some("YES"),
            "{table}.legacy_id must exist and allow NULL"
        );
    }
    db.pool().close().await;
    test_db.drop_now().await
}

/// Inserts a person and a user and returns the ids.
async fn user(pool: &PgPool, login: &str, email: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO users (login, email, role) VALUES ($1, $2, 'student') RETURNING id")
        .bind(login)
        .bind(email)
        .fetch_one(pool)
        .await
        .map(|row| row.get(0))
}

fn is_unique_violation(result: Result<i64, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505"))
}

#[tokio::test]
async fn the_contracts_unique_constraints_hold() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemaunique").await?;
    let pool = db.pool();
    user(pool, "Ivanov.A", Some("ivanov@mail.kz")).await?;
    assert!(
        is_unique_violation(user(pool, "ivanov.a", None).await),
        "login is case-insensitive"
    );
    user(pool, "Әлия.Қ", None).await?;
    assert!(
        is_unique_violation(user(pool, "әлия.қ", None).await),
        "login case folding is Unicode-aware"
    );
    assert!(
        is_unique_violation(user(pool, "other", Some("IVANOV@MAIL.KZ")).await),
        "email is unique normalised"
    );
    user(pool, "nobody1", None).await?;
    user(pool, "nobody2", None).await?;

    // One enrollment per (student, course); one submission per (assessment, student).
    sqlx::raw_sql(
        "INSERT INTO persons (last_name) VALUES ('P'); \
         INSERT INTO subjects (name) VALUES ('Math'); \
         INSERT INTO students (person_id, user_id) SELECT min(p.id), min(u.id) FROM persons p, users u; \
         INSERT INTO courses (subject_id, academic_year, semester) SELECT id, '2025-2026', 1 FROM subjects; \
         INSERT INTO assessments (subject_id, title) SELECT id, 'Exam' FROM subjects; \
         INSERT INTO course_enrollments (student_id, course_id) SELECT s.id, c.id FROM students s, courses c; \
         INSERT INTO assessment_submissions (assessment_id, student_id) SELECT a.id, s.id FROM assessments a, students s;",
    )
    .execute(pool)
    .await?;
    let again = sqlx::query("INSERT INTO course_enrollments (student_id, course_id) SELECT student_id, course_id FROM course_enrollments")
        .execute(pool)
        .await;
    assert!(matches!(again, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505")));
    let again = sqlx::query(
        "INSERT INTO assessment_submissions (assessment_id, student_id) SELECT assessment_id, student_id FROM assessment_submissions",
    )
    .execute(pool)
    .await;
    assert!(matches!(again, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505")));
    // A course offering with no group is still one offering (NULLS NOT DISTINCT).
    let again = sqlx::query("INSERT INTO courses (subject_id, academic_year, semester) SELECT subject_id, academic_year, semester FROM courses")
        .execute(pool)
        .await;
    assert!(matches!(again, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505")));
    db.pool().close().await;
    test_db.drop_now().await
}

#[tokio::test]
async fn every_migration_rolls_back_cleanly_and_reapplies() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemadown").await?;
    let count = schema::status(&db).await?.len();
    let rolled_back = schema::downgrade(&db, u32::try_from(count)?).await?;
    assert_eq!(rolled_back.len(), count);
    let left = tables(db.pool(), "public").await?;
    assert_eq!(
        left,
        vec!["lms_schema_migrations".to_owned()],
        "down leaves nothing behind"
    );
    assert!(tables(db.pool(), "migration").await?.is_empty());
    assert!(!schema::is_up_to_date(&db).await?);
    assert_eq!(schema::upgrade(&db).await?.len(), count);
    db.pool().close().await;
    test_db.drop_now().await
}

/// One owned-values value per legacy table, as a typed SQL literal, with
/// the values a text form must quote or spell out: commas, quotes,
/// parentheses, backslashes, empty strings beside NULLs, infinities, BC
/// dates, NaN, the integers' limits, fractional seconds, nested `jsonb`.
const BASELINES: [(&str, &str); 10] = [
    (
        "organizations",
        r#"ROW('A, "B" (C)', '', 'college', '123456789012', true, '0044-03-15 12:00:00+03 BC')"#,
    ),
    (
        "persons",
        r"ROW('Ω\back', NULL, ' spaced ', '000000000000', 'infinity', 'female', '+7 (701)', '2024-02-29 23:59:59.999999+05')",
    ),
    (
        "users",
        "ROW(9223372036854775807, 'login', 'a@b', 'hash$2b$', false, 'student', true, '-infinity', NULL)",
    ),
    (
        "teachers",
        "ROW(1, NULL, 3, 'Head, dept', '4713-01-01 BC', '5874897-12-31')",
    ),
    ("groups", "ROW(1, 'G-1', 32767, NULL, '2024/2025')"),
    ("subjects", "ROW(1, 'Math', 'M1', 'NaN')"),
    ("students", "ROW(1, 2, 3, 4, -32768, 'active', '№ 1')"),
    (
        "journal",
        "ROW(1, 2, 3, 'active', '5', 'final', 'отл', 'five_point', '5', 5)",
    ),
    (
        "exams",
        "ROW(1, 2, 3, 'Title', 'exam', '2025-06-01', 9999.99)",
    ),
    (
        "exam_results",
        r#"ROW(1, 2, 100.00, '2024-12-17 15:57:09.5+00', 'submitted', '{"q1": "c", "nested": {"a": [1, 2.50]}}', '{bad json')"#,
    ),
];

/// Asserts that every legacy table's ledger row holds its `BASELINES`
/// literal, its baseline read back with `read` (an expression of `written`
/// and the type `{owned}`), and that the undo images hold the ledger's own.
async fn assert_baselines_hold(pool: &PgPool, read: &str) -> anyhow::Result<()> {
    for (entity, literal) in BASELINES {
        let owned = format!("migration.owned_{entity}");
        let read = read.replace("{owned}", &owned);
        let query = format!(
            "SELECT {read} IS NOT DISTINCT FROM {literal}::{owned} \
             FROM migration.ledger WHERE entity = $1 AND legacy_id = 1"
        );
        let holds: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .bind(entity)
            .fetch_one(pool)
            .await?;
        assert!(holds, "{entity}: {literal}");
    }
    let images_out_of_step: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM migration.run_change_events c \
         JOIN migration.ledger l ON l.entity = c.after ->> 'entity' AND l.legacy_id = c.legacy_id \
         WHERE c.before -> 'written' IS DISTINCT FROM coalesce(to_jsonb(l.written), 'null') \
            OR c.after -> 'written' IS DISTINCT FROM coalesce(to_jsonb(l.written), 'null')",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(images_out_of_step, 0, "undo images converted too");
    Ok(())
}

/// Inserts one ledger row per legacy table with its baseline `written`,
/// from `write` (an expression of the typed value `{value}`), a rejected
/// row without one, and an undo image (before and after) of each.
async fn insert_baselines(pool: &PgPool, write: &str) -> anyhow::Result<()> {
    for (entity, literal) in BASELINES {
        let written = write.replace("{value}", &format!("{literal}::migration.owned_{entity}"));
        let insert = format!(
            "INSERT INTO migration.ledger (entity, legacy_id, outcome, source_hash, run_id, written) \
             VALUES ($1, 1, 'migrated', 0, gen_random_uuid(), {written})"
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(entity)
            .execute(pool)
            .await?;
    }
    sqlx::query(
        "INSERT INTO migration.ledger (entity, legacy_id, outcome, reason, source_hash, run_id) \
         VALUES ('journal', 2, 'rejected', 'orphan_reference', 0, gen_random_uuid())",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO migration.run_change_events (run_id, table_name, row_key, legacy_id, before, after) \
         SELECT run_id, 'migration.ledger', jsonb_build_object('entity', entity, 'legacy_id', legacy_id), \
                legacy_id, to_jsonb(l), to_jsonb(l) FROM migration.ledger l",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The migration that turned the ledger's baselines into text.
const COMPACT_BASELINES: &str = "m20261206_000019_compact_baselines";

/// How many steps roll a fully migrated schema back to just before
/// `migration` (later migrations come down first).
async fn steps_back_before(db: &Database, migration: &str) -> anyhow::Result<u32> {
    let states = schema::status(db).await?;
    let position = states
        .iter()
        .position(|state| state.name == migration)
        .ok_or_else(|| anyhow::anyhow!("no migration {migration}"))?;
    Ok(u32::try_from(states.len() - position)?)
}

#[tokio::test]
async fn baselines_stored_as_jsonb_read_back_the_same_in_their_text_form() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemabaselines").await?;
    schema::downgrade(&db, steps_back_before(&db, COMPACT_BASELINES).await?).await?;
    insert_baselines(db.pool(), "to_jsonb({value})").await?;
    schema::upgrade(&db).await?;
    assert_baselines_hold(db.pool(), "written::{owned}").await?;
    db.pool().close().await;
    test_db.drop_now().await
}

#[tokio::test]
async fn the_downgrade_turns_text_baselines_back_into_jsonb() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemabaselinesdown").await?;
    insert_baselines(db.pool(), "({value})::text").await?;
    schema::downgrade(&db, steps_back_before(&db, COMPACT_BASELINES).await?).await?;
    assert_baselines_hold(db.pool(), "jsonb_populate_record(NULL::{owned}, written)").await?;
    db.pool().close().await;
    test_db.drop_now().await
}

/// The migration that rewrote, in UTC, baselines written in another zone.
const BASELINES_IN_UTC: &str = "m20261207_000026_baselines_in_utc";

/// Baselines the bulk path wrote with legacy's zone as the session's carry
/// its offset; the upgrade rewrites them in UTC, as the delta path writes
/// and compares them, and the undo images with them.
#[tokio::test]
async fn baselines_written_in_another_zone_are_rewritten_in_utc() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemabaselinesutc").await?;
    schema::downgrade(&db, steps_back_before(&db, BASELINES_IN_UTC).await?).await?;
    let mut zoned = db.pool().acquire().await?;
    sqlx::query("SET TimeZone = 'Asia/Almaty'")
        .execute(&mut *zoned)
        .await?;
    for (entity, literal) in BASELINES {
        let insert = format!(
            "INSERT INTO migration.ledger (entity, legacy_id, outcome, source_hash, run_id, written) \
             VALUES ($1, 1, 'migrated', 0, gen_random_uuid(), ({literal}::migration.owned_{entity})::text)"
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(entity)
            .execute(&mut *zoned)
            .await?;
    }
    sqlx::query(
        "INSERT INTO migration.run_change_events (run_id, table_name, row_key, legacy_id, before, after) \
         SELECT run_id, 'migration.ledger', jsonb_build_object('entity', entity, 'legacy_id', legacy_id), \
                legacy_id, to_jsonb(l), to_jsonb(l) FROM migration.ledger l",
    )
    .execute(&mut *zoned)
    .await?;
    sqlx::query("RESET TimeZone").execute(&mut *zoned).await?;
    drop(zoned);
    let zoned_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM migration.ledger WHERE written LIKE '%+05\"%' OR written LIKE '%+05)'",
    )
    .fetch_one(db.pool())
    .await?;
    assert!(zoned_rows > 0, "the baselines were written with +05");

    schema::upgrade(&db).await?;
    for (entity, literal) in BASELINES {
        let query = format!(
            "SELECT written = ({literal}::migration.owned_{entity})::text \
             FROM migration.ledger WHERE entity = $1 AND legacy_id = 1"
        );
        let in_utc: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .bind(entity)
            .fetch_one(db.pool())
            .await?;
        assert!(in_utc, "{entity}: {literal}");
    }
    assert_baselines_hold(db.pool(), "written::{owned}").await?;
    db.pool().close().await;
    test_db.drop_now().await
}

#[tokio::test]
async fn a_baseline_that_is_not_a_records_text_is_refused() -> anyhow::Result<()> {
    let (test_db, db) = migrated("schemabaselinecheck").await?;
    let stored = sqlx::query(
        "INSERT INTO migration.ledger (entity, legacy_id, outcome, source_hash, run_id, written) \
         VALUES ('journal', 1, 'migrated', 0, gen_random_uuid(), '{\"status\": \"active\"}'::jsonb)",
    )
    .execute(db.pool())
    .await;
    assert!(
        matches!(&stored, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23514")),
        "{stored:?}"
    );
    db.pool().close().await;
    test_db.drop_now().await
}
