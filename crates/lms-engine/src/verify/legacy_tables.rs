//! The legacy database as verification reads it: every table whole, each
//! row its id and its columns as text. Timestamps come already converted
//! from `legacy.timezone` to UTC in the canonical form (`instant_utc`), and
//! dates in theirs, both NULL outside the years the LMS holds.
//!
//! Each table's columns start with the ones the outcome oracle reads (in
//! its order), then the values verification compares.

use sqlx::PgPool;

use super::copy_rows::{IdRow, Side, copy_rows};
use crate::error::EngineError;

/// A legacy table's rows, in id order.
pub type Rows = Vec<IdRow>;

/// Every legacy table.
#[derive(Debug, Default)]
pub struct LegacyTables {
    pub organizations: Rows,
    pub persons: Rows,
    pub users: Rows,
    pub groups: Rows,
    pub subjects: Rows,
    pub students: Rows,
    pub teachers: Rows,
    pub journal: Rows,
    pub exams: Rows,
    pub exam_results: Rows,
}

/// The canonical text of an instant: UTC, microseconds.
pub const INSTANT_FORMAT: &str = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"";

/// A legacy `timestamp` read in `zone`, as the canonical UTC text; NULL for
/// the infinities and years outside 1 to 9999 (docs/contract.md).
fn instant_utc(column: &str, zone: &str) -> String {
    format!(
        "CASE WHEN {column} BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999' \
         THEN to_char(({column} AT TIME ZONE {zone}) AT TIME ZONE 'UTC', '{INSTANT_FORMAT}') END"
    )
}

/// A legacy `date` as `YYYY-MM-DD`, NULL outside the years 1 to 9999.
fn day(column: &str) -> String {
    format!(
        "CASE WHEN {column} BETWEEN '0001-01-01' AND '9999-12-31' THEN to_char({column}, 'YYYY-MM-DD') END"
    )
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl LegacyTables {
    /// Reads every legacy table, several at once.
    pub async fn load(legacy: &PgPool, timezone: &str) -> Result<LegacyTables, EngineError> {
        let zone = literal(timezone);
        let utc = |column: &str| instant_utc(column, &zone);
        let selects = [
            format!(
                "SELECT id, parent_id, name, short_name, org_type, bin, is_deleted, {} FROM organizations",
                utc("created_at")
            ),
            format!(
                "SELECT id, birth_date, last_name, first_name, middle_name, iin, gender, phone, {} FROM persons",
                utc("created_at")
            ),
            format!(
                "SELECT id, login, email, password_hash, person_id, role, is_active, {}, {} FROM users",
                utc("created_at"),
                utc("last_login_at")
            ),
            "SELECT id, name, organization_id, course_no, curator_teacher_id, academic_year FROM groups"
                .to_owned(),
            "SELECT id, name, credits, organization_id, code FROM subjects".to_owned(),
            "SELECT id, user_id, person_id, organization_id, status, group_id, admission_year, record_book_no \
             FROM students"
                .to_owned(),
            format!(
                "SELECT id, user_id, person_id, organization_id, position, {}, {} FROM teachers",
                day("hired_at"),
                day("fired_at")
            ),
            "SELECT id, student_id, subject_id, group_id, academic_year, semester, status, mark_final, \
             teacher_id, mark_current FROM journal"
                .to_owned(),
            format!(
                "SELECT id, subject_id, title, max_score, group_id, teacher_id, exam_type, {} FROM exams",
                day("exam_date")
            ),
            format!(
                "SELECT id, exam_id, student_id, score, submitted_at, status, answers, {} FROM exam_results",
                utc("submitted_at")
            ),
        ];
        // The largest tables ask for a connection first (the pool has fewer
        // connections than there are tables): journal, exam results, users,
        // persons, students.
        const LARGEST_FIRST: [usize; 10] = [7, 9, 2, 1, 5, 8, 6, 4, 3, 0];
        let reads =
            LARGEST_FIRST.map(|index| {
                let select = &selects[index];
                async move {
                    Ok::<_, EngineError>((index, copy_rows(legacy, Side::Legacy, select).await?))
                }
            });
        let mut read = futures::future::try_join_all(reads).await?;
        read.sort_unstable_by_key(|(index, _)| *index);
        let mut tables = read.into_iter().map(|(_, rows)| rows);
        let mut next = || {
            let mut rows = tables.next().unwrap_or_default();
            rows.sort_unstable_by_key(|(id, _)| *id);
            rows
        };
        Ok(LegacyTables {
            organizations: next(),
            persons: next(),
            users: next(),
            groups: next(),
            subjects: next(),
            students: next(),
            teachers: next(),
            journal: next(),
            exams: next(),
            exam_results: next(),
        })
    }
}
