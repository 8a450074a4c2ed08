//! The class register: 510,269 rows at seed scale, streamed.
//!
//! Rows come term by term, oldest first, as the register was filled in; the
//! term in progress comes last and is only partly entered, which is where the
//! exact row count is met. Dirt follows at the end: rows of re-imported
//! students, rows whose student or subject is gone, and the re-import
//! duplicates that DATA.md's "re-imports left duplicate rows behind" means.

use std::collections::BTreeSet;

use super::dice::{Dice, Selector};
use super::population::{Course, DANGLING_BASE, Grading, Population, timestamp};
use super::rows::JournalRow;
use super::volumes::share;
use super::{CURRENT_YEAR, GenerateError};

/// Where re-imported duplicates start: above 2^32, so ids must be bigint.
const REIMPORT_BASE: i64 = 5_000_000_000;
/// The very last re-import sits above 2^53, where JavaScript loses integers.
const LAST_REIMPORT_ID: i64 = 9_007_199_254_740_993;

/// How the journal's rows divide.
#[derive(Debug, Clone, Copy)]
pub struct JournalBudget {
    pub total: usize,
    pub natural: usize,
    pub reimports: usize,
    pub duplicate_student_rows: usize,
    pub missing_student: usize,
    pub null_student: usize,
    pub missing_subject: usize,
    pub null_subject: usize,
}

impl JournalBudget {
    /// The budget for `total` rows when the cohorts can hold `capacity`
    /// natural rows: re-import duplicates make up what they cannot hold (at
    /// least 2.2% of the table in any case).
    pub fn new(total: usize, capacity: usize) -> Result<JournalBudget, GenerateError> {
        let min_reimports = share(total, 22.0);
        let duplicate_student_rows = share(total, 5.0);
        let missing_student = share(total, 1.2);
        let null_student = share(total, 0.1);
        let missing_subject = share(total, 0.6);
        let null_subject = share(total, 0.04);
        let others = duplicate_student_rows
            + missing_student
            + null_student
            + missing_subject
            + null_subject;
        let room = total
            .checked_sub(others + min_reimports)
            .ok_or(GenerateError::Plan("journal volume too small".into()))?;
        let natural = room.min(capacity);
        Ok(JournalBudget {
            total,
            natural,
            reimports: total - others - natural,
            duplicate_student_rows,
            missing_student,
            null_student,
            missing_subject,
            null_subject,
        })
    }

    /// The natural rows wanted before knowing the cohorts' capacity.
    pub fn natural_target(total: usize) -> Result<usize, GenerateError> {
        Ok(JournalBudget::new(total, usize::MAX)?.natural)
    }
}

/// Natural rows the cohorts can hold: every member in every course of every
/// term they studied.
pub fn capacity(population: &Population) -> usize {
    population
        .cohorts
        .iter()
        .map(|cohort| cohort.members.len() * cohort.curriculum.iter().map(Vec::len).sum::<usize>())
        .sum()
}

/// Widens or narrows curricula so that the finished terms hold no more than
/// the natural target and all terms together hold at least it (as far as
/// the catalogs allow; the budget makes up any shortfall).
pub fn fit_curricula(population: &mut Population, natural: usize, seed: u64) {
    let mut dice = Dice::new(seed, "curricula");
    let cohorts = &mut population.cohorts;
    let mut total: usize = cohorts
        .iter()
        .map(|c| c.members.len() * c.curriculum.iter().map(Vec::len).sum::<usize>())
        .sum();
    let mut past: usize = cohorts
        .iter()
        .map(|c| {
            c.members.len()
                * c.curriculum[..c.past_semesters()]
                    .iter()
                    .map(Vec::len)
                    .sum::<usize>()
        })
        .sum();
    let mut slots: Vec<(usize, usize)> = cohorts
        .iter()
        .enumerate()
        .flat_map(|(index, cohort)| (0..cohort.semesters).map(move |semester| (index, semester)))
        .collect();
    dice.shuffle(&mut slots);
    // Widen: one spare course per term and pass, until there is room enough.
    while total < natural {
        let mut widened = false;
        for &(index, semester) in &slots {
            if total >= natural {
                break;
            }
            let cohort = &mut cohorts[index];
            let taken: BTreeSet<i32> = cohort.curriculum[semester]
                .iter()
                .map(|c| c.subject_id)
                .collect();
            if let Some(course) = cohort
                .catalog
                .iter()
                .find(|c| !taken.contains(&c.subject_id))
                .cloned()
            {
                cohort.curriculum[semester].push(course);
                total += cohort.members.len();
                if semester < cohort.past_semesters() {
                    past += cohort.members.len();
                }
                widened = true;
            }
        }
        if !widened {
            break;
        }
    }
    // Narrow finished terms (never below six courses) until the term in
    // progress is where the count is met.
    while past > natural {
        let mut narrowed = false;
        for &(index, semester) in &slots {
            if past <= natural {
                break;
            }
            let cohort = &mut cohorts[index];
            if semester < cohort.past_semesters() && cohort.curriculum[semester].len() > 6 {
                cohort.curriculum[semester].pop();
                past -= cohort.members.len();
                narrowed = true;
            }
        }
        if !narrowed {
            break;
        }
    }
}

