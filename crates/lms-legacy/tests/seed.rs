//! The generator against a real PostgreSQL: the report's volumes, every kind
//! of dirt, determinism, and refusal to overwrite.

use lms_legacy::{LEGACY_TABLES, Scale, SeedError, SeedOptions, Volumes, seed_legacy_database};
use lms_pg::{PoolConfig, connect};
use lms_testkit::TestDatabase;
use sqlx::{AssertSqlSafe, PgPool, Row};

fn options(scale: Scale, seed: u64, force: bool) -> SeedOptions {
    SeedOptions { scale, seed, force }
}

async fn pool(db: &TestDatabase) -> anyhow::Result<PgPool> {
    Ok(connect(db.url(), &PoolConfig::small("seed-test")).await?)
}

#[tokio::test]
async fn seed_scale_reproduces_the_reports_counts() -> anyhow::Result<()> {
    let db = TestDatabase::create("seedreport").await?;
    let report = seed_legacy_database(db.url(), options(Scale::Seed, 1, false)).await?;
    let expected = [
        ("organizations", 56),
        ("persons", 6_469),
        ("users", 6_935),
        ("groups", 250),
        ("students", 6_344),
        ("teachers", 424),
        ("subjects", 1_200),
        ("journal", 510_269),
        ("exams", 2_400),
        ("exam_results", 66_337),
    ];
    assert_eq!(report.counts, expected.to_vec());
    let pool = pool(&db).await?;
    // The report's 74 teachers without a usable login.
    let without_login: i64 = sqlx::query(
        "SELECT count(*) FROM teachers t WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id)",
    )
    .fetch_one(&pool)
    .await?
    .get(0);
    assert_eq!(without_login, 74);
    // Groups of about 20 to 30 students.
    let row = sqlx::query(
        "SELECT min(n), max(n) FROM (SELECT count(*) n FROM students s JOIN groups g ON g.id = s.group_id GROUP BY g.id) x",
    )
    .fetch_one(&pool)
    .await?;
    let (smallest, largest): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        smallest >= 15 && largest <= 40,
        "group sizes {smallest}..{largest}"
    );
    pool.close().await;
    db.drop_now().await
}

