//! Exams, spread over the groups' finished terms.

use super::super::CURRENT_YEAR;
use super::super::rows::ExamRow;
use super::super::volumes::share;
use super::{Builder, DANGLING_BASE, ExamPlan};

impl Builder<'_> {
    pub(super) fn exams(&mut self) {
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
