//! What the LMS should hold under the contract, read from legacy alone:
//! for every legacy row the oracle says migrates, its values in canonical
//! form (`canonical.rs`). Row-local rules come from lms-domain; whatever
//! involves other rows (survivors, final logins and emails, references to
//! rows that migrate) comes from the oracle.

use std::collections::{BTreeMap, HashMap, HashSet};

use lms_domain::account::{Credential, Role};
use lms_domain::answers::{Answers, parse_answers};
use lms_domain::course::CourseTerm;
use lms_domain::mark::parse_mark;
use lms_domain::number::{self, CREDITS_COLUMN};
use lms_domain::person::{Gender, parse_birth_date};
use lms_domain::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};
use lms_domain::text::{clean_opt, lower, required_name};
use lms_domain::{LegacyEntity, Outcome};

use compact_str::{ToCompactString as _, format_compact};

use super::canonical::{CanonicalRow, FieldText, boolean, decimal, json};
use super::legacy_tables::{LegacyTables, Rows};
use super::oracle::Oracle;

/// A canonical row from optional values of any text type (the contract's
/// functions give `String`s; a legacy value copied as it is, its own).
macro_rules! row {
    ($($value:expr),* $(,)?) => {
        vec![$(($value).map(FieldText::from)),*]
    };
}

/// Per legacy table, the canonical rows the LMS should hold, by legacy id.
pub type ExpectedRows = BTreeMap<LegacyEntity, BTreeMap<i64, CanonicalRow>>;

fn int(value: &Option<FieldText>) -> Option<i64> {
    value.as_deref().and_then(|text| text.parse().ok())
}

fn trim(value: &Option<FieldText>) -> Option<FieldText> {
    clean_opt(value.as_deref()).map(FieldText::new)
}

fn ids(rows: &Rows) -> HashSet<i64> {
    rows.iter().map(|(id, _)| *id).collect()
}

/// A reference kept when it points at one of `targets`, else NULL.
fn reference(value: &Option<FieldText>, targets: &HashSet<i64>) -> Option<FieldText> {
    int(value)
        .filter(|id| targets.contains(id))
        .map(|id| id.to_compact_string())
}

/// An account reference: the legacy user, or the account provisioned for
/// the row when its user points nowhere.
fn account(
    value: &Option<FieldText>,
    users: &HashSet<i64>,
    table: &str,
    id: i64,
) -> Option<FieldText> {
    reference(value, users).or_else(|| Some(format_compact!("provisioned:{table}:{id}")))
}

/// The legacy rows the oracle says migrate, of one table.
struct Migrating<'a> {
    oracle: &'a Oracle,
}

impl Migrating<'_> {
    fn ids(&self, entity: LegacyEntity, rows: &Rows) -> HashSet<i64> {
        rows.iter()
            .map(|(id, _)| *id)
            .filter(|id| self.migrates(entity, *id))
            .collect()
    }

    fn migrates(&self, entity: LegacyEntity, id: i64) -> bool {
        self.oracle
            .rows
            .get(&(entity, id))
            .is_some_and(|expected| expected.outcome == Outcome::Migrated)
    }
}

