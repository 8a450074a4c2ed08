//! Assessments and their submissions: read only.

use lms_domain::DomainError;
use lms_domain::model::*;
use lms_domain::status::SubmissionStatus;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{LmsStore, legacy, legacy_i32, legacy_key, numbers, parse_text, read_one, read_page};
use crate::entities::{assessment_submissions, assessments};

const ASSESSMENT: &str = "assessment";
const SUBMISSION: &str = "submission";

impl LmsStore {
    pub async fn get_assessment(&self, id: AssessmentId) -> Result<Assessment, DomainError> {
        let select = assessments::Entity::find_by_id(id.0);
        Ok(assessment(
            read_one(&self.db, ASSESSMENT, id, select).await?,
        ))
    }

    pub async fn list_assessments(
        &self,
        filter: &AssessmentFilter,
        page: PageRequest,
    ) -> Result<Page<Assessment>, DomainError> {
        let mut select = assessments::Entity::find();
        if let Some(subject) = filter.subject_id {
            select = select.filter(assessments::Column::SubjectId.eq(subject.0));
        }
        if let Some(group) = filter.group_id {
            select = select.filter(assessments::Column::GroupId.eq(group.0));
        }
        let id = assessments::Column::Id;
        let convert = |row| Ok(assessment(row));
        read_page(&self.db, ASSESSMENT, select, id, page, convert, |a| a.id.0).await
    }

    pub async fn lookup_assessment(&self, legacy_id: i64) -> Result<Assessment, DomainError> {
        let key = legacy_i32(ASSESSMENT, legacy_id)?;
        let select = assessments::Entity::find().filter(assessments::Column::LegacyId.eq(key));
        Ok(assessment(
            read_one(&self.db, ASSESSMENT, legacy_key(legacy_id), select).await?,
        ))
    }

    pub async fn get_submission(&self, id: SubmissionId) -> Result<Submission, DomainError> {
        let select = assessment_submissions::Entity::find_by_id(id.0);
        submission(read_one(&self.db, SUBMISSION, id, select).await?)
    }

    pub async fn list_submissions(
        &self,
        filter: &SubmissionFilter,
        page: PageRequest,
    ) -> Result<Page<Submission>, DomainError> {
        let mut select = assessment_submissions::Entity::find();
        if let Some(assessment) = filter.assessment_id {
            select = select.filter(assessment_submissions::Column::AssessmentId.eq(assessment.0));
        }
        if let Some(student) = filter.student_id {
            select = select.filter(assessment_submissions::Column::StudentId.eq(student.0));
        }
        let id = assessment_submissions::Column::Id;
        read_page(&self.db, SUBMISSION, select, id, page, submission, |s| {
            s.id.0
        })
        .await
    }

    pub async fn lookup_submission(&self, legacy_id: i64) -> Result<Submission, DomainError> {
        let select = assessment_submissions::Entity::find()
            .filter(assessment_submissions::Column::LegacyId.eq(legacy_id));
        submission(read_one(&self.db, SUBMISSION, legacy_key(legacy_id), select).await?)
    }
}

fn assessment(row: assessments::Model) -> Assessment {
    Assessment {
        id: AssessmentId(row.id),
        subject_id: SubjectId(row.subject_id),
        group_id: row.group_id.map(GroupId),
        teacher_id: row.teacher_id.map(StaffMemberId),
        title: row.title,
        kind: row.kind,
        held_on: row.held_on,
        max_score: numbers::max_score(row.id, &row.max_score),
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    }
}

/// The answers travel as JSON text: the domain does not model their shape.
fn submission(row: assessment_submissions::Model) -> Result<Submission, DomainError> {
    Ok(Submission {
        id: SubmissionId(row.id),
        assessment_id: AssessmentId(row.assessment_id),
        student_id: StudentId(row.student_id),
        score: numbers::score(row.id, row.score.as_deref()),
        submitted_at: row.submitted_at,
        status: parse_text("submission status", &row.status, SubmissionStatus::parse)?,
        answers_json: row.answers.map(|answers| answers.to_string()),
        answers_raw: row.answers_raw,
        legacy: legacy(row.legacy_id, row.source_deleted_at),
    })
}
