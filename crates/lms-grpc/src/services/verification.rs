//! `VerifyRun`'s conversions: the engine's verification report into its
//! proto message (the handler is in `migration.rs`).

use lms_engine::verify::academic::{SubmissionLine, TermLine, TermTally};
use lms_engine::verify::{
    Difference, DifferenceKind, EntityVerification, Explanation, FieldValues, VerifyReport,
};

use crate::convert::timestamp;
use crate::pb::lms::migration::v1 as pb;

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl From<DifferenceKind> for pb::DifferenceKind {
    fn from(kind: DifferenceKind) -> Self {
        match kind {
            DifferenceKind::Missing => pb::DifferenceKind::Missing,
            DifferenceKind::Unexpected => pb::DifferenceKind::Unexpected,
            DifferenceKind::Changed => pb::DifferenceKind::Changed,
        }
    }
}

/// (explanation, conflict kind) as the message names them.
fn explanation(explanation: Option<Explanation>) -> (String, String) {
    match explanation {
        None => (String::new(), String::new()),
        Some(Explanation::Conflict { conflict }) => {
            ("conflict".to_owned(), conflict.as_str().to_owned())
        }
        Some(Explanation::DeletedInLms) => ("deleted_in_lms".to_owned(), String::new()),
        Some(Explanation::ReferenceDeletedInLms) => {
            ("reference_deleted_in_lms".to_owned(), String::new())
        }
        Some(Explanation::WrittenThroughApi) => ("written_through_api".to_owned(), String::new()),
    }
}

impl From<FieldValues> for pb::FieldValues {
    fn from(values: FieldValues) -> Self {
        pb::FieldValues {
            field: values.field,
            legacy: values.legacy,
            lms: values.lms,
        }
    }
}

impl From<Difference> for pb::Difference {
    fn from(difference: Difference) -> Self {
        let (explanation, conflict) = explanation(difference.explanation);
        pb::Difference {
            legacy_id: difference.legacy_id,
            kind: pb::DifferenceKind::from(difference.kind).into(),
            explanation,
            conflict,
            fields: difference.fields.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<EntityVerification> for pb::EntityVerification {
    fn from(entity: EntityVerification) -> Self {
        pb::EntityVerification {
            entity: entity.entity.as_str().to_owned(),
            target_table: entity.target_table,
            legacy_rows: count(entity.legacy_rows),
            expected_rows: count(entity.expected_rows),
            present_rows: count(entity.present_rows),
            matching_rows: count(entity.matching_rows),
            chunks: count(entity.chunks),
            differing_chunks: count(entity.differing_chunks),
            explained: count(entity.explained),
            unexplained: count(entity.unexplained),
            samples: entity.samples.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<TermTally> for pb::TermTally {
    fn from(tally: TermTally) -> Self {
        pb::TermTally {
            enrollments: count(tally.enrollments),
            final_grades: count(tally.final_grades),
            five_point_marks: count(tally.five_point_marks),
            five_point_average: tally.five_point_average,
            pass_fail_marks: count(tally.pass_fail_marks),
            pass_rate: tally.pass_rate,
        }
    }
}

impl From<TermLine> for pb::TermLine {
    fn from(line: TermLine) -> Self {
        pb::TermLine {
            organization: line.organization.unwrap_or_default(),
            organization_name: line.organization_name.unwrap_or_default(),
            academic_year: line.academic_year,
            semester: line.semester,
            legacy: Some(line.legacy.into()),
            lms: Some(line.lms.into()),
            matches: line.matches,
        }
    }
}

impl From<SubmissionLine> for pb::SubmissionLine {
    fn from(line: SubmissionLine) -> Self {
        pb::SubmissionLine {
            organization: line.organization.unwrap_or_default(),
            organization_name: line.organization_name.unwrap_or_default(),
            legacy: count(line.legacy),
            lms: count(line.lms),
            matches: line.matches,
        }
    }
}

impl From<VerifyReport> for pb::Verification {
    fn from(report: VerifyReport) -> Self {
        pb::Verification {
            check_time: timestamp(Some(report.checked_at)),
            elapsed_seconds: report.elapsed_seconds,
            chunk_size: i32::try_from(report.chunk_size).unwrap_or(i32::MAX),
            unexplained: count(report.unexplained()),
            explained: count(report.explained()),
            entities: report.entities.into_iter().map(Into::into).collect(),
            terms: report.academic.terms.into_iter().map(Into::into).collect(),
            submissions: report
                .academic
                .submissions
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}