/// Streams the journal into `sink`; returns the number of rows written.
pub fn generate(
    population: &Population,
    budget: &JournalBudget,
    seed: u64,
    sink: &mut dyn FnMut(&JournalRow) -> Result<(), GenerateError>,
) -> Result<usize, GenerateError> {
    let mut dice = Dice::new(seed, "journal");
    let mut written = 0usize;
    let mut next_id: i64 = 1;
    let mut reimport_pick = Selector::new(budget.natural, budget.reimports);
    let mut reimports: Vec<JournalRow> = Vec::with_capacity(budget.reimports);

    // Terms, oldest first; each cohort joins the terms it studied.
    let mut terms: BTreeSet<(String, i16)> = BTreeSet::new();
    for cohort in &population.cohorts {
        for semester in 0..cohort.semesters {
            terms.insert(cohort.term(semester));
        }
    }
    'terms: for term in &terms {
        for cohort in &population.cohorts {
            let Some(semester) = (0..cohort.semesters).find(|s| &cohort.term(*s) == term) else {
                continue;
            };
            let finished = cohort.graduated || semester + 1 < cohort.semesters;
            for course in &cohort.curriculum[semester] {
                for &student in &cohort.members {
                    if written == budget.natural {
                        break 'terms;
                    }
                    if dice.chance(0.004) {
                        next_id += 1;
                    }
                    let mut row = natural_row(
                        &mut dice,
                        next_id,
                        student,
                        cohort.group_id,
                        course,
                        term,
                        finished,
                    );
                    next_id += 1;
                    if reimport_pick.next(&mut dice) {
                        reimports.push(reimport_of(&mut dice, &mut row));
                    }
                    sink(&row)?;
                    written += 1;
                }
            }
        }
    }
    if written != budget.natural {
        return Err(GenerateError::Count {
            table: "journal (natural rows)",
            built: written,
            wanted: budget.natural,
        });
    }

    // Rows of re-imported students: mostly the same courses their survivor
    // took, so they merge; now and then one the survivor lacks.
    let duplicates = &population.duplicate_students;
    for index in 0..budget.duplicate_student_rows {
        let Some(duplicate) = duplicates.get(index % duplicates.len().max(1)) else {
            break;
        };
        let cohort = &population.cohorts[duplicate.cohort];
        let semester = cohort
            .semesters
            .saturating_sub(1 + usize::from(dice.chance(0.2)));
        let courses = &cohort.curriculum[semester];
        let course = &courses[(index / duplicates.len().max(1)) % courses.len().max(1)];
        let finished = cohort.graduated || semester + 1 < cohort.semesters;
        let row = natural_row(
            &mut dice,
            next_id,
            duplicate.id,
            cohort.group_id,
            course,
            &cohort.term(semester),
            finished,
        );
        next_id += 1;
        sink(&row)?;
        written += 1;
    }

    // Rows pointing nowhere.
    let orphan_kinds = [
        (budget.missing_student, Orphan::MissingStudent),
        (budget.null_student, Orphan::NullStudent),
        (budget.missing_subject, Orphan::MissingSubject),
        (budget.null_subject, Orphan::NullSubject),
    ];
    for (count, kind) in orphan_kinds {
        for index in 0..count {
            let cohort = &population.cohorts[dice.index(population.cohorts.len())];
            let semester = dice.index(cohort.past_semesters().max(1));
            let courses = &cohort.curriculum[semester];
            let course = &courses[dice.index(courses.len())];
            let member = cohort
                .members
                .get(dice.index(cohort.members.len()))
                .copied()
                .unwrap_or(1);
            let mut row = natural_row(
                &mut dice,
                next_id,
                member,
                cohort.group_id,
                course,
                &cohort.term(semester),
                true,
            );
            next_id += 1;
            let offset = i32::try_from(index).unwrap_or(0);
            match kind {
                Orphan::MissingStudent => row.student_id = Some(DANGLING_BASE + 50_000 + offset),
                Orphan::NullStudent => row.student_id = None,
                Orphan::MissingSubject => row.subject_id = Some(DANGLING_BASE + 30_000 + offset),
                Orphan::NullSubject => row.subject_id = None,
            }
            sink(&row)?;
            written += 1;
        }
    }

    // The re-import duplicates, last and with the highest ids.
    let last = reimports.len();
    for (index, mut row) in reimports.into_iter().enumerate() {
        row.id = if index + 1 == last {
            LAST_REIMPORT_ID
        } else {
            REIMPORT_BASE + i64::try_from(index).unwrap_or(0)
        };
        sink(&row)?;
        written += 1;
    }
    if written != budget.total {
        return Err(GenerateError::Count {
            table: "journal",
            built: written,
            wanted: budget.total,
        });
    }
    Ok(written)
}

