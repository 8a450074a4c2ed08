//! Exam results, streamed: every member of the exam's group sits it, then
//! retakes (the same exam and student again, later), results of re-imported
//! students, and results whose exam or student is gone.

use super::GenerateError;
use super::dice::{Dice, Selector};
use super::population::{DANGLING_BASE, ExamPlan, Population};
use super::rows::ExamResultRow;
use super::volumes::share;

/// How the results' rows divide.
#[derive(Debug, Clone, Copy)]
pub struct ResultsBudget {
    pub total: usize,
    pub natural: usize,
    pub retakes: usize,
    pub duplicate_student_rows: usize,
    pub missing_exam: usize,
    pub null_exam: usize,
    pub missing_student: usize,
    pub null_student: usize,
}

impl ResultsBudget {
    /// Natural rows fill what the exams' groups can hold; retakes make up
    /// the rest (at least 4% of the table).
    pub fn new(total: usize, population: &Population) -> Result<ResultsBudget, GenerateError> {
        let duplicate_student_rows = share(total, 6.0);
        let missing_exam = share(total, 2.2);
        let null_exam = share(total, 0.3);
        let missing_student = share(total, 3.8);
        let null_student = share(total, 0.3);
        let min_retakes = share(total, 40.0);
        let others =
            duplicate_student_rows + missing_exam + null_exam + missing_student + null_student;
        let capacity: usize = population
            .exam_plans
            .iter()
            .map(|exam| population.cohorts[exam.cohort].members.len())
            .sum();
        let room = total
            .checked_sub(others + min_retakes)
            .ok_or(GenerateError::Plan("exam_results volume too small".into()))?;
        let natural = capacity.min(room);
        Ok(ResultsBudget {
            total,
            natural,
            retakes: total - others - natural,
            duplicate_student_rows,
            missing_exam,
            null_exam,
            missing_student,
            null_student,
        })
    }
}

/// Streams the results into `sink`; returns the number of rows written.
pub fn generate(
    population: &Population,
    budget: &ResultsBudget,
    seed: u64,
    sink: &mut dyn FnMut(&ExamResultRow) -> Result<(), GenerateError>,
) -> Result<usize, GenerateError> {
    let mut dice = Dice::new(seed, "exam_results");
    let mut written = 0usize;
    let mut next_id: i64 = 1;
    let mut retake_pick = Selector::new(budget.natural, budget.retakes);
    let mut retake_sources: Vec<(usize, i32, Option<String>)> = Vec::new();

    'exams: for (exam_index, exam) in population.exam_plans.iter().enumerate() {
        for &student in &population.cohorts[exam.cohort].members {
            if written == budget.natural {
                break 'exams;
            }
            let row = result_row(&mut dice, next_id, exam, student, 0);
            next_id += 1;
            if retake_pick.next(&mut dice) {
                retake_sources.push((exam_index, student, row.submitted_at.clone()));
            }
            sink(&row)?;
            written += 1;
        }
    }
    // A retake can take more than one extra attempt when retakes outnumber
    // the rows picked for them (small databases).
    let mut attempt = 1;
    let mut retakes_written = 0;
    while retakes_written < budget.retakes && !retake_sources.is_empty() {
        for (exam_index, student, first_submitted) in &retake_sources {
            if retakes_written == budget.retakes {
                break;
            }
            let exam = &population.exam_plans[*exam_index];
            let mut row = result_row(&mut dice, next_id, exam, *student, attempt);
            match dice.weighted(&[(80, 0), (12, 1), (8, 2)]) {
                // A later attempt, which survives.
                0 => {}
                // No timestamp: the dated first attempt survives (NULLs last).
                1 => row.submitted_at = None,
                // The same timestamp: the higher id survives.
                _ => row.submitted_at.clone_from(first_submitted),
            }
            next_id += 1;
            sink(&row)?;
            written += 1;
            retakes_written += 1;
        }
        attempt += 1;
    }

    for index in 0..budget.duplicate_student_rows {
        let duplicates = &population.duplicate_students;
        let Some(duplicate) = duplicates.get(index % duplicates.len().max(1)) else {
            break;
        };
        let exams: Vec<&ExamPlan> = population
            .exam_plans
            .iter()
            .filter(|exam| exam.cohort == duplicate.cohort)
            .collect();
        let Some(exam) = exams.get(index / duplicates.len().max(1) % exams.len().max(1)) else {
            continue;
        };
        let row = result_row(&mut dice, next_id, exam, duplicate.id, 1);
        next_id += 1;
        sink(&row)?;
        written += 1;
    }

    let orphan_kinds = [
        (budget.missing_exam, 0u8),
        (budget.null_exam, 1),
        (budget.missing_student, 2),
        (budget.null_student, 3),
    ];
    for (count, kind) in orphan_kinds {
        for index in 0..count {
            let exam = &population.exam_plans[dice.index(population.exam_plans.len())];
            let members = &population.cohorts[exam.cohort].members;
            let student = members.get(dice.index(members.len())).copied().unwrap_or(1);
            let mut row = result_row(&mut dice, next_id, exam, student, 0);
            next_id += 1;
            let offset = i32::try_from(index).unwrap_or(0);
            match kind {
                0 => row.exam_id = Some(DANGLING_BASE + 40_000 + offset),
                1 => row.exam_id = None,
                2 => row.student_id = Some(DANGLING_BASE + 60_000 + offset),
                _ => row.student_id = None,
            }
            sink(&row)?;
            written += 1;
        }
    }
    if written != budget.total {
        return Err(GenerateError::Count {
            table: "exam_results",
            built: written,
            wanted: budget.total,
        });
    }
    Ok(written)
}

