//! The id map: which legacy rows the LMS has rows for, under which LMS ids.
//!
//! It is a snapshot of the LMS side of the migration, loaded while an LMS
//! database answers ([`super::load`]) and replaced whole. The seed scale has
//! about 600,000 ledger rows, so each table's ids are kept as sorted pairs
//! searched in halves rather than as hash maps.

use std::collections::HashMap;
use std::fmt;

use lms_domain::model::User;

/// `(key, value)` pairs sorted by key (then value), for binary search.
#[derive(Default)]
pub(super) struct Pairs(Vec<(i64, i64)>);

impl Pairs {
    pub fn new(mut pairs: Vec<(i64, i64)>) -> Pairs {
        pairs.sort_unstable();
        pairs.dedup();
        Pairs(pairs)
    }

    /// The first value under `key`.
    pub fn get(&self, key: i64) -> Option<i64> {
        self.all(key).next()
    }

    /// Every value under `key`, in order.
    pub fn all(&self, key: i64) -> impl Iterator<Item = i64> + '_ {
        let start = self.0.partition_point(|(k, _)| *k < key);
        self.0[start..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|(_, value)| *value)
    }

    /// The same pairs with keys and values swapped.
    pub fn swapped(&self) -> Pairs {
        Pairs::new(self.0.iter().map(|(k, v)| (*v, *k)).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Legacy ids and LMS ids of one kind of row, both ways.
#[derive(Default)]
pub(super) struct Links {
    to_lms: Pairs,
    to_legacy: Pairs,
}

impl Links {
    /// From `(legacy id, LMS id)` pairs.
    pub fn new(pairs: Vec<(i64, i64)>) -> Links {
        let to_lms = Pairs::new(pairs);
        let to_legacy = to_lms.swapped();
        Links { to_lms, to_legacy }
    }

    pub fn lms_id(&self, legacy_id: i64) -> Option<i64> {
        self.to_lms.get(legacy_id)
    }

    pub fn legacy_id(&self, lms_id: i64) -> Option<i64> {
        self.to_legacy.get(lms_id)
    }

    /// Every legacy id linked to `lms_id`.
    pub fn legacy_ids(&self, lms_id: i64) -> impl Iterator<Item = i64> + '_ {
        self.to_legacy.all(lms_id)
    }

    pub fn len(&self) -> usize {
        self.to_lms.len()
    }
}

/// One legacy table's live ledger rows that have an LMS row.
#[derive(Default)]
pub(super) struct Outcomes {
    /// Rows that became LMS rows of their own: the rows served.
    pub migrated: Links,
    /// Rows merged into a survivor, linked to the survivor's LMS row.
    pub merged: Links,
}

impl Outcomes {
    /// The LMS row a reference to `legacy_id` means: the row's own, or its
    /// survivor's when it was merged (the contract attaches a merged
    /// student's journal rows and results to the survivor).
    pub fn reference(&self, legacy_id: i64) -> Option<i64> {
        self.migrated
            .lms_id(legacy_id)
            .or_else(|| self.merged.lms_id(legacy_id))
    }

    /// The legacy ids whose references mean `lms_id`: the survivor itself
    /// and every row merged into it.
    pub fn referring(&self, lms_id: i64) -> Vec<i64> {
        self.migrated
            .legacy_ids(lms_id)
            .chain(self.merged.legacy_ids(lms_id))
            .collect()
    }
}

/// An LMS course, by the offering key the engine derives from journal rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CourseEntry {
    pub id: i64,
    pub subject_id: i64,
    pub group_id: Option<i64>,
    pub academic_year: String,
    pub semester: i16,
    pub derived_from_legacy: bool,
}

impl CourseEntry {
    /// The engine matches journal rows to courses with a NULL group as 0.
    fn key(&self) -> (i64, i64, i16, &str) {
        (
            self.subject_id,
            self.group_id.unwrap_or(0),
            self.semester,
            &self.academic_year,
        )
    }
}

/// The LMS courses, by id and by offering key.
#[derive(Default)]
pub(super) struct Courses {
    by_id: Vec<CourseEntry>,
    /// Indexes into `by_id`, in key order.
    by_key: Vec<usize>,
}

impl Courses {
    pub fn new(mut entries: Vec<CourseEntry>) -> Courses {
        entries.sort_unstable_by_key(|entry| entry.id);
        let mut by_key: Vec<usize> = (0..entries.len()).collect();
        by_key.sort_unstable_by(|a, b| entries[*a].key().cmp(&entries[*b].key()));
        Courses {
            by_id: entries,
            by_key,
        }
    }

    pub fn get(&self, id: i64) -> Option<&CourseEntry> {
        self.by_id
            .binary_search_by_key(&id, |entry| entry.id)
            .ok()
            .map(|index| &self.by_id[index])
    }

    /// The course of an offering key, as the engine's apply phase finds it.
    pub fn find(
        &self,
        subject_id: i64,
        group_id: Option<i64>,
        academic_year: &str,
        semester: i16,
    ) -> Option<i64> {
        let wanted = (subject_id, group_id.unwrap_or(0), semester, academic_year);
        self.by_key
            .binary_search_by(|index| self.by_id[*index].key().cmp(&wanted))
            .ok()
            .map(|found| self.by_id[self.by_key[found]].id)
    }

