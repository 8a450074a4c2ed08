//! Organizations, their subject catalogs, and groups with their curricula.

use super::super::CURRENT_YEAR;
use super::super::dice::Dice;
use super::super::names;
use super::super::rows::{GroupRow, OrgRow, SubjectRow};
use super::super::volumes::share;
use super::{Builder, Cohort, Course, DANGLING_BASE, Grading, IdSequence, capitalise, timestamp};

impl Builder<'_> {
    pub(super) fn organizations(&mut self) {
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

    pub(super) fn subjects(&mut self) {
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

    pub(super) fn groups(&mut self) {
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
            // One organization grades on letters.
            let grading_org = org == 5.min(orgs - 1);
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
}

fn short_name(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}