fn result_row(
    dice: &mut Dice,
    id: i64,
    exam: &ExamPlan,
    student: i32,
    attempt: u32,
) -> ExamResultRow {
    let (year, month, day) = exam.date;
    let day = (day + attempt * 3).min(28);
    let score = match dice.weighted(&[(940, 0), (50, 1), (4, 2), (5, 3), (1, 4)]) {
        0 => {
            // Scores are drawn in hundredths within 30%..100% of the maximum.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let cents = (exam.max_score * 100.0) as u64;
            let low = cents * 3 / 10;
            let value = low
                + u64::try_from(dice.index(usize::try_from(cents - low + 1).unwrap_or(1)))
                    .unwrap_or(0);
            Some(format!("{}.{:02}", value / 100, value % 100))
        }
        1 => None,
        2 => Some((*dice.pick(&["-1", "-5.50", "-9999.99"])).to_owned()),
        3 => Some(format!("{:.2}", exam.max_score + 10.0).replace("10009.99", "9999.99")),
        _ => Some("9999.99".to_owned()),
    };
    let status = match dice.weighted(&[(720, 0), (180, 1), (30, 2), (30, 3), (10, 4), (30, 5)]) {
        0 => Some("graded"),
        1 => Some("submitted"),
        2 => Some("annulled"),
        3 => Some("Graded"),
        4 => Some("SUBMITTED"),
        _ => None,
    };
    let answers = match dice.weighted(&[(880, 0), (60, 1), (30, 2), (25, 3), (5, 4)]) {
        0 => {
            let picks: Vec<String> = (1..=1 + dice.index(6))
                .map(|q| format!("\"q{q}\": \"{}\"", ["a", "b", "c", "d"][dice.index(4)]))
                .collect();
            Some(format!("{{{}}}", picks.join(", ")))
        }
        1 => None,
        2 => Some(
            (*dice.pick(&[
                "{q1: a",
                "{\"q1\": \"a\"",
                "ответ: б",
                "[1, 2",
                "{'q1': 'a'}",
            ]))
            .to_owned(),
        ),
        3 => Some(
            (*dice.pick(&[
                "[]",
                "{}",
                "\"текст ответа\"",
                "{\"q1\": [\"a\", \"c\"], \"essay\": \"Қазақстан\"}",
            ]))
            .to_owned(),
        ),
        _ => Some(r#"{"q1": "a\u0000b"}"#.to_owned()),
    };
    ExamResultRow {
        id,
        exam_id: Some(exam.id),
        student_id: Some(student),
        score,
        submitted_at: (!dice.chance(0.03)).then(|| {
            format!(
                "{year}-{month:02}-{day:02} {:02}:{:02}:{:02}",
                9 + dice.index(8),
                dice.index(60),
                dice.index(60)
            )
        }),
        status: status.map(str::to_owned),
        answers,
    }
}
