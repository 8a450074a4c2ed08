//! The registrar's sign-off sheet: per organization (the student's) and
//! term (the course's academic year and semester), enrollments, final
//! grades, the average five-point mark and the pass rate of pass/fail
//! marks, counted on both sides; submissions per organization. Both sides
//! are tallied from the same canonical rows the row checks compare, so a
//! line that differs points at rows listed there.

use std::collections::{BTreeMap, BTreeSet};

use lms_domain::LegacyEntity;
use lms_domain::mark::GradeScale;
use serde::{Deserialize, Serialize};

use super::canonical::{CanonicalRow, FieldText};

/// Canonical rows by legacy table and legacy id.
pub type Side = BTreeMap<LegacyEntity, BTreeMap<i64, CanonicalRow>>;

/// Field positions in the canonical rows (`canonical::fields`).
const STUDENT_ORGANIZATION: usize = 2;
const ORGANIZATION_NAME: usize = 1;
const ENROLLMENT_STUDENT: usize = 0;
const ENROLLMENT_YEAR: usize = 3;
const ENROLLMENT_SEMESTER: usize = 4;
const GRADE_RAW: usize = 8;
const GRADE_SCALE: usize = 9;
const GRADE_VALUE: usize = 10;
const SUBMISSION_STUDENT: usize = 1;

/// One side's figures for one organization and term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TermTally {
    pub enrollments: u64,
    pub final_grades: u64,
    pub five_point_marks: u64,
    /// The mean of the five-point marks, two decimals; none without marks.
    pub five_point_average: Option<f64>,
    pub pass_fail_marks: u64,
    /// Passes among pass/fail marks, in percent with one decimal.
    pub pass_rate: Option<f64>,
}

/// Sums behind a tally (compared exactly; the tally rounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sums {
    enrollments: u64,
    final_grades: u64,
    five_point_marks: u64,
    five_point_total: u64,
    pass_fail_marks: u64,
    passes: u64,
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: u64, whole: u64, scale: f64, decimals: f64) -> Option<f64> {
    (whole > 0).then(|| {
        let factor = 10_f64.powf(decimals);
        (part as f64 * scale / whole as f64 * factor).round() / factor
    })
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.enrollments += other.enrollments;
        self.final_grades += other.final_grades;
        self.five_point_marks += other.five_point_marks;
        self.five_point_total += other.five_point_total;
        self.pass_fail_marks += other.pass_fail_marks;
        self.passes += other.passes;
    }

    fn tally(self) -> TermTally {
        TermTally {
            enrollments: self.enrollments,
            final_grades: self.final_grades,
            five_point_marks: self.five_point_marks,
            five_point_average: ratio(self.five_point_total, self.five_point_marks, 1.0, 2.0),
            pass_fail_marks: self.pass_fail_marks,
            pass_rate: ratio(self.passes, self.pass_fail_marks, 100.0, 1.0),
        }
    }
}

/// One line of the sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermLine {
    /// The organization's legacy id (`lms:<id>` for one born in the LMS;
    /// none for students without one).
    pub organization: Option<String>,
    pub organization_name: Option<String>,
    pub academic_year: String,
    pub semester: String,
    pub legacy: TermTally,
    pub lms: TermTally,
    pub matches: bool,
}

/// Submissions of one organization's students.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionLine {
    pub organization: Option<String>,
    pub organization_name: Option<String>,
    pub legacy: u64,
    pub lms: u64,
    pub matches: bool,
}

/// The whole sheet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcademicSheet {
    pub terms: Vec<TermLine>,
    pub submissions: Vec<SubmissionLine>,
}

impl AcademicSheet {
    /// Lines whose figures differ between the sides.
    pub fn differing_lines(&self) -> usize {
        self.terms.iter().filter(|line| !line.matches).count()
            + self.submissions.iter().filter(|line| !line.matches).count()
    }
}

/// Organization, academic year, semester (short text, kept inline).
type TermKey = (Option<FieldText>, FieldText, FieldText);

/// One side's figures, added to row by row: from rows kept (the legacy
/// side's expected rows) or as the LMS's rows stream past.
#[derive(Debug, Default)]
pub struct Tally {
    terms: BTreeMap<TermKey, Sums>,
    submissions: BTreeMap<Option<FieldText>, u64>,
}

fn field(row: &[Option<FieldText>], index: usize) -> Option<&str> {
    row.get(index).and_then(Option::as_deref)
}