#[derive(Debug, Clone, Copy)]
enum Orphan {
    MissingStudent,
    NullStudent,
    MissingSubject,
    NullSubject,
}

fn natural_row(
    dice: &mut Dice,
    id: i64,
    student: i32,
    group_id: i32,
    course: &Course,
    term: &(String, i16),
    finished: bool,
) -> JournalRow {
    let (academic_year, semester) = term;
    let year: i32 = academic_year
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(CURRENT_YEAR);
    let status = if finished {
        match dice.weighted(&[(880, 0), (20, 1), (10, 2), (30, 3), (55, 4), (5, 5)]) {
            0 => Some("completed"),
            1 => Some("COMPLETED"),
            2 => Some(" Completed "),
            3 => Some("dropped"),
            4 => None,
            _ => Some(*dice.pick(&["перезачет", "transfer"])),
        }
    } else {
        match dice.weighted(&[(850, 0), (70, 1), (80, 2)]) {
            0 => Some("active"),
            1 => Some("ACTIVE"),
            _ => None,
        }
    };
    let mark_final = if finished {
        final_mark(dice, course.grading, status == Some("dropped"))
    } else {
        None
    };
    let mark_current = if finished {
        mark_final.clone().filter(|_| dice.chance(0.4))
    } else {
        dice.chance(0.55)
            .then(|| (*dice.pick(&["5", "4", "4", "3", "5", "2"])).to_owned())
    };
    let (update_year, month) = if *semester == 1 {
        (year, "12")
    } else {
        (year + 1, "06")
    };
    JournalRow {
        id,
        student_id: Some(student),
        subject_id: Some(course.subject_id),
        group_id: (!dice.chance(0.01)).then_some(group_id),
        teacher_id: course.teacher_id,
        academic_year: academic_year.clone(),
        semester: *semester,
        status: status.map(str::to_owned),
        mark_current,
        mark_final,
        updated_at: (!dice.chance(0.02)).then(|| {
            let stamp = timestamp(dice, update_year);
            format!("{update_year}-{month}{}", &stamp[7..])
        }),
    }
}

fn final_mark(dice: &mut Dice, grading: Grading, dropped: bool) -> Option<String> {
    if dropped && dice.chance(0.8) {
        return None;
    }
    match dice.weighted(&[(970, 0), (15, 1), (12, 2), (3, 3)]) {
        1 => return Some(["", " "][dice.index(2)].to_owned()),
        2 => return None,
        3 => {
            return Some((*dice.pick(&["н/я", "4.5", "отл", "5+", "osv", "-1", "101"])).to_owned());
        }
        _ => {}
    }
    Some(match grading {
        Grading::FivePoint => {
            (*dice.pick(&["5", "5", "5", "4", "4", "4", "4", "3", "3", "3", "2"])).to_owned()
        }
        Grading::Percent => {
            if dice.chance(0.01) {
                "0".to_owned()
            } else {
                (40 + dice.index(61)).to_string()
            }
        }
        Grading::PassFail => match dice.weighted(&[(92, 0), (5, 1), (2, 2), (1, 3)]) {
            0 => "зачет",
            1 => "незачет",
            2 => "Зачет",
            _ => "ЗАЧЕТ",
        }
        .to_owned(),
        Grading::Letter => (*dice.pick(&[
            "A", "A-", "B+", "B", "B", "B-", "C+", "C", "C-", "D+", "D", "F", "b+",
        ]))
        .to_owned(),
    })
}

/// A re-import duplicate of `original`. Some originals lose their mark, so
/// that the survivor of the pair is the blank one; some duplicates carry a
/// padded academic year or another status spelling.
fn reimport_of(dice: &mut Dice, original: &mut JournalRow) -> JournalRow {
    let mut duplicate = original.clone();
    match dice.weighted(&[(30, 0), (30, 1), (25, 2), (10, 3), (5, 4)]) {
        0 if original.mark_final.is_some() => {
            original.mark_final = if dice.chance(0.5) {
                Some(String::new())
            } else {
                None
            };
        }
        1 => duplicate.mark_final = Some((*dice.pick(&["5", "4", "3"])).to_owned()),
        2 => duplicate.status = duplicate.status.map(|status| status.to_uppercase()),
        3 => duplicate.academic_year = format!(" {} ", duplicate.academic_year),
        _ => duplicate.updated_at = Some(timestamp(dice, CURRENT_YEAR)),
    }
    duplicate
}
