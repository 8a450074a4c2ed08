//! The legacy tables other than the two big ones, built in memory, plus the
//! cohort model (who studies what, when) that the journal and exam results
//! are streamed from.

use std::collections::HashSet;

mod exams;
mod institutions;
mod people;
mod students;

use super::GenerateError;
use super::composition::Composition;
use super::dice::Dice;
use super::rows::{
    ExamRow, GroupRow, OrgRow, PersonRow, StudentRow, SubjectRow, TeacherRow, UserRow,
};
use super::volumes::Volumes;

/// Ids that point nowhere start here, far above any generated id.
pub const DANGLING_BASE: i32 = 900_000_000;

/// One course of a group's curriculum in one semester.
#[derive(Debug, Clone)]
pub struct Course {
    pub subject_id: i32,
    pub teacher_id: Option<i32>,
    pub grading: Grading,
}

/// How a course's final marks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grading {
    FivePoint,
    Percent,
    PassFail,
    Letter,
}

/// A group as the generator models it: its members and curriculum.
#[derive(Debug, Clone)]
pub struct Cohort {
    pub group_id: i32,
    /// The group id written into the journal (the real one).
    pub start_year: i32,
    /// Semesters studied so far; the last one is in progress unless graduated.
    pub semesters: usize,
    pub graduated: bool,
    /// One course list per semester.
    pub curriculum: Vec<Vec<Course>>,
    /// Student ids of the group's members, in id order.
    pub members: Vec<i32>,
    /// The organization's whole catalog, from which semesters can be widened.
    pub catalog: Vec<Course>,
}

impl Cohort {
    /// Semesters whose marks are final.
    pub fn past_semesters(&self) -> usize {
        if self.graduated {
            self.semesters
        } else {
            self.semesters.saturating_sub(1)
        }
    }

    /// `(academic_year, semester)` of a semester index.
    pub fn term(&self, semester_index: usize) -> (String, i16) {
        let offset = i32::try_from(semester_index / 2).unwrap_or(0);
        let year = self.start_year + offset;
        let semester = if semester_index.is_multiple_of(2) {
            1
        } else {
            2
        };
        (format!("{year}-{}", year + 1), semester)
    }
}

/// A re-imported duplicate of a student.
#[derive(Debug, Clone, Copy)]
pub struct DuplicateStudent {
    pub id: i32,
    pub cohort: usize,
}

/// An exam as the generator models it.
#[derive(Debug, Clone)]
pub struct ExamPlan {
    pub id: i32,
    pub cohort: usize,
    /// The score scale's top, for drawing scores (100 when NULL).
    pub max_score: f64,
    /// `YYYY-MM-DD` of the exam.
    pub date: (i32, u32, u32),
}

/// Everything but the journal and exam results.
#[derive(Debug, Default)]
pub struct Population {
    pub organizations: Vec<OrgRow>,
    pub persons: Vec<PersonRow>,
    pub users: Vec<UserRow>,
    pub groups: Vec<GroupRow>,
    pub subjects: Vec<SubjectRow>,
    pub students: Vec<StudentRow>,
    pub teachers: Vec<TeacherRow>,
    pub exams: Vec<ExamRow>,
    pub cohorts: Vec<Cohort>,
    pub duplicate_students: Vec<DuplicateStudent>,
    pub exam_plans: Vec<ExamPlan>,
}

/// Sequential ids with the occasional gap that deleted rows leave.
#[derive(Debug)]
struct IdSequence {
    next: i32,
    gap_chance: f64,
}

impl IdSequence {
    fn new(gap_chance: f64) -> Self {
        IdSequence {
            next: 1,
            gap_chance,
        }
    }

    fn take(&mut self, dice: &mut Dice) -> i32 {
        if dice.chance(self.gap_chance) {
            self.next += 1 + i32::try_from(dice.index(3)).unwrap_or(0);
        }
        let id = self.next;
        self.next += 1;
        id
    }
}

pub fn timestamp(dice: &mut Dice, year: i32) -> String {
    format!(
        "{year}-{:02}-{:02} {:02}:{:02}:{:02}",
        1 + dice.index(12),
        1 + dice.index(28),
        7 + dice.index(13),
        dice.index(60),
        dice.index(60)
    )
}

struct Builder<'a> {
    volumes: &'a Volumes,
    plan: &'a Composition,
    seed: u64,
    out: Population,
    person_ids: IdSequence,
    user_ids: IdSequence,
    login_keys: HashSet<String>,
    teaching_orgs: Vec<i32>,
    catalog: Vec<Vec<usize>>,
    org_teachers: Vec<Vec<i32>>,
}

/// Builds the population for the given volumes.
pub fn build(volumes: &Volumes, seed: u64) -> Result<Population, GenerateError> {
    let plan = Composition::of(volumes).map_err(|error| GenerateError::Plan(error.to_string()))?;
    let mut builder = Builder {
        volumes,
        plan: &plan,
        seed,
        out: Population::default(),
        person_ids: IdSequence::new(0.01),
        user_ids: IdSequence::new(0.01),
        login_keys: HashSet::new(),
        teaching_orgs: Vec::new(),
        catalog: Vec::new(),
        org_teachers: Vec::new(),
    };
    builder.organizations();
    builder.subjects();
    builder.teachers();
    builder.groups();
    builder.students();
    builder.other_users();
    builder.unreferenced_persons();
    builder.exams();
    let out = builder.out;
    let actual = [
        (
            "organizations",
            out.organizations.len(),
            volumes.organizations,
        ),
        ("persons", out.persons.len(), volumes.persons),
        ("users", out.users.len(), volumes.users),
        ("groups", out.groups.len(), volumes.groups),
        ("subjects", out.subjects.len(), volumes.subjects),
        ("students", out.students.len(), volumes.students),
        ("teachers", out.teachers.len(), volumes.teachers),
        ("exams", out.exams.len(), volumes.exams),
    ];
    for (table, built, wanted) in actual {
        if built != wanted {
            return Err(GenerateError::Count {
                table,
                built,
                wanted,
            });
        }
    }
    Ok(out)
}

impl Builder<'_> {
    fn dice(&self, stream: &str) -> Dice {
        Dice::new(self.seed, stream)
    }

    /// The organizations that run groups (and so own subject catalogs): all
    /// teaching ones, or as many as there are groups in a small database.
    fn curriculum_orgs(&self) -> usize {
        self.teaching_orgs.len().min(self.volumes.groups).max(1)
    }
}

pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
