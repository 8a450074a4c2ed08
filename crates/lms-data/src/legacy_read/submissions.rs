//! Exam results: submissions of assessments.

use lms_domain::DomainError;
use lms_domain::answers::{Answers, parse_answers};
use lms_domain::model::*;
use lms_domain::number;
use lms_domain::status::SubmissionStatus;
use sqlx::types::Json;

use super::LegacyReader;
use super::ids::IdMap;
use super::rows::{DatabaseResult, UtcTime, collect, legacy_filter, served};
use super::rows::{legacy_instant, looked_up};

const SUBMISSION: &str = "submission";

/// The score and the exam's maximum are read as text and judged by the
/// contract's number rules (`lms_domain::number`), as the engine judges them.
macro_rules! select_results {
    ($($condition:expr),+) => {
        concat!(
            "SELECT r.id, r.exam_id, r.student_id, r.score::text AS score, e.max_score::text AS max_score, \
                    ", legacy_instant!("r.submitted_at"), " AS submitted_at, r.status, r.answers \
             FROM exam_results r LEFT JOIN exams e ON e.id = r.exam_id WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    id: i64,
    exam_id: Option<i32>,
    student_id: Option<i32>,
    score: Option<String>,
    max_score: Option<String>,
    submitted_at: Option<UtcTime>,
    status: Option<String>,
    answers: Option<String>,
}

impl LegacyReader {
    pub async fn get_submission(&self, id: SubmissionId) -> Result<Submission, DomainError> {
        let ids = self.ids()?;
        let found = match ids.exam_results.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.submission(&ids, legacy_id).await?,
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(SUBMISSION, id))
    }

    pub async fn list_submissions(
        &self,
        filter: &SubmissionFilter,
        page: PageRequest,
    ) -> Result<Page<Submission>, DomainError> {
        let ids = self.ids()?;
        let exam = legacy_filter("assessment", filter.assessment_id.map(|id| id.0), |id| {
            ids.exams.migrated.legacy_id(id)
        })?;
        let students = match filter.student_id {
            Some(student) => {
                let referring = ids.students.referring(student.0);
                if referring.is_empty() {
                    return Err(DomainError::not_known_to_legacy("student", student.0));
                }
                Some(referring)
            }
            None => None,
        };
        let students = &students;
        let mut scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| async move {
                sqlx::query_as(select_results!(
                    "r.id >= $2 AND ($4::bigint IS NULL OR r.exam_id = $4) \
                     AND ($5::bigint[] IS NULL OR r.student_id = ANY ($5)) \
                     ORDER BY r.id LIMIT $3"
                ))
                .bind(self.timezone())
                .bind(from)
                .bind(limit)
                .bind(exam)
                .bind(students.as_deref())
                .persistent(false)
                .fetch_all(self.pool())
                .await
                .legacy()
            },
            |row: &ResultRow| row.id,
            |row| {
                submission(&ids, &row).filter(|submission| {
                    filter
                        .assessment_id
                        .is_none_or(|id| submission.assessment_id == id)
                        && filter
                            .student_id
                            .is_none_or(|id| submission.student_id == id)
                })
            },
        )
        .await?;
        self.normalise_answers(&mut scanned.items).await?;
        Ok(scanned.into_page(page, |s| s.legacy.map_or(0, |l| l.legacy_id)))
    }

    pub async fn lookup_submission(&self, legacy_id: i64) -> Result<Submission, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.exam_results.migrated.lms_id(legacy_id).is_some();
        let found = self.submission(&ids, legacy_id).await?;
        looked_up(found, mapped, SUBMISSION, legacy_id)
    }

    async fn submission(
        &self,
        ids: &IdMap,
        legacy_id: i64,
    ) -> Result<Option<Submission>, DomainError> {
        if ids.exam_results.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        let row: Option<ResultRow> = sqlx::query_as(select_results!("r.id = $2"))
            .bind(self.timezone())
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()?;
        let mut found: Vec<Submission> = row
            .and_then(|row| submission(ids, &row))
            .into_iter()
            .collect();
        self.normalise_answers(&mut found).await?;
        Ok(found.pop())
    }

    /// JSON answers as the LMS returns them: the engine stores them as
    /// `jsonb`, which orders keys, drops duplicates and rewrites numbers,
    /// and the repository prints that. PostgreSQL does the same here; which
    /// answers are JSON was decided by the contract's own rule already.
    async fn normalise_answers(&self, items: &mut [Submission]) -> Result<(), DomainError> {
        let texts: Vec<&str> = items
            .iter()
            .filter_map(|item| item.answers_json.as_deref())
            .collect();
        if texts.is_empty() {
            return Ok(());
        }
        let normalised = match self.jsonb(&texts).await {
            Ok(all) => all.into_iter().map(Some).collect(),
            // Text the contract's rule takes for JSON but `jsonb` refuses
            // cannot have been migrated (the row changed since): it keeps
            // its text rather than failing the whole page.
            Err(DomainError::Internal(_)) => {
                let mut one_by_one = Vec::with_capacity(texts.len());
                for text in &texts {
                    one_by_one.push(match self.jsonb(&[text]).await {
                        Ok(mut one) => one.pop(),
                        Err(DomainError::Internal(_)) => None,
                        Err(error) => return Err(error),
                    });
                }
                one_by_one
            }
            Err(error) => return Err(error),
        };
        let mut normalised = normalised.into_iter();
        for item in items.iter_mut() {
            if item.answers_json.is_some()
                && let Some(Some(text)) = normalised.next()
            {
                item.answers_json = Some(text);
            }
        }
        Ok(())
    }

    /// Each text as `jsonb`, printed as the repository prints it.
    async fn jsonb(&self, texts: &[&str]) -> Result<Vec<String>, DomainError> {
        let values: Vec<Json<serde_json::Value>> = sqlx::query_scalar(
            "SELECT answers::jsonb FROM unnest($1::text[]) WITH ORDINALITY AS a (answers, n) ORDER BY n",
        )
        .bind(texts)
        .persistent(false)
        .fetch_all(self.pool())
        .await
        .legacy()?;
        Ok(values
            .into_iter()
            .map(|Json(value)| value.to_string())
            .collect())
    }
}

/// The contract: the exam and the student resolve (a merged student's
/// result attaches to the survivor), else the row would now be rejected; a
/// score out of range (or one the LMS cannot hold) is NULL; the status is read from its list; answers
/// are JSON when they parse, kept raw otherwise.
fn submission(ids: &IdMap, row: &ResultRow) -> Option<Submission> {
    let id = ids.exam_results.migrated.lms_id(row.id)?;
    let assessment = ids.exams.migrated.lms_id(i64::from(row.exam_id?))?;
    let student = ids.students.reference(i64::from(row.student_id?))?;
    let (answers_json, answers_raw) = match parse_answers(row.answers.as_deref()).map(|a| a.value) {
        Some(Answers::Json(text)) => (Some(text), None),
        Some(Answers::Raw(text)) => (None, Some(text)),
        None => (None, None),
    };
    Some(Submission {
        id: SubmissionId(id),
        assessment_id: AssessmentId(assessment),
        student_id: StudentId(student),
        score: number::score(
            row.score.as_deref(),
            number::max_score(row.max_score.as_deref()).value,
        )
        .value,
        submitted_at: row.submitted_at.and_then(UtcTime::instant),
        status: SubmissionStatus::from_legacy(row.status.as_deref()).value,
        answers_json,
        answers_raw,
        legacy: served(row.id),
    })
}
