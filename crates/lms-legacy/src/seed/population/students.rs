//! Students: group members, second enrollments and re-imported duplicates.

use super::super::dice::{Dice, Selector};
use super::super::rows::StudentRow;
use super::super::volumes::share;
use super::{Builder, DANGLING_BASE, DuplicateStudent, IdSequence, capitalise};

impl Builder<'_> {
    pub(super) fn students(&mut self) {
        let mut dice = self.dice("students");
        let plan = self.plan;
        let groups = self.out.cohorts.len().max(1);
        let members = plan.group_members;
        // 20 to 30 per group where the volumes allow it: an even split, then
        // random moves between groups that keep both within bounds.
        let mut sizes = vec![members / groups; groups];
        for size in sizes.iter_mut().take(members % groups) {
            *size += 1;
        }
        for _ in 0..groups * 4 {
            let (from, to) = (dice.index(groups), dice.index(groups));
            let moved = 1 + dice.index(3);
            if from != to && sizes[from] >= 20 + moved && sizes[to] + moved <= 30 {
                sizes[from] -= moved;
                sizes[to] += moved;
            }
        }
        let mut orphan = Selector::new(members, plan.orphan_students);
        // 1: no login; 2: a login that points nowhere; 3: another's login.
        let login_dirt = dice.assign(
            members,
            &[
                plan.students_without_user,
                plan.students_dangling_user,
                plan.students_sharing_user,
            ],
        );
        let row_dirt = dice.assign(
            members,
            &[
                share(members, 3.0),
                share(members, 3.0),
                share(members, 5.0),
                share(members, 2.0),
                share(members, 10.0),
                1,
            ],
        );
        let mut ids = IdSequence::new(0.01);
        let mut member_index = 0;
        for (cohort_index, size) in sizes.iter().enumerate() {
            for _ in 0..*size {
                let id = ids.take(&mut dice);
                let is_orphan = orphan.next(&mut dice);
                let person_id = if is_orphan {
                    (!dice.chance(0.3)).then(|| DANGLING_BASE + 300_000 + id)
                } else {
                    Some(self.new_person(&mut dice))
                };
                let user_id = match login_dirt[member_index] {
                    1 => None,
                    2 => Some(DANGLING_BASE + 400_000 + id),
                    3 => {
                        let other = dice.index(self.out.students.len().max(1));
                        self.out
                            .students
                            .get(other)
                            .and_then(|s| s.user_id)
                            .or(Some(DANGLING_BASE + 400_000 + id))
                    }
                    _ => Some(self.account_for(&mut dice, person_id, "student")),
                };
                let dirt = StudentDirt::from_label(row_dirt[member_index]);
                let row = self.student_row(&mut dice, id, cohort_index, person_id, user_id, dirt);
                self.out.students.push(row);
                self.out.cohorts[cohort_index].members.push(id);
                member_index += 1;
            }
        }
        debug_assert_eq!(member_index, members);
        self.teachers_sharing_persons(&mut dice);
        self.second_org_students(&mut ids, &mut dice);
        self.duplicate_students(&mut ids, &mut dice);
    }

    fn student_row(
        &self,
        dice: &mut Dice,
        id: i32,
        cohort_index: usize,
        person_id: Option<i32>,
        user_id: Option<i32>,
        dirt: StudentDirt,
    ) -> StudentRow {
        let cohort = &self.out.cohorts[cohort_index];
        let group = &self.out.groups[cohort_index];
        let group_org = self
            .teaching_orgs
            .get(cohort_index % self.curriculum_orgs())
            .copied();
        let status = if cohort.graduated {
            match dice.weighted(&[(85, 0), (5, 1), (5, 2), (5, 3)]) {
                0 => Some("graduated"),
                1 => Some("Graduated"),
                2 => Some("expelled"),
                _ => None,
            }
        } else {
            match dice.weighted(&[(800, 0), (40, 1), (10, 2), (40, 3), (30, 4), (60, 5)]) {
                0 => Some("active"),
                1 => Some("Active"),
                2 => Some(" ACTIVE "),
                3 => Some("expelled"),
                4 => Some("academic_leave"),
                _ => None,
            }
        };
        let status = match dirt {
            StudentDirt::UnknownStatus => Some(*dice.pick(&["перевод", "transferred", "on hold"])),
            _ => status,
        };
        let organization_id = match dirt {
            StudentDirt::NullOrganization => None,
            StudentDirt::DanglingOrganization => Some(DANGLING_BASE + 600_000 + id),
            _ => group_org,
        };
        let group_id = match dirt {
            StudentDirt::NullGroup => None,
            StudentDirt::DanglingGroup => Some(DANGLING_BASE + 610_000 + id),
            _ => Some(group.id),
        };
        let admission_year = match dirt {
            StudentDirt::EdgeAdmissionYear => Some(i16::MAX),
            _ => i16::try_from(cohort.start_year)
                .ok()
                .filter(|_| !dice.chance(0.01)),
        };
        StudentRow {
            id,
            user_id,
            person_id,
            organization_id,
            group_id,
            admission_year,
            status: status.map(str::to_owned),
            record_book_no: (!dice.chance(0.03))
                .then(|| format!("ЗК-{}-{id:05}", cohort.start_year)),
        }
    }

    /// Teachers whose person is a (former) student's.
    fn teachers_sharing_persons(&mut self, dice: &mut Dice) {
        let student_persons: Vec<i32> = self
            .out
            .students
            .iter()
            .filter_map(|s| s.person_id)
            .filter(|id| *id < DANGLING_BASE)
            .collect();
        let orphans = self.plan.orphan_teachers;
        for teacher in self
            .out
            .teachers
            .iter_mut()
            .skip(orphans)
            .take(self.plan.teachers_sharing_person)
        {
            if !student_persons.is_empty() {
                teacher.person_id = Some(*dice.pick(&student_persons));
            }
        }
    }

    fn second_org_students(&mut self, ids: &mut IdSequence, dice: &mut Dice) {
        let plan = self.plan;
        let mut accounts = Selector::new(plan.second_org_students, plan.second_org_accounts);
        for _ in 0..plan.second_org_students {
            let original = self.pick_student_with_person(dice);
            let cohort_index = dice.index(self.out.cohorts.len());
            let id = ids.take(dice);
            let person_id = original.person_id;
            let user_id = if accounts.next(dice) {
                Some(self.account_for(dice, person_id, "student"))
            } else {
                original.user_id
            };
            let mut row = self.student_row(
                dice,
                id,
                cohort_index,
                person_id,
                user_id,
                StudentDirt::None,
            );
            // Another organization than the first enrollment's.
            let orgs = self.teaching_orgs.len().max(1);
            let other_org = (self
                .teaching_orgs
                .iter()
                .position(|org| Some(*org) == original.organization_id)
                .unwrap_or(0)
                + 1)
                % orgs;
            row.organization_id = self.teaching_orgs.get(other_org).copied();
            self.out.students.push(row);
        }
    }

    fn pick_student_with_person(&self, dice: &mut Dice) -> StudentRow {
        for _ in 0..64 {
            let candidate = &self.out.students[dice.index(self.out.students.len())];
            if candidate.person_id.is_some_and(|id| id < DANGLING_BASE) {
                return candidate.clone();
            }
        }
        self.out.students[0].clone()
    }

    fn duplicate_students(&mut self, ids: &mut IdSequence, dice: &mut Dice) {
        let plan = self.plan;
        let mut accounts = Selector::new(plan.duplicate_students, plan.duplicate_accounts);
        let members = self.plan.group_members;
        for _ in 0..plan.duplicate_students {
            let survivor_index = dice.index(members);
            let survivor = self.out.students[survivor_index].clone();
            let cohort = self
                .out
                .cohorts
                .iter()
                .position(|cohort| cohort.members.contains(&survivor.id))
                .unwrap_or(0);
            let id = ids.take(dice);
            let user_id = if accounts.next(dice) {
                Some(self.duplicate_account(dice, survivor.user_id, survivor.person_id))
            } else {
                survivor.user_id
            };
            let status = survivor.status.as_deref().map(|status| {
                if dice.chance(0.5) {
                    status.to_uppercase()
                } else {
                    status.to_owned()
                }
            });
            self.out.students.push(StudentRow {
                id,
                user_id,
                status,
                record_book_no: survivor.record_book_no.clone(),
                ..survivor
            });
            self.out
                .duplicate_students
                .push(DuplicateStudent { id, cohort });
        }
    }

    /// A second account for a re-imported student: the same login in another
    /// case (a login collision), often the same email in another spelling.
    fn duplicate_account(
        &mut self,
        dice: &mut Dice,
        original_user: Option<i32>,
        person_id: Option<i32>,
    ) -> i32 {
        let original = original_user
            .and_then(|id| self.out.users.iter().find(|user| user.id == id))
            .cloned();
        let Some(original) = original else {
            return self.account_for(dice, person_id, "student");
        };
        let login = match dice.weighted(&[(60, 0), (25, 1), (15, 2)]) {
            0 => capitalise(original.login.trim()),
            1 => original.login.trim().to_uppercase(),
            _ => format!("  {}", original.login.trim()),
        };
        let email = if dice.chance(0.6) {
            original.email.as_deref().map(|email| match dice.index(3) {
                0 => email.to_uppercase(),
                1 => format!(" {} ", email.trim()),
                _ => capitalise(email.trim()),
            })
        } else {
            Self::email_for(dice, &login)
        };
        let role = Self::role_text(dice, "student");
        self.push_user(dice, login, email, person_id, role)
    }
}

/// The rarer kinds of dirt of a student row, each given to an exact number
/// of rows so that even small databases have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StudentDirt {
    None,
    UnknownStatus,
    DanglingGroup,
    NullGroup,
    DanglingOrganization,
    NullOrganization,
    EdgeAdmissionYear,
}

impl StudentDirt {
    pub(super) fn from_label(label: u8) -> StudentDirt {
        match label {
            1 => StudentDirt::UnknownStatus,
            2 => StudentDirt::DanglingGroup,
            3 => StudentDirt::NullGroup,
            4 => StudentDirt::DanglingOrganization,
            5 => StudentDirt::NullOrganization,
            6 => StudentDirt::EdgeAdmissionYear,
            _ => StudentDirt::None,
        }
    }
}
