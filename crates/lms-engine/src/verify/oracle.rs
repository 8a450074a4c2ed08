//! An independent reading of DATA.md: what every legacy row must become,
//! computed row by row in plain Rust over the whole legacy database. The
//! engine computes the same in set-based SQL over chunks; tests compare the
//! two, row for row.
//!
//! Value parsing (dates, emails, marks...) reuses lms-domain, whose unit
//! tests pin it to the contract; everything that involves other rows is
//! written here from the contract's text alone. `lmsctl migrate verify`
//! builds on it (the one sanctioned second implementation of the
//! contract): it never reads the engine's staging or takes its ledger's
//! word for an outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use lms_domain::account::{Credential, Email, Login, Role};
use lms_domain::answers::parse_answers;
use lms_domain::course::CourseTerm;
use lms_domain::mark::parse_mark;
use lms_domain::number::{self, CREDITS_COLUMN};
use lms_domain::person::parse_birth_date;
use lms_domain::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};
use lms_domain::text::clean_opt;
use lms_domain::{LegacyEntity, Outcome, RejectReason};
use sqlx::PgPool;

use super::canonical::FieldText;
use super::legacy_tables::LegacyTables;
use super::timestamp_order::{TimestampOrder, timestamp_order};
use crate::error::EngineError;

/// What the contract says one legacy row becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub outcome: Outcome,
    pub reason: Option<RejectReason>,
    pub survivor: Option<i64>,
    pub warnings: Vec<String>,
}

impl Expected {
    fn migrated(warnings: BTreeSet<&'static str>) -> Self {
        Expected {
            outcome: Outcome::Migrated,
            reason: None,
            survivor: None,
            warnings: warnings.into_iter().map(str::to_owned).collect(),
        }
    }

    fn merged(survivor: i64) -> Self {
        Expected {
            outcome: Outcome::Merged,
            reason: None,
            survivor: Some(survivor),
            warnings: Vec::new(),
        }
    }

    fn rejected(reason: RejectReason) -> Self {
        Expected {
            outcome: Outcome::Rejected,
            reason: Some(reason),
            survivor: None,
            warnings: Vec::new(),
        }
    }
}

/// Every legacy row's expected outcome, plus derived-row counts.
#[derive(Debug, Default)]
pub struct Oracle {
    pub rows: BTreeMap<(LegacyEntity, i64), Expected>,
    /// Each student that is not rejected: the legacy id of its survivor
    /// (itself when it survives).
    pub student_survivor: HashMap<i64, i64>,
    pub courses: usize,
    pub grades: usize,
    pub final_logins: HashMap<i64, String>,
    pub final_emails: HashMap<i64, Option<String>>,
}

type Fields = Vec<Option<FieldText>>;

/// One exam result of a student: when it was submitted (as legacy holds
/// it), and its id.
type Attempt = (Option<TimestampOrder>, i64);

fn int(value: &Option<FieldText>) -> Option<i64> {
    value.as_deref().and_then(|text| text.parse().ok())
}

/// Whether `id`'s parent link closes a ring of parents that is broken
/// here, at the ring's lowest id (docs/contract.md): walking up from `id`
/// comes back to it, through no lower id.
fn breaks_ring(parents: &HashMap<i64, i64>, id: i64) -> bool {
    let mut seen = HashSet::new();
    let mut at = parents.get(&id).copied();
    while let Some(node) = at {
        if node == id {
            return true;
        }
        if node < id || !seen.insert(node) {
            return false;
        }
        at = parents.get(&node).copied();
    }
    false
}

fn blank(value: &Option<FieldText>) -> bool {
    clean_opt(value.as_deref()).is_none()
}

impl Oracle {
    /// Reads the legacy database (timestamps in UTC) and computes.
    pub async fn compute(legacy: &PgPool) -> Result<Oracle, EngineError> {
        Ok(Oracle::over(&LegacyTables::load(legacy, "UTC").await?))
    }

