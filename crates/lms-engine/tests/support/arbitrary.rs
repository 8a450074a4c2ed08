//! Legacy databases drawn over the full range of every column's type: ids
//! at the ends of `integer` and `bigint`, every `smallint`, timestamps and
//! dates from 4713 BC to the end of their types and the infinities,
//! `numeric` values including `NaN`, any text (white space, case variants
//! that fold together, Kazakh and Greek letters, text one parser takes and
//! another refuses), references that point at rows, at nothing, or nowhere.

use proptest::prelude::*;

/// One legacy table's rows, as SQL literals in the table's column order.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static str,
    pub rows: Vec<Vec<String>>,
}

/// A whole legacy database.
#[derive(Debug, Clone)]
pub struct LegacyDatabase {
    pub tables: Vec<Table>,
}

impl LegacyDatabase {
    /// INSERT statements for every table.
    pub fn sql(&self) -> String {
        let mut sql = String::new();
        for table in &self.tables {
            if table.rows.is_empty() {
                continue;
            }
            let rows: Vec<String> = table
                .rows
                .iter()
                .map(|row| format!("({})", row.join(", ")))
                .collect();
            sql.push_str(&format!(
                "INSERT INTO {} ({}) VALUES {};\n",
                table.name,
                table.columns,
                rows.join(", ")
            ));
        }
        sql
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn opt(value: Option<String>) -> String {
    value.unwrap_or_else(|| "NULL".to_owned())
}

/// Text of any kind PostgreSQL's `text` holds (no NUL), biased towards
/// what breaks rules: blanks, padding, case variants, letters whose case
/// folding differs between libraries.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "\\PC{0,10}",
        1 => Just(String::new()),
        1 => "[ \t\r\n\u{a0}\u{3000}]{1,3}",
        1 => prop::sample::select(vec![
            "İ", "i̇", "ΑΣ", "ας", "ß", "SS", "Ә", "ә", "ǅ", "ﬁ", "K", "k", "Ω", "ω",
        ])
        .prop_map(str::to_owned),
        1 => ("[ \t]{0,2}", "\\PC{1,6}", "[ \t]{0,2}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
    .prop_map(|text| text.replace('\0', ""))
    .boxed()
}

fn opt_text() -> BoxedStrategy<String> {
    prop::option::weighted(0.8, text())
        .prop_map(|text| opt(text.as_deref().map(quote)))
        .boxed()
}

fn varchar(limit: usize) -> BoxedStrategy<String> {
    prop::option::weighted(0.8, text())
        .prop_map(move |text| {
            opt(text.map(|text| quote(&text.chars().take(limit).collect::<String>())))
        })
        .boxed()
}

/// A `timestamp` literal anywhere in the type's range, or an infinity.
fn timestamp() -> BoxedStrategy<String> {
    let years = prop_oneof![3 => 1_i32..=9999, 1 => 10_000_i32..=294_275, 1 => -4712_i32..=0];
    prop_oneof![
        5 => (years, 1_u32..=12, 1_u32..=28, 0_u32..24, 0_u32..60)
            .prop_map(|(year, month, day, hour, minute)| instant(year, month, day, Some((hour, minute)))),
        1 => prop::sample::select(vec![
            "'infinity'", "'-infinity'", "'294276-12-31 23:59:59.999999'", "'4713-01-01 00:00:00 BC'",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// A `date` literal anywhere in the type's range, or an infinity.
fn date() -> BoxedStrategy<String> {
    let years = prop_oneof![3 => 1_i32..=9999, 1 => 10_000_i32..=5_874_896, 1 => -4712_i32..=0];
    prop_oneof![
        5 => (years, 1_u32..=12, 1_u32..=28).prop_map(|(year, month, day)| instant(year, month, day, None)),
        1 => prop::sample::select(vec!["'infinity'", "'-infinity'", "'5874897-12-31'"]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// PostgreSQL's ISO spelling; astronomical year 0 is 1 BC.
fn instant(year: i32, month: u32, day: u32, time: Option<(u32, u32)>) -> String {
    let (shown, era) = if year <= 0 {
        (1 - year, " BC")
    } else {
        (year, "")
    };
    match time {
        Some((hour, minute)) => {
            format!("'{shown:04}-{month:02}-{day:02} {hour:02}:{minute:02}:00{era}'")
        }
        None => format!("'{shown:04}-{month:02}-{day:02}{era}'"),
    }
}

fn opt_of(strategy: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop::option::weighted(0.8, strategy).prop_map(opt).boxed()
}

/// A `numeric(precision, scale)` value anywhere in its range, or `NaN`.
fn numeric(precision: u32, scale: u32) -> BoxedStrategy<String> {
    let limit = 10_i64.pow(precision) - 1;
    prop_oneof![
        6 => (-limit..=limit).prop_map(move |units| {
            let value = decimal_text(units, scale);
            format!("'{value}'")
        }),
        1 => Just("'NaN'".to_owned()),
        1 => Just(format!("'{}'", decimal_text(limit, scale))),
        1 => Just(format!("'{}'", decimal_text(-limit, scale))),
    ]
    .boxed()
}

/// `units / 10^scale` written out.
fn decimal_text(units: i64, scale: u32) -> String {
    let divisor = 10_i64.pow(scale);
    let sign = if units < 0 { "-" } else { "" };
    let (whole, fraction) = (units.abs() / divisor, units.abs() % divisor);
    if scale == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction:0width$}", width = scale as usize)
    }
}

fn smallint() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<i16>().prop_map(|value| value.to_string()),
        1 => prop::sample::select(vec![i16::MIN, -1, 0, 1, 2, 3, 5, i16::MAX]).prop_map(|value| value.to_string()),
    ]
    .boxed()
}

/// Distinct ids for a table, the ends of the type among them.
fn ids(count: usize, wide: bool) -> BoxedStrategy<Vec<i64>> {
    let edges: Vec<i64> = if wide {
        vec![
            i64::MIN,
            -1,
            0,
            1,
            i64::from(i32::MAX) + 1,
            9_007_199_254_740_993,
            i64::MAX,
        ]
    } else {
        vec![i64::from(i32::MIN), -1, 0, 1, i64::from(i32::MAX)]
    };
    let any_id = if wide {
        any::<i64>().boxed()
    } else {
        any::<i32>().prop_map(i64::from).boxed()
    };
    prop::collection::btree_set(
        prop_oneof![2 => prop::sample::select(edges), 3 => any_id, 3 => 1_i64..40],
        0..=count,
    )
    .prop_map(|ids| ids.into_iter().collect())
    .boxed()
}

/// A reference: to one of `targets`, to nothing, or NULL.
fn reference(targets: &[i64]) -> BoxedStrategy<String> {
    let targets = targets.to_vec();
    let pointing = if targets.is_empty() {
        Just("NULL".to_owned()).boxed()
    } else {
        prop::sample::select(targets)
            .prop_map(|id| id.to_string())
            .boxed()
    };
    prop_oneof![
        6 => pointing,
        1 => Just("NULL".to_owned()),
        1 => any::<i32>().prop_map(|id| id.to_string()),
    ]
    .boxed()
}

fn login() -> BoxedStrategy<String> {
    prop_oneof![
        2 => text(),
        3 => prop::sample::select(vec![
            "ivan", "IVAN", " Ivan ", "ivan.1", "IVAN.1.1", "ivan.0", "student.1", "STUDENT.1.1", "staff.0",
            "user.1", "İvan", "i̇van", "ΑΣ", "ας", "αΣ",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_map(|login| quote(&login))
    .boxed()
}

fn email() -> BoxedStrategy<String> {
    prop_oneof![
        2 => opt_text(),
        3 => prop::sample::select(vec![
            "a@b.kz", " A@B.KZ ", "a@b.kz ", "İ@b.kz", "i̇@b.kz", "ß@b.de", "SS@b.de", "not-an-email", "",
        ])
        .prop_map(quote),
    ]
    .boxed()
}

fn answers() -> BoxedStrategy<String> {
    prop_oneof![
        2 => opt_text(),
        3 => prop::sample::select(vec![
            r#"{"q": 1}"#, "[1e-16384]", "[1e400]", r#"{"a": "\u0000"}"#, r#""\ud800""#, "[0e-16384]",
            "[1e131071]", "{q: 1", "[]", "null", "  {\"a\": [1, 2.50, -0]}  ", "[1e-400]",
        ])
        .prop_map(quote),
    ]
    .boxed()
}

fn mark() -> BoxedStrategy<String> {
    prop_oneof![
        2 => opt_text(),
        3 => prop::sample::select(vec!["5", " 4 ", "2", "0", "100", "101", "-1", "зачет", "НЕЗАЧЕТ", "A+", "f-", "05", ""])
            .prop_map(quote),
    ]
    .boxed()
}

fn status() -> BoxedStrategy<String> {
    prop_oneof![
        2 => opt_text(),
        3 => prop::sample::select(vec!["active", " ACTIVE ", "dropped", "completed", "expelled", "graduated",
            "academic_leave", "submitted", "graded", "Annulled", "weird"])
            .prop_map(quote),
    ]
    .boxed()
}

fn role() -> BoxedStrategy<String> {
    prop_oneof![
        1 => text(),
        3 => prop::sample::select(vec!["student", " Teacher ", "ADMIN", "parent", "methodist", "other", "Director"])
            .prop_map(str::to_owned),
    ]
    .prop_map(|role| quote(&role))
    .boxed()
}

fn boolean() -> BoxedStrategy<String> {
    any::<bool>().prop_map(|value| value.to_string()).boxed()
}

/// Rows for `ids`, each drawn from `row`.
fn rows(ids: Vec<i64>, row: BoxedStrategy<Vec<String>>) -> BoxedStrategy<Vec<Vec<String>>> {
    let count = ids.len();
    prop::collection::vec(row, count)
        .prop_map(move |rows| {
            ids.iter()
                .zip(rows)
                .map(|(id, mut row)| {
                    row.insert(0, id.to_string());
                    row
                })
                .collect()
        })
        .boxed()
}

/// The ids of every table, drawn first so that references can point at them.
#[derive(Debug, Clone)]
struct Ids {
    organizations: Vec<i64>,
    persons: Vec<i64>,
    users: Vec<i64>,
    groups: Vec<i64>,
    subjects: Vec<i64>,
    students: Vec<i64>,
    teachers: Vec<i64>,
    exams: Vec<i64>,
    journal: Vec<i64>,
    results: Vec<i64>,
}

fn all_ids(size: usize) -> BoxedStrategy<Ids> {
    let narrow = || ids(size, false);
    (
        (narrow(), narrow(), narrow(), narrow(), narrow()),
        (
            narrow(),
            narrow(),
            narrow(),
            ids(size * 3, true),
            ids(size * 2, true),
        ),
    )
        .prop_map(
            |(
                (organizations, persons, users, groups, subjects),
                (students, teachers, exams, journal, results),
            )| Ids {
                organizations,
                persons,
                users,
                groups,
                subjects,
                students,
                teachers,
                exams,
                journal,
                results,
            },
        )
        .boxed()
}

fn quoted_text() -> BoxedStrategy<String> {
    text().prop_map(|text| quote(&text)).boxed()
}

fn organizations(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.organizations),
        quoted_text(),
        opt_text(),
        opt_text(),
        varchar(12),
        boolean(),
        opt_of(timestamp()),
    )
        .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g]);
    rows(ids.organizations.clone(), row.boxed())
}

fn persons(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        opt_text(),
        opt_text(),
        opt_text(),
        varchar(12),
        opt_text(),
        varchar(1),
        opt_text(),
        opt_of(timestamp()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| vec![a, b, c, d, e, f, g, h]);
    rows(ids.persons.clone(), row.boxed())
}

fn users(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        login(),
        email(),
        opt_text(),
        reference(&ids.persons),
        role(),
        boolean(),
        opt_of(timestamp()),
        opt_of(timestamp()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| vec![a, b, c, d, e, f, g, h]);
    rows(ids.users.clone(), row.boxed())
}

fn groups(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.organizations),
        quoted_text(),
        opt_of(smallint()),
        reference(&ids.teachers),
        opt_text(),
    )
        .prop_map(|(a, b, c, d, e)| vec![a, b, c, d, e]);
    rows(ids.groups.clone(), row.boxed())
}

fn subjects(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.organizations),
        quoted_text(),
        opt_text(),
        opt_of(numeric(4, 1)),
    )
        .prop_map(|(a, b, c, d)| vec![a, b, c, d]);
    rows(ids.subjects.clone(), row.boxed())
}