impl Tally {
    /// Adds one enrollment row (canonical journal fields) of a student of
    /// `organization`.
    pub fn enrollment(&mut self, organization: Option<&str>, row: &[Option<FieldText>]) {
        let key = (
            organization.map(FieldText::new),
            FieldText::new(field(row, ENROLLMENT_YEAR).unwrap_or_default()),
            FieldText::new(field(row, ENROLLMENT_SEMESTER).unwrap_or_default()),
        );
        let sums = self.terms.entry(key).or_default();
        sums.enrollments += 1;
        if field(row, GRADE_RAW).is_some() {
            sums.final_grades += 1;
        }
        let value = field(row, GRADE_VALUE);
        match field(row, GRADE_SCALE).and_then(GradeScale::parse) {
            Some(GradeScale::FivePoint) => {
                if let Some(points) = value.and_then(|value| value.parse::<u64>().ok()) {
                    sums.five_point_marks += 1;
                    sums.five_point_total += points;
                }
            }
            Some(GradeScale::PassFail) => {
                sums.pass_fail_marks += 1;
                if value == Some("pass") {
                    sums.passes += 1;
                }
            }
            _ => {}
        }
    }

    /// Adds one submission of a student of `organization`.
    pub fn submission(&mut self, organization: Option<&str>) {
        *self
            .submissions
            .entry(organization.map(FieldText::new))
            .or_default() += 1;
    }

    /// Both tallies in one.
    pub fn merge(mut self, other: Tally) -> Tally {
        for (key, sums) in other.terms {
            self.terms.entry(key).or_default().add(sums);
        }
        for (organization, count) in other.submissions {
            *self.submissions.entry(organization).or_default() += count;
        }
        self
    }
}

/// The organization (a canonical student row's) of the student a row
/// references (`student`: the student's legacy id as text).
pub fn organization_of<'a>(
    students: &'a BTreeMap<i64, CanonicalRow>,
    student: Option<&str>,
) -> Option<&'a str> {
    let id: i64 = student?.parse().ok()?;
    field(students.get(&id)?, STUDENT_ORGANIZATION)
}

/// The enrollment row's student, as [`organization_of`] reads it.
pub fn enrollment_student(row: &[Option<FieldText>]) -> Option<&str> {
    field(row, ENROLLMENT_STUDENT)
}

/// The submission row's student, as [`organization_of`] reads it.
pub fn submission_student(row: &[Option<FieldText>]) -> Option<&str> {
    field(row, SUBMISSION_STUDENT)
}

/// The tally of a side whose rows are kept.
pub fn tally(side: &Side) -> Tally {
    let empty = BTreeMap::new();
    let students = side.get(&LegacyEntity::Students).unwrap_or(&empty);
    let rows = |entity| side.get(&entity).into_iter().flat_map(BTreeMap::values);
    let mut tally = Tally::default();
    for row in rows(LegacyEntity::Journal) {
        tally.enrollment(organization_of(students, enrollment_student(row)), row);
    }
    for row in rows(LegacyEntity::ExamResults) {
        tally.submission(organization_of(students, submission_student(row)));
    }
    tally
}

/// The sheet for the expected rows (legacy) beside the LMS's tally.
pub fn reconcile(expected: &Side, lms: &Tally) -> AcademicSheet {
    let legacy = tally(expected);
    let names: BTreeMap<String, String> = expected
        .get(&LegacyEntity::Organizations)
        .into_iter()
        .flatten()
        .filter_map(|(id, row)| Some((id.to_string(), field(row, ORGANIZATION_NAME)?.to_owned())))
        .collect();
    let name = |organization: Option<&str>| organization.and_then(|id| names.get(id)).cloned();
    let term_keys: BTreeSet<&TermKey> = legacy.terms.keys().chain(lms.terms.keys()).collect();
    let terms = term_keys
        .into_iter()
        .map(|key| {
            let (want, have) = (
                legacy.terms.get(key).copied().unwrap_or_default(),
                lms.terms.get(key).copied().unwrap_or_default(),
            );
            TermLine {
                organization: key.0.as_deref().map(str::to_owned),
                organization_name: name(key.0.as_deref()),
                academic_year: key.1.to_string(),
                semester: key.2.to_string(),
                legacy: want.tally(),
                lms: have.tally(),
                matches: want == have,
            }
        })
        .collect();
    let organizations: BTreeSet<&Option<FieldText>> = legacy
        .submissions
        .keys()
        .chain(lms.submissions.keys())
        .collect();
    let submissions = organizations
        .into_iter()
        .map(|organization| {
            let want = legacy.submissions.get(organization).copied().unwrap_or(0);
            let have = lms.submissions.get(organization).copied().unwrap_or(0);
            SubmissionLine {
                organization: organization.as_deref().map(str::to_owned),
                organization_name: name(organization.as_deref()),
                legacy: want,
                lms: have,
                matches: want == have,
            }
        })
        .collect();
    AcademicSheet { terms, submissions }
}