/// Each kind of dirt DATA.md lists, as a query counting its rows.
const DIRT: &[(&str, &str)] = &[
    (
        "dangling organization parent",
        "SELECT count(*) FROM organizations o WHERE parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM organizations p WHERE p.id = o.parent_id)",
    ),
    (
        "unparseable birth date",
        "SELECT count(*) FROM persons WHERE btrim(birth_date) <> '' AND birth_date !~ '^\\d{4}-\\d{2}-\\d{2}$' AND birth_date !~ '^\\d{2}\\.\\d{2}\\.\\d{4}$'",
    ),
    (
        "blank birth date",
        "SELECT count(*) FROM persons WHERE btrim(birth_date) = ''",
    ),
    (
        "persons referenced by no one",
        "SELECT count(*) FROM persons p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.person_id = p.id) AND NOT EXISTS (SELECT 1 FROM students s WHERE s.person_id = p.id) AND NOT EXISTS (SELECT 1 FROM teachers t WHERE t.person_id = p.id)",
    ),
    (
        "login case collision",
        "SELECT count(*) FROM (SELECT lower(btrim(login)) FROM users GROUP BY 1 HAVING count(*) > 1) x",
    ),
    (
        "Kazakh letters colliding only under Unicode lower()",
        "SELECT count(*) FROM users a JOIN users b ON a.id < b.id AND lower(btrim(a.login)) = lower(btrim(b.login)) WHERE a.login ~ '[ӘәҚқҒғҢңӨөҰұҮүІі]' AND a.login <> b.login",
    ),
    (
        "login equal to another's renamed form",
        "SELECT count(*) FROM users a JOIN users b ON lower(btrim(b.login)) = lower(btrim(a.login)) || '.' || a.id",
    ),
    (
        "padded or mixed-case email colliding after normalisation",
        "SELECT count(*) FROM users a JOIN users b ON a.id < b.id AND lower(btrim(a.email)) = lower(btrim(b.email)) AND a.email <> b.email WHERE btrim(a.email) <> ''",
    ),
    (
        "invalid email",
        "SELECT count(*) FROM users WHERE btrim(email) <> '' AND lower(btrim(email)) !~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'",
    ),
    (
        "blank email",
        "SELECT count(*) FROM users WHERE email IS NOT NULL AND btrim(email) = ''",
    ),
    (
        "md5 password hash",
        "SELECT count(*) FROM users WHERE password_hash ~ '^[0-9a-f]{32}$'",
    ),
    (
        "bcrypt password hash",
        "SELECT count(*) FROM users WHERE password_hash LIKE '$2%'",
    ),
    (
        "user with dangling person",
        "SELECT count(*) FROM users u WHERE person_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = u.person_id)",
    ),
    (
        "unknown role",
        "SELECT count(*) FROM users WHERE lower(btrim(role)) NOT IN ('student', 'teacher', 'admin', 'parent', 'methodist')",
    ),
    (
        "mixed-case role",
        "SELECT count(*) FROM users WHERE role <> lower(btrim(role))",
    ),
    (
        "student whose person is gone",
        "SELECT count(*) FROM students s WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = s.person_id)",
    ),
    (
        "duplicate student (same person and organization)",
        "SELECT count(*) FROM (SELECT 1 FROM students WHERE person_id IS NOT NULL GROUP BY person_id, organization_id HAVING count(*) > 1) x",
    ),
    (
        "student without a login",
        "SELECT count(*) FROM students WHERE user_id IS NULL",
    ),
    (
        "student whose user is gone",
        "SELECT count(*) FROM students s WHERE user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)",
    ),
    (
        "students of different persons sharing a user",
        "SELECT count(*) FROM students a JOIN students b ON a.id < b.id AND a.user_id = b.user_id AND a.person_id <> b.person_id",
    ),
    (
        "unknown student status",
        "SELECT count(*) FROM students WHERE lower(btrim(status)) NOT IN ('active', 'expelled', 'graduated', 'academic_leave')",
    ),
    (
        "student group pointing nowhere",
        "SELECT count(*) FROM students s WHERE group_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = s.group_id)",
    ),
    (
        "teacher without a login",
        "SELECT count(*) FROM teachers WHERE user_id IS NULL",
    ),
    (
        "teacher whose user is gone",
        "SELECT count(*) FROM teachers t WHERE user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id)",
    ),
    (
        "teacher whose person is gone",
        "SELECT count(*) FROM teachers t WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = t.person_id)",
    ),
    (
        "journal row whose student is gone",
        "SELECT count(*) FROM journal j WHERE NOT EXISTS (SELECT 1 FROM students s WHERE s.id = j.student_id)",
    ),
    (
        "journal row whose subject is gone",
        "SELECT count(*) FROM journal j WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.id = j.subject_id)",
    ),
    (
        "journal duplicate",
        "SELECT count(*) FROM (SELECT 1 FROM journal GROUP BY student_id, subject_id, group_id, btrim(academic_year), semester HAVING count(*) > 1) x",
    ),
    (
        "journal duplicate whose survivor has a blank mark",
        "SELECT count(*) FROM journal a JOIN journal b ON a.id < b.id AND a.student_id = b.student_id AND a.subject_id = b.subject_id AND a.group_id IS NOT DISTINCT FROM b.group_id AND btrim(a.academic_year) = btrim(b.academic_year) AND a.semester = b.semester WHERE coalesce(btrim(a.mark_final), '') = '' AND btrim(b.mark_final) <> ''",
    ),
    (
        "journal row of a merged student",
        "SELECT count(*) FROM journal j JOIN students s ON s.id = j.student_id WHERE EXISTS (SELECT 1 FROM students o WHERE o.person_id = s.person_id AND o.organization_id IS NOT DISTINCT FROM s.organization_id AND o.id < s.id)",
    ),
    (
        "journal row with NULL group",
        "SELECT count(*) FROM journal WHERE group_id IS NULL",
    ),
    (
        "unparseable mark",
        "SELECT count(*) FROM journal WHERE btrim(mark_final) <> '' AND btrim(mark_final) !~ '^[0-9]+$' AND lower(btrim(mark_final)) NOT IN ('зачет', 'незачет') AND btrim(mark_final) !~* '^[A-F][+-]?$'",
    ),
    (
        "mark on each scale",
        "SELECT least(count(*) FILTER (WHERE mark_final IN ('2','3','4','5')), count(*) FILTER (WHERE mark_final ~ '^[0-9]+$' AND mark_final::int NOT BETWEEN 2 AND 5), count(*) FILTER (WHERE lower(mark_final) IN ('зачет','незачет')), count(*) FILTER (WHERE mark_final ~* '^[A-F][+-]?$')) FROM journal",
    ),
    (
        "unknown journal status",
        "SELECT count(*) FROM journal WHERE lower(btrim(status)) NOT IN ('active', 'dropped', 'completed')",
    ),
    (
        "exam whose subject is gone",
        "SELECT count(*) FROM exams e WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.id = e.subject_id)",
    ),
    (
        "exam without max score",
        "SELECT count(*) FROM exams WHERE max_score IS NULL",
    ),
    (
        "result whose exam is gone",
        "SELECT count(*) FROM exam_results r WHERE NOT EXISTS (SELECT 1 FROM exams e WHERE e.id = r.exam_id)",
    ),
    (
        "result whose student is gone",
        "SELECT count(*) FROM exam_results r WHERE NOT EXISTS (SELECT 1 FROM students s WHERE s.id = r.student_id)",
    ),
    (
        "result of a merged student",
        "SELECT count(*) FROM exam_results r JOIN students s ON s.id = r.student_id WHERE EXISTS (SELECT 1 FROM students o WHERE o.person_id = s.person_id AND o.organization_id IS NOT DISTINCT FROM s.organization_id AND o.id < s.id)",
    ),
    (
        "retake (same exam and student)",
        "SELECT count(*) FROM (SELECT 1 FROM exam_results GROUP BY exam_id, student_id HAVING count(*) > 1) x",
    ),
    (
        "score out of range",
        "SELECT count(*) FROM exam_results r JOIN exams e ON e.id = r.exam_id WHERE r.score < 0 OR r.score > coalesce(e.max_score, 100)",
    ),
    (
        "answers that are not JSON",
        "SELECT count(*) FROM exam_results WHERE NOT is_json(answers)",
    ),
    (
        "annulled result",
        "SELECT count(*) FROM exam_results WHERE lower(status) = 'annulled'",
    ),
    (
        "Cyrillic and Kazakh names",
        "SELECT count(*) FROM persons WHERE last_name ~ '[ӘәҚқҒғҢңӨөҰұҮүІі]'",
    ),
    (
        "Cyrillic group names",
        "SELECT count(*) FROM groups WHERE name ~ '[А-Яа-яӘәҒғ]'",
    ),
    (
        "infinity timestamp",
        "SELECT count(*) FROM users WHERE last_login_at = 'infinity'",
    ),
    (
        "id at the top of integer",
        "SELECT count(*) FROM organizations WHERE id = 2147483647",
    ),
    (
        "journal id above 2^53",
        "SELECT count(*) FROM journal WHERE id > 9007199254740992",
    ),
];

