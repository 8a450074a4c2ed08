//! The legacy tables other than the two big ones, built in memory, plus the
//! cohort model (who studies what, when) that the journal and exam results
//! are streamed from.

use std::collections::HashSet;

use super::composition::Composition;
use super::dice::{Dice, Selector};
use super::names;
use super::rows::{
    ExamRow, GroupRow, OrgRow, PersonRow, StudentRow, SubjectRow, TeacherRow, UserRow,
};
use super::volumes::{Volumes, share};
use super::{CURRENT_YEAR, GenerateError};

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
        let semester = if semester_index.is_multiple_of(2) { 1 } else { 2 };
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

    fn organizations(&mut self) {
        let mut dice = self.dice("organizations");
        let count = self.volumes.organizations;
        let roots = (count / 18).max(1);
        let colleges = ((count - roots) * 2 / 5).max(1);
        let dangling = share(count, 35.0);
        let archived = share(count, 50.0);
        let mut ids = IdSequence::new(0.03);
        let mut bins: Vec<String> = Vec::new();
        for index in 0..count {
            // The last organization sits at the top of the integer range.
            let id = if index + 1 == count && count > 2 {
                i32::MAX
            } else {
                ids.take(&mut dice)
            };
            let city = dice.pick(names::ORG_CITIES).to_string();
            let (name, org_type, parent_id) = if index < roots {
                let kind = *dice.pick(&["Управление образования", "Білім басқармасы"]);
                (
                    format!("{kind} г. {city}"),
                    dice.pick(&["Network", "network", "NETWORK"]).to_string(),
                    None,
                )
            } else if index < roots + colleges {
                let parent = self.out.organizations[dice.index(roots)].id;
                let kind = dice.pick(names::COLLEGE_KINDS);
                let org_type = dice
                    .pick(&["College", "college", "COLLEGE", "колледж", "College "])
                    .to_string();
                (
                    format!("{city} {kind} №{}", 1 + dice.index(30)),
                    org_type,
                    Some(parent),
                )
            } else {
                let parent = self.out.organizations[roots + dice.index(colleges)].id;
                let kind = dice.pick(names::DEPARTMENT_KINDS);
                let org_type = dice
                    .pick(&["Department", "department", "DEPARTMENT", " Department"])
                    .to_string();
                (
                    format!("{} ({city})", capitalise(kind)),
                    org_type,
                    Some(parent),
                )
            };
            let is_edge = id == i32::MAX;
            let parent_id = if index >= roots && index < roots + dangling {
                Some(DANGLING_BASE + i32::try_from(index).unwrap_or(0))
            } else {
                parent_id
            };
            let bin = if dice.chance(0.1) {
                None
            } else if !bins.is_empty() && dice.chance(0.05) {
                Some(dice.pick(&bins).clone())
            } else {
                let bin = format!("{:012}", dice.range(10_000_000_000..999_999_999_999));
                bins.push(bin.clone());
                Some(bin)
            };
            let is_deleted = is_edge || (index >= count.saturating_sub(archived + 1));
            let created_at = match index {
                0 => Some("-infinity".to_owned()),
                _ if dice.chance(0.05) => None,
                _ => {
                    let year = 2005 + i32::try_from(dice.index(15)).unwrap_or(0);
                    Some(timestamp(&mut dice, year))
                }
            };
            if index >= roots && !is_deleted {
                self.teaching_orgs.push(id);
            }
            self.out.organizations.push(OrgRow {
                id,
                parent_id,
                short_name: dice.chance(0.7).then(|| short_name(&name)),
                name: if is_edge {
                    "Тестовая организация (не использовать)".to_owned()
                } else {
                    name
                },
                org_type: (!dice.chance(0.05)).then_some(org_type),
                bin,
                is_deleted,
                created_at,
            });
        }
        self.catalog = vec![Vec::new(); self.teaching_orgs.len()];
        self.org_teachers = vec![Vec::new(); self.teaching_orgs.len()];
    }

    fn subjects(&mut self) {
        let mut dice = self.dice("subjects");
        let count = self.volumes.subjects;
        let orgs = self.curriculum_orgs();
        let dangling = share(count, 3.0);
        let without_org = share(count, 3.0);
        for index in 0..count {
            let org = index % orgs;
            let (name, code) = names::SUBJECTS[(index / orgs) % names::SUBJECTS.len()];
            let id = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let organization_id = if index < dangling {
                Some(DANGLING_BASE + id)
            } else if index < dangling + without_org {
                None
            } else {
                self.teaching_orgs.get(org).copied()
            };
            let credits = match index {
                _ if index == count / 2 => Some("999.9".to_owned()),
                _ if index == count / 3 => Some("0.0".to_owned()),
                _ if dice.chance(0.05) => None,
                _ => Some(format!("{}.{}", 2 + dice.index(5), [0, 5][dice.index(2)])),
            };
            let name = if dice.chance(0.01) {
                format!(" {name}  ")
            } else {
                name.to_owned()
            };
            self.out.subjects.push(SubjectRow {
                id,
                organization_id,
                name,
                code: (!dice.chance(0.08)).then(|| format!("{code}-{}", 101 + index / orgs)),
                credits,
            });
            self.catalog[org].push(index);
        }
    }

    fn new_person(&mut self, dice: &mut Dice) -> i32 {
        let id = self.person_ids.take(dice);
        let female = dice.chance(0.52);
        let last = dice.pick(names::LAST_NAMES);
        let last_name = if female
            && (last.ends_with("ов") || last.ends_with("ев") || last.ends_with("ин"))
        {
            format!("{last}{}", names::FEMALE_LAST_SUFFIX)
        } else {
            (*last).to_owned()
        };
        let first = if female {
            dice.pick(names::FEMALE_FIRST_NAMES)
        } else {
            dice.pick(names::MALE_FIRST_NAMES)
        };
        let year = 1970 + i32::try_from(dice.index(40)).unwrap_or(0);
        let (month, day) = (1 + dice.index(12), 1 + dice.index(28));
        let birth_date = match dice.weighted(&[(70, 0), (19, 1), (4, 2), (3, 3), (4, 4)]) {
            0 => Some(format!("{year}-{month:02}-{day:02}")),
            1 => Some(format!("{day:02}.{month:02}.{year}")),
            2 => Some(["", "  "][dice.index(2)].to_owned()),
            3 => None,
            _ => Some(
                (*dice.pick(&[
                    "31.02.2005",
                    "2005-13-01",
                    "не указано",
                    "05/06/2004",
                    "0000-00-00",
                    "1999-02-30",
                    "12.2003",
                ]))
                .to_owned(),
            ),
        };
        let gender = match dice.weighted(&[(40, 0), (25, 1), (10, 2), (15, 3), (7, 4), (3, 5)]) {
            0 => Some(if female { "F" } else { "M" }),
            1 => Some(if female { "ж" } else { "м" }),
            2 => Some(if female { "f" } else { "m" }),
            3 => None,
            4 => Some(if female { "F" } else { "м" }),
            _ => Some(*dice.pick(&["?", "X", " "])),
        };
        let iin = (!dice.chance(0.08)).then(|| {
            format!(
                "{:02}{month:02}{day:02}{:06}",
                year % 100,
                dice.index(1_000_000)
            )
        });
        let phone = match dice.weighted(&[(70, 0), (20, 1), (8, 2), (2, 3)]) {
            0 => Some(format!(
                "+7 7{:02} {:03} {:02} {:02}",
                dice.index(100),
                dice.index(1000),
                dice.index(100),
                dice.index(100)
            )),
            1 => None,
            2 => Some(format!("87{:09}", dice.index(1_000_000_000))),
            _ => Some(format!("  +7{:010}\t", dice.index(1_000_000_000))),
        };
        self.out.persons.push(PersonRow {
            id,
            last_name: (!dice.chance(0.005)).then_some(last_name),
            first_name: Some(if dice.chance(0.01) {
                format!(" {first} ")
            } else {
                (*first).to_owned()
            }),
            middle_name: dice
                .chance(0.6)
                .then(|| (*dice.pick(names::MIDDLE_NAMES)).to_owned()),
            iin,
            birth_date,
            gender: gender.map(str::to_owned),
            phone,
            created_at: (!dice.chance(0.04)).then(|| {
                let year = 2012 + i32::try_from(dice.index(14)).unwrap_or(0);
                timestamp(dice, year)
            }),
        });
        id
    }

    fn person_name(&self, person_id: i32) -> (String, String) {
        self.out
            .persons
            .iter()
            .rev()
            .find(|person| person.id == person_id)
            .map(|person| {
                (
                    person
                        .last_name
                        .clone()
                        .unwrap_or_else(|| "user".to_owned()),
                    person.first_name.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_else(|| ("user".to_owned(), String::new()))
    }

    /// A fresh login, unique case-insensitively, in one of the legacy styles.
    fn fresh_login(&mut self, dice: &mut Dice, last: &str, first: &str) -> String {
        let cyrillic = dice.chance(0.04);
        let base = if cyrillic {
            let initial: String = first.trim().chars().take(1).collect();
            format!("{}.{}", last.trim(), initial)
        } else {
            let initial: String = names::transliterate(first).chars().take(1).collect();
            format!("{}.{}", names::transliterate(last), initial)
        };
        let styled = match dice.weighted(&[(72, 0), (22, 1), (6, 2)]) {
            0 => base.to_lowercase(),
            1 => capitalise(&base),
            _ => base.to_uppercase(),
        };
        let mut login = styled.clone();
        let mut suffix = 2;
        while !self.login_keys.insert(login.trim().to_lowercase()) {
            login = format!("{styled}{suffix}");
            suffix += 1;
        }
        if dice.chance(0.01) {
            format!(" {login}\t")
        } else {
            login
        }
    }

    fn email_for(dice: &mut Dice, login: &str) -> Option<String> {
        let local: String = names::transliterate(login.trim())
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let local = if local.is_empty() {
            "user".to_owned()
        } else {
            local
        };
        let domain = dice.pick(names::EMAIL_DOMAINS);
        match dice.weighted(&[(72, 0), (5, 1), (2, 2), (16, 3), (3, 4)]) {
            0 => Some(format!("{local}@{domain}")),
            1 => Some(format!("{}@{}", capitalise(&local), domain.to_uppercase())),
            2 => Some(format!("  {local}@{domain} ")),
            3 => None,
            _ => Some(["", "   "][dice.index(2)].to_owned()),
        }
    }

    fn password(dice: &mut Dice) -> Option<String> {
        const BCRYPT_ALPHABET: &[u8] =
            b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        match dice.weighted(&[(76, 0), (19, 1), (4, 2), (1, 3)]) {
            0 => {
                let prefix = if dice.chance(0.3) {
                    "$2y$10$"
                } else {
                    "$2a$10$"
                };
                let body: String = (0..53)
                    .map(|_| char::from(*dice.pick(BCRYPT_ALPHABET)))
                    .collect();
                Some(format!("{prefix}{body}"))
            }
            1 => Some(
                (0..32)
                    .map(|_| char::from(*dice.pick(b"0123456789abcdef")))
                    .collect(),
            ),
            2 => None,
            _ => Some((*dice.pick(&["*", "!locked", "changeme"])).to_owned()),
        }
    }

    fn role_text(dice: &mut Dice, role: &str) -> String {
        match dice.weighted(&[(85, 0), (10, 1), (5, 2)]) {
            0 => role.to_owned(),
            1 => capitalise(role),
            _ => format!("{} ", role.to_uppercase()),
        }
    }

    /// Pushes a user row and returns its id.
    fn push_user(
        &mut self,
        dice: &mut Dice,
        login: String,
        email: Option<String>,
        person_id: Option<i32>,
        role: String,
    ) -> i32 {
        let id = self.user_ids.take(dice);
        let created = 2014 + i32::try_from(dice.index(12)).unwrap_or(0);
        let last_login_at = match dice.weighted(&[(80, 0), (19, 1), (1, 2)]) {
            0 => Some(timestamp(dice, created.max(2024))),
            1 => None,
            _ => Some("infinity".to_owned()),
        };
        let password_hash = Self::password(dice);
        self.out.users.push(UserRow {
            id,
            login,
            email,
            password_hash,
            person_id,
            role,
            is_active: !dice.chance(0.06),
            created_at: (!dice.chance(0.03)).then(|| timestamp(dice, created)),
            last_login_at,
        });
        id
    }

    /// A new account for a person, in the usual style.
    fn account_for(&mut self, dice: &mut Dice, person_id: Option<i32>, role: &str) -> i32 {
        let (last, first) = match person_id {
            Some(id) => self.person_name(id),
            None => (
                (*dice.pick(names::LAST_NAMES)).to_owned(),
                (*dice.pick(names::MALE_FIRST_NAMES)).to_owned(),
            ),
        };
        let login = self.fresh_login(dice, &last, &first);
        let email = Self::email_for(dice, &login);
        let role = Self::role_text(dice, role);
        // Some accounts were never linked to their person on the user row.
        let linked = person_id.filter(|_| !dice.chance(0.05));
        self.push_user(dice, login, email, linked, role)
    }

    fn teachers(&mut self) {
        let mut dice = self.dice("teachers");
        let plan = self.plan;
        let count = self.volumes.teachers;
        // 1: never had a login; 2: a login that points nowhere.
        let login_dirt = dice.assign(
            count,
            &[plan.teachers_without_user, plan.teachers_dangling_user],
        );
        let orphans = plan.orphan_teachers;
        let sharing = plan.teachers_sharing_person;
        let mut ids = IdSequence::new(0.02);
        for (index, login_dirt) in login_dirt.into_iter().enumerate() {
            let id = ids.take(&mut dice);
            // Teachers sharing a student's person get their person later,
            // once students exist; orphans point nowhere.
            let person_id = if index < orphans {
                (!dice.chance(0.3)).then(|| DANGLING_BASE + 500_000 + id)
            } else if index < orphans + sharing {
                None
            } else {
                Some(self.new_person(&mut dice))
            };
            let user_id = match login_dirt {
                1 => None,
                2 => Some(DANGLING_BASE + 700_000 + id),
                _ => Some(self.account_for(&mut dice, person_id, "teacher")),
            };
            let org = dice.index(self.curriculum_orgs());
            let organization_id = if index == count / 2 {
                Some(DANGLING_BASE + 1)
            } else {
                self.teaching_orgs.get(org).copied()
            };
            if let Some(list) = self.org_teachers.get_mut(org) {
                list.push(id);
            }
            let hired_year = 1995 + i32::try_from(dice.index(31)).unwrap_or(0);
            let hired_at = match index {
                1 => Some("1900-01-01".to_owned()),
                _ if dice.chance(0.04) => None,
                _ => Some(format!(
                    "{hired_year}-{:02}-{:02}",
                    1 + dice.index(12),
                    1 + dice.index(28)
                )),
            };
            let fired_at = match index {
                2 => Some("infinity".to_owned()),
                _ if dice.chance(0.1) => {
                    Some(format!("{}-06-30", (hired_year + 1).min(CURRENT_YEAR)))
                }
                _ => None,
            };
            self.out.teachers.push(TeacherRow {
                id,
                user_id,
                person_id,
                organization_id,
                position: (!dice.chance(0.06)).then(|| (*dice.pick(names::POSITIONS)).to_owned()),
                hired_at,
                fired_at,
            });
        }
    }

    fn groups(&mut self) {
        let mut dice = self.dice("groups");
        let count = self.volumes.groups;
        let orgs = self.curriculum_orgs();
        let dangling_org = share(count, 4.0);
        let without_org = share(count, 4.0);
        let dangling_curator = share(count, 8.0);
        for index in 0..count {
            let id = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let org = index % orgs;
            let graduated = dice.chance(0.3);
            let (start_year, semesters, course_no) = if graduated {
                let years = if dice.chance(0.3) { 3 } else { 4 };
                let start = 2017 + i32::try_from(dice.index(6)).unwrap_or(0);
                (start, years * 2, i16::try_from(years).unwrap_or(4))
            } else {
                let course = 1 + dice.index(4);
                (
                    CURRENT_YEAR - i32::try_from(course - 1).unwrap_or(0),
                    course * 2 - 1,
                    i16::try_from(course).unwrap_or(1),
                )
            };
            let catalog = &self.catalog[org];
            let teachers = &self.org_teachers[org];
            let grading_org = org % 11 == 5;
            let course_for = |subject: usize, dice: &mut Dice| -> Course {
                let name = names::SUBJECTS[(subject / orgs) % names::SUBJECTS.len()].0;
                let grading = if names::is_pass_fail_subject(name) {
                    Grading::PassFail
                } else if grading_org {
                    Grading::Letter
                } else if name.contains("English") || name == "Информатика" {
                    Grading::Percent
                } else {
                    Grading::FivePoint
                };
                let teacher_id = match dice.weighted(&[(94, 0), (5, 1), (1, 2)]) {
                    0 if !teachers.is_empty() => Some(*dice.pick(teachers)),
                    2 => {
                        Some(DANGLING_BASE + 800_000 + i32::try_from(dice.index(1000)).unwrap_or(0))
                    }
                    _ => None,
                };
                Course {
                    subject_id: i32::try_from(subject + 1).unwrap_or(i32::MAX),
                    teacher_id,
                    grading,
                }
            };
            let mut curriculum = Vec::with_capacity(semesters);
            for _ in 0..semesters {
                let wanted = (13 + dice.index(5)).min(catalog.len());
                let mut picks = dice.sample_indices(catalog.len(), wanted);
                dice.shuffle(&mut picks);
                let courses = picks
                    .into_iter()
                    .map(|pick| course_for(catalog[pick], &mut dice))
                    .collect();
                curriculum.push(courses);
            }
            let organization_id = if index < dangling_org {
                Some(DANGLING_BASE + 100_000 + id)
            } else if index < dangling_org + without_org {
                None
            } else {
                self.teaching_orgs.get(org).copied()
            };
            let curator_teacher_id = if index < dangling_curator {
                Some(DANGLING_BASE + 200_000 + id)
            } else if dice.chance(0.08) || teachers.is_empty() {
                None
            } else {
                Some(*dice.pick(teachers))
            };
            let specialty = dice.pick(names::SPECIALTIES);
            let name = format!(
                "{specialty}-{:02}-{}",
                start_year % 100,
                1 + index / orgs % 4
            );
            let last_year =
                start_year + i32::try_from(semesters.saturating_sub(1) / 2).unwrap_or(0);
            self.out.groups.push(GroupRow {
                id,
                organization_id,
                name: if dice.chance(0.01) {
                    format!("{name} ")
                } else {
                    name
                },
                course_no: (!dice.chance(0.02)).then_some(course_no),
                curator_teacher_id,
                academic_year: (!dice.chance(0.02))
                    .then(|| format!("{last_year}-{}", last_year + 1)),
            });
            let catalog = catalog
                .iter()
                .map(|subject| course_for(*subject, &mut dice))
                .collect();
            self.out.cohorts.push(Cohort {
                group_id: id,
                start_year,
                semesters,
                graduated,
                curriculum,
                members: Vec::new(),
                catalog,
            });
        }
    }

    fn students(&mut self) {
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
                let row = self.student_row(&mut dice, id, cohort_index, person_id, user_id);
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
            match dice.weighted(&[
                (800, 0),
                (40, 1),
                (10, 2),
                (40, 3),
                (30, 4),
                (60, 5),
                (3, 6),
            ]) {
                0 => Some("active"),
                1 => Some("Active"),
                2 => Some(" ACTIVE "),
                3 => Some("expelled"),
                4 => Some("academic_leave"),
                5 => None,
                _ => Some(*dice.pick(&["перевод", "transferred", "on hold"])),
            }
        };
        let organization_id = match dice.weighted(&[(988, 0), (10, 1), (2, 2)]) {
            0 => group_org,
            1 => None,
            _ => Some(DANGLING_BASE + 600_000 + id),
        };
        let group_id = match dice.weighted(&[(992, 0), (5, 1), (3, 2)]) {
            0 => Some(group.id),
            1 => None,
            _ => Some(DANGLING_BASE + 610_000 + id),
        };
        let admission_year = match dice.weighted(&[(988, 0), (10, 1), (2, 2)]) {
            0 => i16::try_from(cohort.start_year).ok(),
            1 => None,
            _ => Some(i16::MAX),
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
            let mut row = self.student_row(dice, id, cohort_index, person_id, user_id);
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

    fn other_users(&mut self) {
        let mut dice = self.dice("users");
        let plan = self.plan;
        let count = plan.other_users;
        let persons_left = plan.other_user_persons;
        let dangling_person = share(self.volumes.users, 2.0);
        let invalid_email = share(self.volumes.users, 7.2);
        let family_email = share(self.volumes.users, 2.2);
        let case_collisions = share(self.volumes.users, 3.0);
        let renamed_form = share(self.volumes.users, 0.5);
        let mut persons_used = 0;
        let mut collision_losers: Vec<usize> = Vec::new();
        for index in 0..count {
            let role = match index % 25 {
                0 | 1 => "admin",
                2 => "methodist",
                3 => *dice.pick(&["director", "guest", "Завуч", "librarian"]),
                4 | 5 => "student",
                _ => "parent",
            };
            let wants_person = matches!(role, "admin" | "methodist") || dice.chance(0.5);
            let person_id = if index < dangling_person {
                Some(DANGLING_BASE + 900_000 + i32::try_from(index).unwrap_or(0))
            } else if wants_person && persons_used < persons_left {
                persons_used += 1;
                Some(self.new_person(&mut dice))
            } else {
                None
            };
            if index >= count - case_collisions - renamed_form - 2
                && index < count - renamed_form - 2
            {
                // A login that collides, after lower(trim), with an earlier one.
                let victim = dice.index(self.out.users.len());
                let login = flip_case(self.out.users[victim].login.trim());
                let email = Self::email_for(&mut dice, &login);
                let role = Self::role_text(&mut dice, role);
                self.push_user(&mut dice, login, email, person_id, role);
                collision_losers.push(self.out.users.len() - 1);
                continue;
            }
            if index == count - 2 {
                // Kazakh letters that only Unicode-aware lower() folds.
                self.push_user(
                    &mut dice,
                    "Әлия.Қасымова".to_owned(),
                    None,
                    person_id,
                    "parent".to_owned(),
                );
                continue;
            }
            if index == count - 1 {
                self.push_user(
                    &mut dice,
                    "әлия.қасымова".to_owned(),
                    None,
                    None,
                    "Parent".to_owned(),
                );
                continue;
            }
            if index >= count - renamed_form - 2 && index < count - 2 {
                // A login equal to another's renamed form, `<login>.<id>`.
                let loser = collision_losers
                    .get(dice.index(collision_losers.len()))
                    .map(|&position| &self.out.users[position])
                    .map(|user| format!("{}.{}", user.login.trim().to_lowercase(), user.id))
                    .unwrap_or_else(|| "ivanov.a.1".to_owned());
                self.push_user(&mut dice, loser, None, person_id, "parent".to_owned());
                continue;
            }
            self.account_for(&mut dice, person_id, role);
            let position = self.out.users.len() - 1;
            if index < invalid_email {
                let bad = *dice.pick(&[
                    "ivanov@",
                    "ivanov.mail.kz",
                    "iv anov@mail.kz",
                    "нет",
                    "a@b",
                    "@mail.kz",
                    "user@@mail.kz",
                    "test@mail .kz",
                ]);
                self.out.users[position].email = Some(bad.to_owned());
            } else if index >= invalid_email && index < invalid_email + family_email && position > 0
            {
                let other = dice.index(position);
                let shared = self.out.users[other]
                    .email
                    .clone()
                    .filter(|email| email.contains('@'))
                    .unwrap_or_else(|| "family@mail.kz".to_owned());
                self.out.users[position].email = Some(format!(" {}", shared.trim().to_uppercase()));
            }
        }
    }

    fn unreferenced_persons(&mut self) {
        let mut dice = self.dice("persons");
        while self.out.persons.len() + 1 < self.volumes.persons {
            self.new_person(&mut dice);
        }
        if self.out.persons.len() < self.volumes.persons {
            // The last person sits at the top of the integer range.
            self.new_person(&mut dice);
            if let Some(last) = self.out.persons.last_mut() {
                last.id = i32::MAX;
            }
        }
    }

    fn exams(&mut self) {
        let mut dice = self.dice("exams");
        let count = self.volumes.exams;
        let dangling_subject = share(count, 4.0);
        let without_subject = share(count, 0.5);
        let without_group = share(count, 10.0);
        let total_members: usize = self
            .out
            .cohorts
            .iter()
            .map(|cohort| cohort.members.len())
            .sum::<usize>()
            .max(1);
        let mut per_cohort: Vec<usize> = self
            .out
            .cohorts
            .iter()
            .map(|cohort| count * cohort.members.len() / total_members)
            .collect();
        let mut assigned: usize = per_cohort.iter().sum();
        let mut cursor = 0;
        let cohorts = per_cohort.len();
        while assigned < count && cohorts > 0 {
            per_cohort[cursor % cohorts] += 1;
            assigned += 1;
            cursor += 1;
        }
        let mut index = 0;
        for (cohort_index, exams) in per_cohort.iter().enumerate() {
            for _ in 0..*exams {
                let id = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let cohort = &self.out.cohorts[cohort_index];
                let semester = dice.index(cohort.past_semesters().max(1));
                let courses =
                    &cohort.curriculum[semester.min(cohort.curriculum.len().saturating_sub(1))];
                let course = courses.get(dice.index(courses.len())).cloned();
                let (year, term) = cohort.term(semester);
                let start_year: i32 = year
                    .get(..4)
                    .and_then(|y| y.parse().ok())
                    .unwrap_or(CURRENT_YEAR);
                let date = if term == 1 {
                    (
                        start_year,
                        12,
                        u32::try_from(10 + dice.index(18)).unwrap_or(20),
                    )
                } else {
                    (
                        start_year + 1,
                        5,
                        u32::try_from(10 + dice.index(18)).unwrap_or(20),
                    )
                };
                let subject_id = if index < dangling_subject {
                    Some(DANGLING_BASE + 20_000 + id)
                } else if index < dangling_subject + without_subject {
                    None
                } else {
                    course.as_ref().map(|course| course.subject_id)
                };
                let subject_name = course
                    .as_ref()
                    .and_then(|course| {
                        self.out
                            .subjects
                            .get(usize::try_from(course.subject_id - 1).unwrap_or(0))
                    })
                    .map(|subject| subject.name.trim().to_owned())
                    .unwrap_or_else(|| "Предмет".to_owned());
                let (max_score, max_text) = match index {
                    _ if index == count / 2 => (9999.99, Some("9999.99".to_owned())),
                    _ => match dice.weighted(&[(45, 0), (20, 1), (10, 2), (15, 3), (10, 4)]) {
                        0 => (100.0, Some("100".to_owned())),
                        1 => (100.0, None),
                        2 => (5.0, Some("5".to_owned())),
                        3 => (50.0, Some("50.00".to_owned())),
                        _ => (20.0, Some("20".to_owned())),
                    },
                };
                let exam_type = match dice.weighted(&[
                    (45, 0),
                    (8, 1),
                    (20, 2),
                    (4, 3),
                    (10, 4),
                    (8, 5),
                    (5, 6),
                ]) {
                    0 => Some("exam"),
                    1 => Some("Exam"),
                    2 => Some("test"),
                    3 => Some("TEST"),
                    4 => Some("quiz"),
                    5 => Some("credit"),
                    _ => None,
                };
                let title = match exam_type {
                    Some(kind) if kind.eq_ignore_ascii_case("exam") => {
                        format!("Экзамен: {subject_name}")
                    }
                    Some(kind) if kind.eq_ignore_ascii_case("test") => {
                        format!("Тест №{} — {subject_name}", 1 + dice.index(5))
                    }
                    _ => format!("{subject_name}: контроль"),
                };
                let teacher_id = course
                    .as_ref()
                    .and_then(|course| course.teacher_id)
                    .filter(|_| !dice.chance(0.08));
                self.out.exams.push(ExamRow {
                    id,
                    subject_id,
                    group_id: if index >= dangling_subject + without_subject
                        && index < dangling_subject + without_subject + without_group
                    {
                        None
                    } else {
                        Some(cohort.group_id)
                    },
                    teacher_id,
                    title,
                    exam_type: exam_type.map(str::to_owned),
                    exam_date: (!dice.chance(0.02))
                        .then(|| format!("{}-{:02}-{:02}", date.0, date.1, date.2)),
                    max_score: max_text,
                });
                self.out.exam_plans.push(ExamPlan {
                    id,
                    cohort: cohort_index,
                    max_score,
                    date,
                });
                index += 1;
            }
        }
    }
}

pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn flip_case(text: &str) -> String {
    text.chars()
        .enumerate()
        .flat_map(|(index, c)| {
            let flipped: Vec<char> = if index % 2 == 0 {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            flipped
        })
        .collect()
}

fn short_name(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}
