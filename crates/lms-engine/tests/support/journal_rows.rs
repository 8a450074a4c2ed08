//! Generated legacy journals for the delta properties: a first state of
//! rows (ids from 200, beside the school's 100-103), and a second one that
//! keeps, rewrites or deletes each and adds a few (ids from 300). Few
//! distinct keys, so that rows often share one.

use proptest::prelude::*;

/// One generated legacy journal row.
#[derive(Debug, Clone)]
pub struct JournalRow {
    /// 10, 11, 12 (merged into 10 or 11, where the test creates it), or 99
    /// (no such student).
    pub student: i64,
    /// 1, 2, or 9 (no such subject).
    pub subject: i64,
    pub group: Option<i64>,
    pub year: u8,
    pub semester: i16,
}

pub fn journal_row() -> impl Strategy<Value = JournalRow> {
    (
        prop::sample::select(vec![10_i64, 11, 12, 99]),
        prop::sample::select(vec![1_i64, 2, 9]),
        prop_oneof![4 => Just(Some(1_i64)), 1 => Just(None)],
        prop_oneof![4 => Just(0_u8), 1 => Just(1)],
        1_i16..=2,
    )
        .prop_map(|(student, subject, group, year, semester)| JournalRow {
            student,
            subject,
            group,
            year,
            semester,
        })
}

/// What the second legacy state does with a row of the first.
#[derive(Debug, Clone)]
pub enum Edit {
    Keep,
    Replace(JournalRow),
    Delete,
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::Keep),
        2 => journal_row().prop_map(Edit::Replace),
        1 => Just(Edit::Delete),
    ]
}

/// The first state: `rows` with ids from 200.
pub fn first_state(rows: Vec<JournalRow>) -> Vec<(i64, JournalRow)> {
    (200..).zip(rows).collect()
}

/// The second state: `first` with `edits` made, and `added` with ids from
/// 300.
pub fn second_state(
    first: &[(i64, JournalRow)],
    edits: &[Edit],
    added: Vec<JournalRow>,
) -> Vec<(i64, JournalRow)> {
    let mut second: Vec<(i64, JournalRow)> = first
        .iter()
        .zip(edits)
        .filter_map(|((id, row), edit)| match edit {
            Edit::Keep => Some((*id, row.clone())),
            Edit::Replace(row) => Some((*id, row.clone())),
            Edit::Delete => None,
        })
        .collect();
    second.extend((300..).zip(added));
    second
}

/// Legacy SQL that makes the journal's generated rows (ids from 200)
/// these; each mark follows its id, so a new survivor brings a legacy
/// change.
pub fn journal_sql(rows: &[(i64, JournalRow)]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|(id, row)| {
            format!(
                "({id}, {}, {}, {}, '202{}-202{}', {}, 'active', '{}')",
                row.student,
                row.subject,
                row.group
                    .map_or("NULL".to_owned(), |group| group.to_string()),
                row.year,
                row.year + 1,
                row.semester,
                2 + id % 4
            )
        })
        .collect();
    let insert = if values.is_empty() {
        String::new()
    } else {
        format!(
            "INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status, mark_final) \
             VALUES {};",
            values.join(", ")
        )
    };
    format!("DELETE FROM journal WHERE id >= 200; {insert}")
}