    /// Every legacy row's expected outcome.
    pub fn over(tables: &LegacyTables) -> Oracle {
        let mut oracle = Oracle::default();
        let LegacyTables {
            organizations,
            persons,
            users,
            groups,
            subjects,
            students,
            teachers,
            journal,
            exams,
            exam_results: results,
        } = tables;

        let ids =
            |rows: &[(i64, Fields)]| -> HashSet<i64> { rows.iter().map(|(id, _)| *id).collect() };
        let organization_ids = ids(organizations);
        let person_ids = ids(persons);
        let user_ids = ids(users);
        let group_ids = ids(groups);
        let subject_ids = ids(subjects);

        let parents: HashMap<i64, i64> = organizations
            .iter()
            .filter_map(|(id, row)| int(&row[0]).map(|parent| (*id, parent)))
            .collect();
        for (id, row) in organizations {
            let mut warnings = BTreeSet::new();
            let missing = int(&row[0]).is_some_and(|parent| !organization_ids.contains(&parent));
            if missing || breaks_ring(&parents, *id) {
                warnings.insert("dangling_parent");
            }
            if blank(&row[1]) {
                warnings.insert("name_missing");
            }
            oracle.rows.insert(
                (LegacyEntity::Organizations, *id),
                Expected::migrated(warnings),
            );
        }
        for (id, row) in persons {
            let mut warnings = BTreeSet::new();
            if parse_birth_date(row[0].as_deref()).warning.is_some() {
                warnings.insert("unparseable_birth_date");
            }
            oracle
                .rows
                .insert((LegacyEntity::Persons, *id), Expected::migrated(warnings));
        }
        oracle.users(users, &person_ids);
        for (table, rows) in [
            (LegacyEntity::Groups, groups),
            (LegacyEntity::Subjects, subjects),
        ] {
            for (id, row) in rows {
                let mut warnings = if blank(&row[0]) {
                    BTreeSet::from(["name_missing"])
                } else {
                    BTreeSet::new()
                };
                if table == LegacyEntity::Subjects
                    && let Some(code) = CREDITS_COLUMN.accept(row[1].as_deref()).warning
                {
                    warnings.insert(code.as_str());
                }
                oracle
                    .rows
                    .insert((table, *id), Expected::migrated(warnings));
            }
        }

        // Students: orphans rejected; (person, organization) duplicates merged
        // into the lowest id; survivors without a user get one provisioned.
        let mut student_survivor: HashMap<i64, i64> = HashMap::with_capacity(students.len());
        let mut by_key: BTreeMap<(i64, Option<i64>), i64> = BTreeMap::new();
        for (id, row) in students {
            let Some(person) = int(&row[1]).filter(|person| person_ids.contains(person)) else {
                oracle.rows.insert(
                    (LegacyEntity::Students, *id),
                    Expected::rejected(RejectReason::OrphanReference),
                );
                continue;
            };
            let survivor = *by_key.entry((person, int(&row[2]))).or_insert(*id);
            student_survivor.insert(*id, survivor);
            if survivor == *id {
                let mut warnings = BTreeSet::new();
                if StudentStatus::from_legacy(row[3].as_deref())
                    .warning
                    .is_some()
                {
                    warnings.insert("unknown_status");
                }
                if !int(&row[0]).is_some_and(|user| user_ids.contains(&user)) {
                    warnings.insert("user_provisioned");
                }
                oracle
                    .rows
                    .insert((LegacyEntity::Students, *id), Expected::migrated(warnings));
            } else {
                oracle
                    .rows
                    .insert((LegacyEntity::Students, *id), Expected::merged(survivor));
            }
        }
        for (id, row) in teachers {
            if !int(&row[1]).is_some_and(|person| person_ids.contains(&person)) {
                oracle.rows.insert(
                    (LegacyEntity::Teachers, *id),
                    Expected::rejected(RejectReason::OrphanReference),
                );
                continue;
            }
            let mut warnings = BTreeSet::new();
            if !int(&row[0]).is_some_and(|user| user_ids.contains(&user)) {
                warnings.insert("user_provisioned");
            }
            oracle
                .rows
                .insert((LegacyEntity::Teachers, *id), Expected::migrated(warnings));
        }

        // Journal.
        let mut enrollment_keys: HashMap<(i64, i64, Option<i64>, String, i64), i64> =
            HashMap::with_capacity(journal.len());
        let mut offerings: HashSet<(i64, Option<i64>, String, i64)> = HashSet::new();
        for (id, row) in journal {
            let student = int(&row[0]).and_then(|student| student_survivor.get(&student).copied());
            let subject = int(&row[1]).filter(|subject| subject_ids.contains(subject));
            let (Some(student), Some(subject)) = (student, subject) else {
                oracle.rows.insert(
                    (LegacyEntity::Journal, *id),
                    Expected::rejected(RejectReason::OrphanReference),
                );
                continue;
            };
            let Ok(term) = CourseTerm::from_legacy(row[3].as_deref(), int(&row[4])) else {
                oracle.rows.insert(
                    (LegacyEntity::Journal, *id),
                    Expected::rejected(RejectReason::InvalidValue),
                );
                continue;
            };
            let (year, semester) = (term.academic_year, i64::from(term.semester));
            let group = int(&row[2]).filter(|group| group_ids.contains(group));
            offerings.insert((subject, group, year.clone(), semester));
            let survivor = *enrollment_keys
                .entry((student, subject, group, year, semester))
                .or_insert(*id);
            if survivor != *id {
                oracle
                    .rows
                    .insert((LegacyEntity::Journal, *id), Expected::merged(survivor));
                continue;
            }
            let mut warnings = BTreeSet::new();
            if EnrollmentStatus::from_legacy(row[5].as_deref())
                .warning
                .is_some()
            {
                warnings.insert("unknown_status");
            }
            if let Some(grade) = parse_mark(row[6].as_deref()) {
                oracle.grades += 1;
                if grade.warning.is_some() {
                    warnings.insert("unparseable_mark");
                }
            }
            oracle
                .rows
                .insert((LegacyEntity::Journal, *id), Expected::migrated(warnings));
        }
        oracle.courses = offerings.len();

        // Exams and results.
        // The exams' raw maxima; the rule reads them.
        let mut exam_max: HashMap<i64, Option<FieldText>> = HashMap::new();
        for (id, row) in exams {
            if !int(&row[0]).is_some_and(|subject| subject_ids.contains(&subject)) {
                oracle.rows.insert(
                    (LegacyEntity::Exams, *id),
                    Expected::rejected(RejectReason::OrphanReference),
                );
                continue;
            }
            let max = number::max_score(row[2].as_deref());
            exam_max.insert(*id, row[2].clone());
            let mut warnings = if blank(&row[1]) {
                BTreeSet::from(["name_missing"])
            } else {
                BTreeSet::new()
            };
            if let Some(code) = max.warning {
                warnings.insert(code.as_str());
            }
            oracle
                .rows
                .insert((LegacyEntity::Exams, *id), Expected::migrated(warnings));
        }
        let mut attempts: BTreeMap<(i64, i64), Vec<Attempt>> = BTreeMap::new();
        for (id, row) in results {
            let exam = int(&row[0]).filter(|exam| exam_max.contains_key(exam));
            let student = int(&row[1]).and_then(|student| student_survivor.get(&student).copied());
            match (exam, student) {
                (Some(exam), Some(student)) => {
                    // The latest as legacy orders it: the infinities and
                    // years the LMS cannot store included.
                    let submitted = row[3].as_deref().and_then(timestamp_order);
                    attempts
                        .entry((exam, student))
                        .or_default()
                        .push((submitted, *id));
                }
                _ => {
                    oracle.rows.insert(
                        (LegacyEntity::ExamResults, *id),
                        Expected::rejected(RejectReason::OrphanReference),
                    );
                }
            }
        }
        let results_by_id: HashMap<i64, &Fields> =
            results.iter().map(|(id, row)| (*id, row)).collect();
        for ((exam, _), mut tries) in attempts {
            // The latest submitted_at survives, NULLs last, then the highest id.
            tries.sort_by(|a, b| match (&a.0, &b.0) {
                (Some(x), Some(y)) => y.cmp(x).then(b.1.cmp(&a.1)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => b.1.cmp(&a.1),
            });
            let survivor = tries[0].1;
            for (_, id) in &tries[1..] {
                oracle
                    .rows
                    .insert((LegacyEntity::ExamResults, *id), Expected::merged(survivor));
            }
            let row = results_by_id[&survivor];
            let mut warnings = BTreeSet::new();
            if SubmissionStatus::from_legacy(row[4].as_deref())
                .warning
                .is_some()
            {
                warnings.insert("unknown_status");
            }
            if parse_answers(row[5].as_deref()).is_some_and(|answers| answers.warning.is_some()) {
                warnings.insert("invalid_answers_json");
            }
            let max = number::max_score(exam_max[&exam].as_deref()).value;
            if let Some(code) = number::score(row[2].as_deref(), max).warning {
                warnings.insert(code.as_str());
            }
            oracle.rows.insert(
                (LegacyEntity::ExamResults, survivor),
                Expected::migrated(warnings),
            );
        }
        oracle.student_survivor = student_survivor;
        oracle
    }

    /// Users: renamed logins (legacy logins before placeholders, then the
    /// lowest id keeps; `<login>.<id>` otherwise, again while it collides),
    /// duplicate and invalid emails, the rest row by row.
    fn users(&mut self, users: &[(i64, Fields)], person_ids: &HashSet<i64>) {
        let mut logins: BTreeMap<i64, (String, String)> = BTreeMap::new();
        let mut placeholders: HashSet<i64> = HashSet::new();
        let mut warnings: BTreeMap<i64, BTreeSet<&'static str>> = BTreeMap::new();
        for (id, row) in users {
            let entry = warnings.entry(*id).or_default();
            let login =
                Login::from_legacy(row[0].as_deref().unwrap_or_default()).unwrap_or_else(|| {
                    entry.insert("login_renamed");
                    placeholders.insert(*id);
                    Login::provisioned("user", *id)
                });
            logins.insert(*id, (login.as_str().to_owned(), login.key()));
            if Email::from_legacy(row[1].as_deref()).warning.is_some() {
                entry.insert("email_invalid");
            }
            if Credential::from_legacy(row[2].as_deref()).warning.is_some() {
                entry.insert("password_reset_required");
            }
            if int(&row[3]).is_some_and(|person| !person_ids.contains(&person)) {
                entry.insert("dangling_person");
            }
            if Role::from_legacy(row[4].as_deref().unwrap_or_default())
                .warning
                .is_some()
            {
                entry.insert("unknown_role");
            }
        }
        // Legacy logins first, then placeholders; each by id.
        let mut by_precedence: Vec<(bool, i64, &String)> = logins
            .iter()
            .map(|(id, (_, key))| (placeholders.contains(id), *id, key))
            .collect();
        by_precedence.sort_unstable();
        let mut keepers: HashMap<String, i64> = HashMap::new();
        for (_, id, key) in by_precedence {
            keepers.entry(key.clone()).or_insert(id);
        }
        let mut taken: HashSet<String> = keepers.keys().cloned().collect();
        for (id, (login, key)) in &logins {
            if keepers[key] == *id {
                self.final_logins.insert(*id, login.clone());
                continue;
            }
            warnings.entry(*id).or_default().insert("login_renamed");
            let (mut final_login, mut final_key) = (format!("{login}.{id}"), format!("{key}.{id}"));
            while taken.contains(&final_key) {
                final_login = format!("{final_login}.{id}");
                final_key = format!("{final_key}.{id}");
            }
            taken.insert(final_key);
            self.final_logins.insert(*id, final_login);
        }
        let mut email_keepers: HashMap<String, i64> = HashMap::new();
        for (id, row) in users {
            let email = Email::from_legacy(row[1].as_deref())
                .value
                .map(|email| email.as_str().to_owned());
            let final_email = match email {
                Some(email) if *email_keepers.entry(email.clone()).or_insert(*id) == *id => {
                    Some(email)
                }
                Some(_) => {
                    warnings.entry(*id).or_default().insert("email_duplicate");
                    None
                }
                None => None,
            };
            self.final_emails.insert(*id, final_email);
        }
        for (id, warnings) in warnings {
            self.rows
                .insert((LegacyEntity::Users, id), Expected::migrated(warnings));
        }
    }
}