#[tokio::test]
async fn small_scale_has_every_kind_of_dirt() -> anyhow::Result<()> {
    let db = TestDatabase::create("seeddirt").await?;
    let report = seed_legacy_database(db.url(), options(Scale::Small, 7, false)).await?;
    let wanted: std::collections::HashMap<_, _> =
        Volumes::at(Scale::Small).by_table().into_iter().collect();
    for (table, count) in &report.counts {
        assert_eq!(usize::try_from(*count)?, wanted[table], "{table}");
    }
    let pool = pool(&db).await?;
    // A helper for the JSON check; the test database is ours to write.
    sqlx::raw_sql(
        "CREATE FUNCTION is_json(t text) RETURNS boolean LANGUAGE plpgsql AS \
         $$ BEGIN IF t IS NULL THEN RETURN true; END IF; PERFORM t::jsonb; RETURN true; \
         EXCEPTION WHEN others THEN RETURN false; END $$",
    )
    .execute(&pool)
    .await?;
    let mut missing = Vec::new();
    for (kind, query) in DIRT {
        let count: i64 = sqlx::query(AssertSqlSafe(*query))
            .fetch_one(&pool)
            .await?
            .get(0);
        if count == 0 {
            missing.push(*kind);
        }
    }
    assert!(
        missing.is_empty(),
        "kinds of dirt missing at small scale: {missing:?}"
    );
    pool.close().await;
    db.drop_now().await
}

async fn fingerprint(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    let mut digests = Vec::new();
    for table in LEGACY_TABLES {
        let query = format!("SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t");
        let digest: Option<String> = sqlx::query(AssertSqlSafe(query))
            .fetch_one(pool)
            .await?
            .get(0);
        digests.push(digest.unwrap_or_default());
    }
    Ok(digests)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_database() -> anyhow::Result<()> {
    let first = TestDatabase::create("seeddet1").await?;
    let second = TestDatabase::create("seeddet2").await?;
    seed_legacy_database(first.url(), options(Scale::Small, 42, false)).await?;
    seed_legacy_database(second.url(), options(Scale::Small, 42, false)).await?;
    let (a, b) = (pool(&first).await?, pool(&second).await?);
    assert_eq!(fingerprint(&a).await?, fingerprint(&b).await?);
    // And another seed gives another database.
    seed_legacy_database(second.url(), options(Scale::Small, 43, true)).await?;
    assert_ne!(fingerprint(&a).await?, fingerprint(&b).await?);
    a.close().await;
    b.close().await;
    first.drop_now().await?;
    second.drop_now().await
}

#[tokio::test]
async fn refuses_a_non_empty_database_without_force() -> anyhow::Result<()> {
    let db = TestDatabase::create("seedrefuse").await?;
    seed_legacy_database(db.url(), options(Scale::Small, 1, false)).await?;
    let error = seed_legacy_database(db.url(), options(Scale::Small, 1, false))
        .await
        .expect_err("a second seed without --force must be refused");
    assert!(matches!(error, SeedError::NotEmpty { .. }), "{error}");
    assert!(error.to_string().contains("--force"));
    seed_legacy_database(db.url(), options(Scale::Small, 2, true)).await?;
    db.drop_now().await
}
