//! Deltas that move natural keys between surviving rows (course keys, the
//! assessment and student of a submission, logins and emails) apply, within
//! and across chunks, at any chunk size and number of parallel chunks.

mod support;

use lms_engine::ConflictKind;
use lms_engine::ConflictPolicy::{KeepLms, TakeLegacy};
use lms_engine::RunStatus;
use proptest::prelude::*;
use support::school::{lms_value, migrated_school};
use support::{Fixture, entity, ledger};

/// (chunk size, chunks in parallel): one row per chunk on two workers, and
/// everything in one chunk.
const SHAPES: [(u32, usize); 2] = [(1, 2), (1_000, 1)];

async fn course_of(fixture: &Fixture, journal_id: i64) -> anyhow::Result<Option<String>> {
    lms_value(fixture.lms(), "course_enrollments", "course_id", journal_id).await
}

#[tokio::test]
async fn two_rows_of_one_student_swapping_semesters_swap_courses() -> anyhow::Result<()> {
    for (chunk_size, parallel) in SHAPES {
        let fixture = migrated_school("semswap").await?;
        let (first, second) = (
            course_of(&fixture, 100).await?,
            course_of(&fixture, 101).await?,
        );
        fixture
            .legacy_sql("UPDATE journal SET semester = 3 - semester WHERE id IN (100, 101)")
            .await?;

        let report = fixture.rerun(chunk_size, KeepLms, parallel).await?;

        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        assert_eq!(
            course_of(&fixture, 100).await?,
            second,
            "chunk size {chunk_size}"
        );
        assert_eq!(
            course_of(&fixture, 101).await?,
            first,
            "chunk size {chunk_size}"
        );
        assert_eq!(entity(&report, "journal").changes.updated, 2);
        // The grades stay with their rows.
        let mark = lms_value(fixture.lms(), "grades", "raw_mark", 100).await?;
        assert_eq!(mark.as_deref(), Some("5"));
        fixture.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn two_results_swapping_students_swap_submissions() -> anyhow::Result<()> {
    for (chunk_size, parallel) in SHAPES {
        let fixture = migrated_school("resultswap").await?;
        let student = |id| lms_value(fixture.lms(), "assessment_submissions", "student_id", id);
        let (first, second) = (student(300).await?, student(301).await?);
        fixture
            .legacy_sql(
                "UPDATE exam_results SET student_id = 21 - student_id WHERE id IN (300, 301)",
            )
            .await?;

        let report = fixture.rerun(chunk_size, KeepLms, parallel).await?;

        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        assert_eq!(student(300).await?, second);
        assert_eq!(student(301).await?, first);
        fixture.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn logins_and_emails_swap_and_hand_over_between_users() -> anyhow::Result<()> {
    for (chunk_size, parallel) in SHAPES {
        let fixture = migrated_school("loginswap").await?;
        // 1 and 2 swap emails; 1 hands its login to 2 and takes a new one;
        // a new user takes 2's old login.
        fixture
            .legacy_sql(
                "UPDATE users SET email = CASE id WHEN 1 THEN 'beta@mail.kz' ELSE 'alpha@mail.kz' END, \
                                  login = CASE id WHEN 1 THEN 'omega' ELSE 'alpha' END WHERE id IN (1, 2); \
                 INSERT INTO users (id, login, role) VALUES (8, 'BETA', 'student');",
            )
            .await?;

        let report = fixture.rerun(chunk_size, KeepLms, parallel).await?;

        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
        let user = |id, column| lms_value(fixture.lms(), "users", column, id);
        assert_eq!(user(1, "login").await?.as_deref(), Some("omega"));
        assert_eq!(user(2, "login").await?.as_deref(), Some("alpha"));
        assert_eq!(user(8, "login").await?.as_deref(), Some("BETA"));
        assert_eq!(user(1, "email").await?.as_deref(), Some("beta@mail.kz"));
        assert_eq!(user(2, "email").await?.as_deref(), Some("alpha@mail.kz"));
        fixture.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_key_move_blocked_by_a_kept_conflict_waits_and_take_legacy_moves_both()
-> anyhow::Result<()> {
    let fixture = migrated_school("blocked").await?;
    let (first, second) = (
        course_of(&fixture, 100).await?,
        course_of(&fixture, 101).await?,
    );
    // Row 100's enrollment is edited in the LMS; legacy swaps the semesters.
    fixture
        .lms_sql("UPDATE course_enrollments SET status = 'dropped' WHERE legacy_id = 100")
        .await?;
    fixture
        .legacy_sql("UPDATE journal SET semester = 3 - semester WHERE id IN (100, 101)")
        .await?;

    let kept = fixture.rerun(1, KeepLms, 2).await?;

    assert_eq!(kept.status, RunStatus::Succeeded, "{:?}", kept.error);
    assert_eq!(
        course_of(&fixture, 100).await?,
        first,
        "kept by its conflict"
    );
    assert_eq!(course_of(&fixture, 101).await?, second, "blocked by 100");
    let kinds: Vec<(i64, ConflictKind)> = entity(&kept, "journal")
        .open_conflicts
        .iter()
        .map(|conflict| (conflict.legacy_id, conflict.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (100, ConflictKind::LmsEdited),
            (101, ConflictKind::KeyTaken)
        ]
    );

    let taken = fixture.rerun(1, TakeLegacy, 2).await?;

    assert_eq!(taken.status, RunStatus::Succeeded, "{:?}", taken.error);
    assert_eq!(course_of(&fixture, 100).await?, second);
    assert_eq!(course_of(&fixture, 101).await?, first);
    assert!(entity(&taken, "journal").open_conflicts.is_empty());
    fixture.close().await
}

#[tokio::test]
async fn a_new_row_whose_key_a_kept_conflict_holds_waits_without_failing() -> anyhow::Result<()> {
    let fixture = migrated_school("newblocked").await?;
    // Row 102 moves to semester 2, but its LMS row was edited: it keeps
    // semester 1's course, which a new legacy row now wants.
    fixture
        .lms_sql("UPDATE course_enrollments SET status = 'dropped' WHERE legacy_id = 102")
        .await?;
    fixture
        .legacy_sql(
            "UPDATE journal SET semester = 2 WHERE id = 102; \
             INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status) \
                 VALUES (106, 11, 1, 1, '2024-2025', 1, 'active');",
        )
        .await?;

    let report = fixture.rerun(1, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let row = ledger(fixture.lms(), "journal", 106).await?;
    assert_eq!((row.outcome.as_str(), row.target_id), ("migrated", None));
    assert_eq!(entity(&report, "journal").changes.conflicts, 2);

    fixture.rerun(1, TakeLegacy, 2).await?;
    assert!(
        ledger(fixture.lms(), "journal", 106)
            .await?
            .target_id
            .is_some()
    );
    fixture.close().await
}

/// One journal row of student 10 in subject 1: its semester and year.
#[derive(Debug, Clone, Copy)]
struct Term {
    semester: i16,
    year: u8,
}

fn terms(count: usize) -> impl Strategy<Value = Vec<Term>> {
    proptest::collection::vec((1_i16..=2, 0_u8..3), count).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(semester, year)| Term { semester, year })
            .collect()
    })
}

fn journal_sql(terms: &[Term]) -> String {
    let rows: Vec<String> = terms
        .iter()
        .enumerate()
        .map(|(index, term)| {
            format!(
                "({}, 10, 1, 1, '202{}-202{}', {}, 'active', '{}')",
                200 + index,
                term.year,
                term.year + 1,
                term.semester,
                2 + index % 4
            )
        })
        .collect();
    format!(
        "DELETE FROM journal WHERE id >= 200; \
         INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status, mark_final) VALUES {};",
        rows.join(", ")
    )
}

proptest! {
    // PROPTEST_CASES runs more cases than the 6 a `make test` affords.
    #![proptest_config(ProptestConfig { cases: support::proptest_cases(6), ..ProptestConfig::default() })]

    /// Any reshuffle of course keys among one student's rows (duplicates
    /// included: survivors change too) applies and leaves nothing to do.
    #[test]
    fn any_reshuffle_of_course_keys_applies(
        before in terms(6),
        after in terms(6),
        shape in prop::sample::select(vec![(1_u32, 2_usize), (2, 2), (1_000, 1)]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let fixture = migrated_school("reshuffle").await?;
            fixture.legacy_sql(&journal_sql(&before)).await?;
            let first = fixture.rerun(shape.0, KeepLms, shape.1).await?;
            anyhow::ensure!(first.status == RunStatus::Succeeded, "{:?}", first.error);
            fixture.legacy_sql(&journal_sql(&after)).await?;
            let second = fixture.rerun(shape.0, KeepLms, shape.1).await?;
            anyhow::ensure!(second.status == RunStatus::Succeeded, "{:?}", second.error);
            let live: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM migration.ledger WHERE entity = 'journal' AND outcome = 'migrated' \
                 AND source_deleted_at IS NULL AND target_id IS NULL",
            )
            .fetch_one(fixture.lms())
            .await?;
            anyhow::ensure!(live == 0, "{live} migrated rows without an LMS row");
            let third = fixture.rerun(shape.0, KeepLms, shape.1).await?;
            let changes = entity(&third, "journal").changes;
            anyhow::ensure!(
                (changes.created, changes.updated, changes.conflicts) == (0, 0, 0),
                "a third run still changed {changes:?}"
            );
            fixture.close().await
        }).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
    }
}