    /// The courses with ids above `after`, in id order.
    pub fn after(&self, after: Option<i64>) -> &[CourseEntry] {
        let start = match after {
            Some(after) => self.by_id.partition_point(|entry| entry.id <= after),
            None => 0,
        };
        &self.by_id[start..]
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// Accounts the migration provisioned for students and teachers without a
/// usable login. They have no legacy row, so the map keeps them whole.
#[derive(Default)]
pub(super) struct Provisioned {
    /// In id order.
    pub users: Vec<User>,
    /// Student legacy id → the account provisioned for that student.
    pub for_students: Pairs,
}

impl Provisioned {
    pub fn get(&self, id: i64) -> Option<&User> {
        self.users
            .binary_search_by_key(&id, |user| user.id.0)
            .ok()
            .map(|index| &self.users[index])
    }
}

/// A migrated user's login and email as the migration settled them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Account {
    pub login: String,
    pub email: Option<String>,
}

/// The settled logins and emails of every migrated legacy user, by legacy
/// id. Uniqueness (renamed logins, dropped duplicate emails) is a rule over
/// the whole users table at the time of the run; recomputing it from the
/// legacy table as it is now would rename an unchanged user because
/// another row changed, so the snapshot is what is served.
#[derive(Default)]
pub(super) struct Accounts(HashMap<i64, Account>);

impl Accounts {
    pub fn new(accounts: impl IntoIterator<Item = (i64, Account)>) -> Accounts {
        Accounts(accounts.into_iter().collect())
    }

    pub fn get(&self, legacy_id: i64) -> Option<&Account> {
        self.0.get(&legacy_id)
    }
}

/// The migration run whose outcome a map reflects: its id and when it
/// finished (microseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunVersion {
    pub run_id: String,
    pub finished_micros: i64,
}

/// Everything a degraded read needs to know about the LMS side.
#[derive(Default)]
pub(super) struct IdMap {
    /// `None` when no run has finished yet.
    pub version: Option<RunVersion>,
    pub organizations: Outcomes,
    /// Every LMS organization with a legacy id, flagged or not: the engine
    /// links a parent by legacy id whatever the parent's state.
    pub organization_rows: Pairs,
    pub persons: Outcomes,
    pub users: Outcomes,
    pub groups: Outcomes,
    pub subjects: Outcomes,
    pub students: Outcomes,
    pub teachers: Outcomes,
    pub journal: Outcomes,
    pub exams: Outcomes,
    pub exam_results: Outcomes,
    /// Journal legacy id ↔ the live grade of its `mark_final`.
    pub grades: Links,
    pub courses: Courses,
    pub provisioned: Provisioned,
    pub accounts: Accounts,
}

/// A summary: the map itself is far too large to print.
impl fmt::Debug for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdMap")
            .field("version", &self.version)
            .field("organizations", &self.organizations.migrated.len())
            .field("persons", &self.persons.migrated.len())
            .field("users", &self.users.migrated.len())
            .field("students", &self.students.migrated.len())
            .field("enrollments", &self.journal.migrated.len())
            .field("grades", &self.grades.len())
            .field("submissions", &self.exam_results.migrated.len())
            .field("courses", &self.courses.len())
            .field("provisioned", &self.provisioned.users.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_find_every_value_of_a_key() {
        let pairs = Pairs::new(vec![(5, 50), (1, 10), (5, 51), (3, 30), (5, 50)]);
        assert_eq!(pairs.get(5), Some(50));
        assert_eq!(pairs.all(5).collect::<Vec<_>>(), vec![50, 51]);
        assert_eq!(pairs.get(2), None);
        assert_eq!(pairs.get(i64::MAX), None);
        assert_eq!(pairs.swapped().get(30), Some(3));
    }

    #[test]
    fn merged_rows_refer_to_their_survivor() {
        let outcomes = Outcomes {
            migrated: Links::new(vec![(1, 100), (2, 200)]),
            merged: Links::new(vec![(7, 100), (9, 100)]),
        };
        assert_eq!(outcomes.reference(7), Some(100));
        assert_eq!(outcomes.reference(2), Some(200));
        assert_eq!(outcomes.reference(3), None);
        assert_eq!(outcomes.referring(100), vec![1, 7, 9]);
        assert_eq!(outcomes.migrated.legacy_id(100), Some(1));
    }

    #[test]
    fn courses_are_found_by_key_with_a_null_group_of_its_own() {
        let course = |id, group_id: Option<i64>, year: &str| CourseEntry {
            id,
            subject_id: 4,
            group_id,
            academic_year: year.to_owned(),
            semester: 1,
            derived_from_legacy: true,
        };
        let courses = Courses::new(vec![
            course(12, Some(3), "2023-2024"),
            course(10, None, "2023-2024"),
            course(11, Some(3), "2022-2023"),
        ]);
        assert_eq!(courses.find(4, None, "2023-2024", 1), Some(10));
        assert_eq!(courses.find(4, Some(3), "2023-2024", 1), Some(12));
        assert_eq!(courses.find(4, Some(3), "2023-2024", 2), None);
        assert_eq!(
            courses.get(11).map(|c| c.academic_year.as_str()),
            Some("2022-2023")
        );
        let ids: Vec<i64> = courses.after(Some(10)).iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![11, 12]);
    }
}