fn students(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.users),
        reference(&ids.persons),
        reference(&ids.organizations),
        reference(&ids.groups),
        opt_of(smallint()),
        status(),
        opt_text(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g]);
    rows(ids.students.clone(), row.boxed())
}

fn teachers(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.users),
        reference(&ids.persons),
        reference(&ids.organizations),
        opt_text(),
        opt_of(date()),
        opt_of(date()),
    )
        .prop_map(|(a, b, c, d, e, f)| vec![a, b, c, d, e, f]);
    rows(ids.teachers.clone(), row.boxed())
}

fn exams(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.subjects),
        reference(&ids.groups),
        reference(&ids.teachers),
        quoted_text(),
        status(),
        opt_of(date()),
        opt_of(numeric(6, 2)),
    )
        .prop_map(|(a, b, c, d, e, f, g)| vec![a, b, c, d, e, f, g]);
    rows(ids.exams.clone(), row.boxed())
}

fn academic_year() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["2023-2024", " 2023-2024 ", "2024-2025"]).prop_map(quote),
        1 => quoted_text(),
    ]
    .boxed()
}

fn semester() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec!["1", "2"]).prop_map(str::to_owned),
        1 => smallint(),
    ]
    .boxed()
}

fn journal(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        (
            reference(&ids.students),
            reference(&ids.subjects),
            reference(&ids.groups),
            reference(&ids.teachers),
            academic_year(),
        ),
        (semester(), status(), mark(), mark(), opt_of(timestamp())),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i, j))| vec![a, b, c, d, e, f, g, h, i, j]);
    rows(ids.journal.clone(), row.boxed())
}