/// Every table's expected canonical rows.
pub fn expected_rows(tables: &LegacyTables, oracle: &Oracle) -> ExpectedRows {
    let migrating = Migrating { oracle };
    let organizations = ids(&tables.organizations);
    let persons = ids(&tables.persons);
    let users = ids(&tables.users);
    let groups = ids(&tables.groups);
    let subjects = ids(&tables.subjects);
    let teachers = migrating.ids(LegacyEntity::Teachers, &tables.teachers);
    let exams = migrating.ids(LegacyEntity::Exams, &tables.exams);
    let survivor = |value: &Option<FieldText>| {
        int(value)
            .and_then(|student| oracle.student_survivor.get(&student))
            .map(|id| id.to_compact_string())
    };
    let mut expected = ExpectedRows::new();
    let mut add =
        |entity: LegacyEntity,
         rows: &Rows,
         canonical: &dyn Fn(i64, &[Option<FieldText>]) -> CanonicalRow| {
            let table = rows
                .iter()
                .filter(|(id, _)| migrating.migrates(entity, *id))
                .map(|(id, row)| (*id, canonical(*id, row)))
                .collect();
            expected.insert(entity, table);
        };

    add(
        LegacyEntity::Organizations,
        &tables.organizations,
        &|id, r| {
            row![
                reference(&r[0], &organizations),
                Some(required_name(r[1].as_deref(), "Organization", id).value),
                trim(&r[2]),
                trim(&r[3]).map(|kind| lower(&kind)),
                trim(&r[4]),
                Some(boolean(r[5].as_deref() == Some("t"))),
                r[6].clone(),
            ]
        },
    );
    add(LegacyEntity::Persons, &tables.persons, &|_, r| {
        row![
            trim(&r[1]),
            trim(&r[2]),
            trim(&r[3]),
            trim(&r[4]),
            parse_birth_date(r[0].as_deref())
                .value
                .map(|date| date.format("%Y-%m-%d").to_compact_string()),
            Gender::parse_legacy(r[5].as_deref()).map(|gender| gender.as_str().to_compact_string()),
            trim(&r[6]),
            r[7].clone(),
        ]
    });
    add(LegacyEntity::Users, &tables.users, &|id, r| {
        let (hash, reset) = match Credential::from_legacy(r[2].as_deref()).value {
            Credential::Bcrypt(hash) => (Some(hash), false),
            Credential::ResetRequired => (None, true),
        };
        row![
            reference(&r[3], &persons),
            oracle.final_logins.get(&id).cloned(),
            oracle.final_emails.get(&id).cloned().flatten(),
            hash,
            Some(boolean(reset)),
            Some(
                Role::from_legacy(r[4].as_deref().unwrap_or_default())
                    .value
                    .as_str()
                    .to_compact_string(),
            ),
            Some(boolean(r[5].as_deref() != Some("f"))),
            r[6].clone(),
            r[7].clone(),
        ]
    });
    add(LegacyEntity::Groups, &tables.groups, &|id, r| {
        row![
            reference(&r[1], &organizations),
            Some(required_name(r[0].as_deref(), "Group", id).value),
            int(&r[2]).map(|year| year.to_compact_string()),
            reference(&r[3], &teachers),
            trim(&r[4]),
        ]
    });
    add(LegacyEntity::Subjects, &tables.subjects, &|id, r| {
        row![
            reference(&r[2], &organizations),
            Some(required_name(r[0].as_deref(), "Subject", id).value),
            trim(&r[3]),
            CREDITS_COLUMN
                .accept(r[1].as_deref())
                .value
                .map(|credits| decimal(credits, CREDITS_COLUMN.scale)),
        ]
    });
    add(LegacyEntity::Students, &tables.students, &|id, r| {
        row![
            reference(&r[1], &persons),
            account(&r[0], &users, "students", id),
            reference(&r[2], &organizations),
            reference(&r[4], &groups),
            int(&r[5]).map(|year| year.to_compact_string()),
            Some(
                StudentStatus::from_legacy(r[3].as_deref())
                    .value
                    .as_str()
                    .to_compact_string(),
            ),
            trim(&r[6]),
        ]
    });
    add(LegacyEntity::Teachers, &tables.teachers, &|id, r| {
        row![
            reference(&r[1], &persons),
            account(&r[0], &users, "teachers", id),
            reference(&r[2], &organizations),
            trim(&r[3]),
            r[4].clone(),
            r[5].clone(),
        ]
    });
    add(LegacyEntity::Journal, &tables.journal, &|_, r| {
        let term = CourseTerm::from_legacy(r[3].as_deref(), int(&r[4])).ok();
        let grade = parse_mark(r[6].as_deref()).map(|grade| grade.value);
        let normalized = grade.as_ref().and_then(|grade| grade.normalized.as_ref());
        row![
            survivor(&r[0]),
            reference(&r[1], &subjects),
            reference(&r[2], &groups),
            term.as_ref().map(|term| term.academic_year.clone()),
            term.as_ref().map(|term| term.semester.to_compact_string()),
            reference(&r[7], &teachers),
            Some(
                EnrollmentStatus::from_legacy(r[5].as_deref())
                    .value
                    .as_str()
                    .to_compact_string(),
            ),
            trim(&r[8]),
            grade.as_ref().map(|grade| grade.raw.clone()),
            normalized.map(|mark| mark.scale.as_str().to_compact_string()),
            normalized.map(|mark| mark.value.clone()),
            normalized
                .and_then(|mark| mark.points)
                .map(|points| points.to_compact_string()),
        ]
    });
    add(LegacyEntity::Exams, &tables.exams, &|id, r| {
        row![
            reference(&r[0], &subjects),
            reference(&r[3], &groups),
            reference(&r[4], &teachers),
            Some(required_name(r[1].as_deref(), "Exam", id).value),
            trim(&r[5]).map(|kind| lower(&kind)),
            r[6].clone(),
            Some(decimal(number::max_score(r[2].as_deref()).value, 2)),
        ]
    });
    let exam_maxima: HashMap<i64, Option<FieldText>> = tables
        .exams
        .iter()
        .filter(|(id, _)| exams.contains(id))
        .map(|(id, row)| (*id, row[2].clone()))
        .collect();
    add(LegacyEntity::ExamResults, &tables.exam_results, &|_, r| {
        let max_raw = int(&r[0])
            .and_then(|exam| exam_maxima.get(&exam))
            .cloned()
            .flatten();
        let max = number::max_score(max_raw.as_deref()).value;
        let (answers, answers_raw) = match parse_answers(r[5].as_deref()).map(|parsed| parsed.value)
        {
            Some(Answers::Json(text)) => (json(&text), None),
            Some(Answers::Raw(text)) => (None, Some(text)),
            None => (None, None),
        };
        row![
            reference(&r[0], &exams),
            survivor(&r[1]),
            number::score(r[2].as_deref(), max)
                .value
                .map(|score| decimal(score, number::SCORE_COLUMN.scale)),
            r[6].clone(),
            Some(
                SubmissionStatus::from_legacy(r[4].as_deref())
                    .value
                    .as_str()
                    .to_compact_string(),
            ),
            answers,
            answers_raw,
        ]
    });
    expected
}
