//! A canonical digest of the LMS tables and the ledger, independent of the
//! surrogate ids (which depend on the order chunks ran in): references are
//! compared by the legacy ids they lead to.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, PgPool, Row};

const USER_KEY: &str = "coalesce(u.legacy_id::text, u.provisioned_for, 'lms:' || u.id)";

fn queries() -> Vec<(&'static str, String)> {
    vec![
        ("organizations", "SELECT ROW(o.legacy_id, p.legacy_id, o.name, o.short_name, o.org_type, o.bin, o.archived, o.created_at, o.source_deleted_at IS NULL)::text FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id".to_owned()),
        ("persons", "SELECT ROW(legacy_id, last_name, first_name, middle_name, iin, birth_date, gender, phone, created_at, source_deleted_at IS NULL)::text FROM persons".to_owned()),
        ("users", format!("SELECT ROW({USER_KEY}, p.legacy_id, u.login, u.email, u.password_hash, u.password_reset_required, u.activation_required, u.role, u.is_active, u.created_at, u.last_login_at, u.source_deleted_at IS NULL)::text FROM users u LEFT JOIN persons p ON p.id = u.person_id")),
        ("staff_members", format!("SELECT ROW(s.legacy_id, p.legacy_id, {USER_KEY}, o.legacy_id, s.position, s.hired_on, s.left_on, s.source_deleted_at IS NULL)::text FROM staff_members s JOIN persons p ON p.id = s.person_id JOIN users u ON u.id = s.user_id LEFT JOIN organizations o ON o.id = s.organization_id")),
        ("student_groups", "SELECT ROW(g.legacy_id, o.legacy_id, g.name, g.year_of_study, c.legacy_id, g.academic_year, g.source_deleted_at IS NULL)::text FROM student_groups g LEFT JOIN organizations o ON o.id = g.organization_id LEFT JOIN staff_members c ON c.id = g.curator_id".to_owned()),
        ("subjects", "SELECT ROW(s.legacy_id, o.legacy_id, s.name, s.code, s.credits, s.source_deleted_at IS NULL)::text FROM subjects s LEFT JOIN organizations o ON o.id = s.organization_id".to_owned()),
        ("students", format!("SELECT ROW(s.legacy_id, p.legacy_id, {USER_KEY}, o.legacy_id, g.legacy_id, s.admission_year, s.status, s.record_book_no, s.source_deleted_at IS NULL)::text FROM students s JOIN persons p ON p.id = s.person_id JOIN users u ON u.id = s.user_id LEFT JOIN organizations o ON o.id = s.organization_id LEFT JOIN student_groups g ON g.id = s.group_id")),
        ("courses", "SELECT ROW(s.legacy_id, g.legacy_id, c.academic_year, c.semester, c.derived_from_legacy)::text FROM courses c JOIN subjects s ON s.id = c.subject_id LEFT JOIN student_groups g ON g.id = c.group_id".to_owned()),
        ("course_enrollments", "SELECT ROW(e.legacy_id, st.legacy_id, s.legacy_id, g.legacy_id, c.academic_year, c.semester, t.legacy_id, e.status, e.current_mark, e.updated_at, e.source_deleted_at IS NULL)::text FROM course_enrollments e JOIN students st ON st.id = e.student_id JOIN courses c ON c.id = e.course_id JOIN subjects s ON s.id = c.subject_id LEFT JOIN student_groups g ON g.id = c.group_id LEFT JOIN staff_members t ON t.id = e.teacher_id".to_owned()),
        ("grades", "SELECT ROW(gr.legacy_id, e.legacy_id, gr.kind, gr.raw_mark, gr.scale, gr.value, gr.points, gr.graded_at, gr.source_deleted_at IS NULL)::text FROM grades gr JOIN course_enrollments e ON e.id = gr.enrollment_id".to_owned()),
        ("assessments", "SELECT ROW(a.legacy_id, s.legacy_id, g.legacy_id, t.legacy_id, a.title, a.kind, a.held_on, a.max_score, a.source_deleted_at IS NULL)::text FROM assessments a JOIN subjects s ON s.id = a.subject_id LEFT JOIN student_groups g ON g.id = a.group_id LEFT JOIN staff_members t ON t.id = a.teacher_id".to_owned()),
        ("assessment_submissions", "SELECT ROW(x.legacy_id, a.legacy_id, st.legacy_id, x.score, x.submitted_at, x.status, x.answers, x.answers_raw, x.source_deleted_at IS NULL)::text FROM assessment_submissions x JOIN assessments a ON a.id = x.assessment_id JOIN students st ON st.id = x.student_id".to_owned()),
        ("ledger", "SELECT ROW(entity, legacy_id, outcome, reason, warnings, survivor_legacy_id, detail, source_hash, target_id IS NOT NULL, source_deleted_at IS NULL)::text FROM migration.ledger".to_owned()),
    ]
}

/// Table name to (row count, digest of the canonical rows).
pub async fn fingerprint(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, (i64, String)>> {
    let mut out = BTreeMap::new();
    for (table, query) in queries() {
        let wrapped = format!(
            "SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') FROM ({query}) rows(r)"
        );
        let row = sqlx::query(AssertSqlSafe(wrapped)).fetch_one(pool).await?;
        out.insert(table, (row.get::<i64, _>(0), row.get::<String, _>(1)));
    }
    Ok(out)
}

/// Digest of the xmin of every row of the LMS tables and the ledger: it
/// changes whenever any row is written, even to the same values.
pub async fn write_marks(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let tables = [
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
    ];
    let mut out = BTreeMap::new();
    for table in tables {
        let query = format!(
            "SELECT coalesce(md5(string_agg(xmin::text || ':' || ctid::text, ',' ORDER BY ctid)), '') FROM {table}"
        );
        let digest: String = sqlx::query(AssertSqlSafe(query))
            .fetch_one(pool)
            .await?
            .get(0);
        out.insert(table, digest);
    }
    Ok(out)
}