fn results(ids: &Ids) -> BoxedStrategy<Vec<Vec<String>>> {
    let row = (
        reference(&ids.exams),
        reference(&ids.students),
        opt_of(numeric(6, 2)),
        opt_of(timestamp()),
        status(),
        answers(),
    )
        .prop_map(|(a, b, c, d, e, f)| vec![a, b, c, d, e, f]);
    rows(ids.results.clone(), row.boxed())
}

fn table(name: &'static str, columns: &'static str, rows: Vec<Vec<String>>) -> Table {
    Table {
        name,
        columns,
        rows,
    }
}

/// A legacy database of up to `size` rows per table (three times as many
/// journal rows, twice as many results).
pub fn legacy_database(size: usize) -> BoxedStrategy<LegacyDatabase> {
    all_ids(size)
        .prop_flat_map(|ids| {
            (
                (organizations(&ids), persons(&ids), users(&ids), groups(&ids), subjects(&ids)),
                (students(&ids), teachers(&ids), exams(&ids), journal(&ids), results(&ids)),
            )
        })
        .prop_map(|((o, p, u, g, s), (st, t, e, j, r))| LegacyDatabase {
            tables: vec![
                table("organizations", "id, parent_id, name, short_name, org_type, bin, is_deleted, created_at", o),
                table("persons", "id, last_name, first_name, middle_name, iin, birth_date, gender, phone, created_at", p),
                table("users", "id, login, email, password_hash, person_id, role, is_active, created_at, last_login_at", u),
                table("groups", "id, organization_id, name, course_no, curator_teacher_id, academic_year", g),
                table("subjects", "id, organization_id, name, code, credits", s),
                table("students", "id, user_id, person_id, organization_id, group_id, admission_year, status, record_book_no", st),
                table("teachers", "id, user_id, person_id, organization_id, position, hired_at, fired_at", t),
                table("exams", "id, subject_id, group_id, teacher_id, title, exam_type, exam_date, max_score", e),
                table("journal", "id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_current, mark_final, updated_at", j),
                table("exam_results", "id, exam_id, student_id, score, submitted_at, status, answers", r),
            ],
        })
        .boxed()
}
