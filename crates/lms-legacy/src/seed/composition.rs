//! How each table's rows divide into clean rows and each kind of dirt.
//!
//! Shares are per mille of the table and at least one row, so that even the
//! small scale has every kind. At seed scale the splits reproduce what the
//! analysis report saw: 74 teachers without a usable login, 114 users with
//! duplicate or invalid email, and so on.

use super::volumes::{Volumes, share};

/// The split of every table, derived from its volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    /// Students who sit in a group and have journal rows (orphans included).
    pub group_members: usize,
    /// Group members whose person points nowhere (rejected).
    pub orphan_students: usize,
    /// Later re-imported copies of a student: same person and organization.
    pub duplicate_students: usize,
    /// Students enrolled a second time, in another organization.
    pub second_org_students: usize,
    /// Group members without a login (user_id NULL).
    pub students_without_user: usize,
    /// Group members whose user_id points nowhere.
    pub students_dangling_user: usize,
    /// Group members pointing at another student's user.
    pub students_sharing_user: usize,
    /// Teachers with persons of their own.
    pub base_teachers: usize,
    /// Teachers whose person is also a student's person.
    pub teachers_sharing_person: usize,
    /// Teachers whose person points nowhere (rejected).
    pub orphan_teachers: usize,
    /// Teachers who never had a login (user_id NULL).
    pub teachers_without_user: usize,
    /// Teachers whose user_id points nowhere.
    pub teachers_dangling_user: usize,
    /// Persons used by non-student, non-teacher users.
    pub other_user_persons: usize,
    /// Persons nobody references.
    pub unreferenced_persons: usize,
    /// Duplicate students with an account of their own (a login collision).
    pub duplicate_accounts: usize,
    /// Second-organization students with an account of their own.
    pub second_org_accounts: usize,
    /// Users that are not a student's or a teacher's: admins, parents, ...
    pub other_users: usize,
}

/// Why a volume set cannot be split (a floor in [`Volumes::at`] is too low).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("volumes too small to hold every kind of dirt: {0}")]
pub struct TooSmall(pub &'static str);

impl Composition {
    pub fn of(volumes: &Volumes) -> Result<Composition, TooSmall> {
        let students = volumes.students;
        let orphan_students = share(students, 12.0);
        let duplicate_students = share(students, 32.0);
        let second_org_students = share(students, 8.0);
        let group_members = students
            .checked_sub(duplicate_students + second_org_students)
            .ok_or(TooSmall("students"))?;
        let teachers = volumes.teachers;
        let orphan_teachers = share(teachers, 14.0);
        let teachers_sharing_person = share(teachers, 40.0);
        let base_teachers = teachers
            .checked_sub(orphan_teachers + teachers_sharing_person)
            .ok_or(TooSmall("teachers"))?;
        // 74 of the report's 424 teachers had no usable login.
        let without_login = share(teachers, 74.0 * 1000.0 / 424.0);
        let teachers_dangling_user = share(teachers, 33.0)
            .min(without_login.saturating_sub(1))
            .max(1);
        let teachers_without_user = without_login.saturating_sub(teachers_dangling_user).max(1);

        let student_persons = group_members - orphan_students;
        let others = volumes
            .persons
            .checked_sub(student_persons + base_teachers)
            .filter(|others| *others >= 4)
            .ok_or(TooSmall("persons"))?;
        let unreferenced_persons = (others * 2 / 5).max(1);
        let other_user_persons = others - unreferenced_persons;

        let students_without_user = share(group_members, 20.0);
        let students_dangling_user = share(group_members, 5.0);
        let students_sharing_user = share(group_members, 2.5);
        let duplicate_accounts = (duplicate_students * 2 / 5).max(1);
        let second_org_accounts = (second_org_students * 2 / 5).max(1);
        let teacher_users = teachers - teachers_without_user - teachers_dangling_user;
        let student_users =
            group_members - students_without_user - students_dangling_user - students_sharing_user
                + duplicate_accounts
                + second_org_accounts;
        let other_users = volumes
            .users
            .checked_sub(teacher_users + student_users)
            .filter(|others| *others >= 12)
            .ok_or(TooSmall("users"))?;
        Ok(Composition {
            group_members,
            orphan_students,
            duplicate_students,
            second_org_students,
            students_without_user,
            students_dangling_user,
            students_sharing_user,
            base_teachers,
            teachers_sharing_person,
            orphan_teachers,
            teachers_without_user,
            teachers_dangling_user,
            other_user_persons,
            unreferenced_persons,
            duplicate_accounts,
            second_org_accounts,
            other_users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::volumes::Scale;

    #[test]
    fn every_scale_splits() {
        for scale in [
            Scale::Small,
            Scale::Times(0.05),
            Scale::Times(0.3),
            Scale::Seed,
            Scale::Times(2.5),
            Scale::Times(10.0),
        ] {
            let composition = Composition::of(&Volumes::at(scale));
            assert!(composition.is_ok(), "{scale}: {composition:?}");
        }
    }

    #[test]
    fn seed_scale_has_the_reports_74_teachers_without_login() {
        let composition = Composition::of(&Volumes::at(Scale::Seed)).unwrap();
        assert_eq!(
            composition.teachers_without_user + composition.teachers_dangling_user,
            74
        );
    }
}
