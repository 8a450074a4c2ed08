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

/// What the contract makes of one legacy row (its id and columns).
type Canonical<'a> = dyn Fn(i64, &[Option<FieldText>]) -> CanonicalRow + Sync + 'a;

/// Past how many rows a table's canonical rows are built on two threads.
const PARALLEL_ROWS: usize = 50_000;

/// One table's canonical rows, of the legacy rows that migrate. A large
/// table (the journal) is built in two halves on two threads: its rows are
/// independent of each other once the oracle has decided.
fn canonical_rows(
    entity: LegacyEntity,
    rows: &Rows,
    migrating: &Migrating<'_>,
    canonical: &Canonical<'_>,
) -> BTreeMap<i64, CanonicalRow> {
    let build = |part: &[(i64, Vec<Option<FieldText>>)]| -> Vec<(i64, CanonicalRow)> {
        part.iter()
            .filter(|(id, _)| migrating.migrates(entity, *id))
            .map(|(id, row)| (*id, canonical(*id, row)))
            .collect()
    };
    if rows.len() < PARALLEL_ROWS {
        return build(rows).into_iter().collect();
    }
    let (first, second) = rows.split_at(rows.len() / 2);
    let (mut built, rest) = std::thread::scope(|scope| {
        let second = scope.spawn(|| build(second));
        let first = build(first);
        // A panic on the other half (a bug) is the caller's, as on this one.
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    });
    built.extend(rest);
    built.into_iter().collect()
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
    let mut add = |entity: LegacyEntity, rows: &Rows, canonical: &Canonical<'_>| {
        expected.insert(entity, canonical_rows(entity, rows, &migrating, canonical));
    };

    add(
        LegacyEntity::Organizations,
        &tables.organizations,
        &|id, r| {
            // A parent the oracle found dangling (none, or a ring broken
            // here) is NULL.
            let dangles = oracle
                .rows
                .get(&(LegacyEntity::Organizations, id))
                .is_some_and(|row| row.warnings.iter().any(|code| code == "dangling_parent"));
            row![
                reference(&r[0], &organizations).filter(|_| !dangles),
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

#[cfg(test)]
mod tests {
    use compact_str::ToCompactString as _;
    use lms_domain::{LegacyEntity, Outcome};

    use super::{FieldText, Migrating, PARALLEL_ROWS, Rows, canonical_rows};
    use crate::verify::oracle::{Expected, Oracle};

    /// An oracle under which the even ids of `rows` migrate.
    fn evens_migrate(rows: &Rows) -> Oracle {
        let mut oracle = Oracle::default();
        for (id, _) in rows {
            let outcome = if id % 2 == 0 {
                Outcome::Migrated
            } else {
                Outcome::Rejected
            };
            oracle.rows.insert(
                (LegacyEntity::Journal, *id),
                Expected {
                    outcome,
                    reason: None,
                    survivor: None,
                    warnings: Vec::new(),
                },
            );
        }
        oracle
    }

    fn canonical_of(rows: usize) -> Vec<(i64, Vec<Option<FieldText>>)> {
        let rows: Rows = (0..i64::try_from(rows).unwrap_or(i64::MAX))
            .map(|id| (id, vec![Some(FieldText::from(format!("row {id}")))]))
            .collect();
        let oracle = evens_migrate(&rows);
        let migrating = Migrating { oracle: &oracle };
        let doubled =
            |id: i64, row: &[Option<FieldText>]| vec![row[0].clone(), Some(id.to_compact_string())];
        canonical_rows(LegacyEntity::Journal, &rows, &migrating, &doubled)
            .into_iter()
            .collect()
    }

    #[test]
    fn a_large_table_built_on_two_threads_has_every_migrating_row_once_in_order() {
        let rows = PARALLEL_ROWS * 2 + 1;
        let built = canonical_of(rows);
        assert_eq!(built.len(), rows.div_ceil(2));
        for (index, (id, row)) in built.iter().enumerate() {
            let want = i64::try_from(index * 2).unwrap_or(i64::MAX);
            assert_eq!(*id, want);
            assert_eq!(
                row,
                &vec![
                    Some(FieldText::from(format!("row {want}"))),
                    Some(want.to_compact_string())
                ]
            );
        }
    }

    #[test]
    fn a_small_table_is_built_the_same_way() {
        let built = canonical_of(5);
        let ids: Vec<i64> = built.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [0, 2, 4]);
    }
}
