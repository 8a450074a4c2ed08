//! A delta run resolves only the journal rows it touched (the changed rows
//! and every row of the key groups they were in or are in now), and the
//! resolutions it leaves are those of resolving every row: checked by
//! making the next run resolve every row and write nothing.

// Rows read back from SQL are tuples; naming each shape would add nothing.
#![allow(clippy::type_complexity)]

mod support;

use lms_engine::ConflictPolicy::KeepLms;
use lms_engine::{CoverageReport, RunStatus};
use lms_legacy::Scale;
use proptest::prelude::*;
use support::journal_rows::{edit, first_state, journal_row, journal_sql, second_state};
use support::school::migrated_school;
use support::{Fixture, cancel_a_run_before, entity};

/// Legacy SQL adding student 12 with `person`: sharing student 10's
/// person (1) or student 11's (2), it is merged into that student, and its
/// journal rows attach to the survivor (and may merge with its own).
fn student_12(person: i64) -> String {
    format!(
        "INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) \
         VALUES (12, NULL, {person}, 1, 1, 'active')"
    )
}

/// The journal's resolutions and ledger outcomes, and its live enrollments'
/// students and courses.
async fn journal_state(
    fixture: &Fixture,
) -> anyhow::Result<(
    Vec<(i64, String, Option<String>, Option<i64>, Option<String>)>,
    Vec<(i64, String, Option<i64>)>,
    Vec<(i64, i64, i64)>,
)> {
    let resolutions = sqlx::query_as(
        "SELECT legacy_id, outcome, reason, survivor_legacy_id, detail FROM migration.resolutions \
         WHERE entity = 'journal' ORDER BY legacy_id",
    )
    .fetch_all(fixture.lms())
    .await?;
    let ledger = sqlx::query_as(
        "SELECT legacy_id, outcome, survivor_legacy_id FROM migration.ledger \
         WHERE entity = 'journal' AND source_deleted_at IS NULL ORDER BY legacy_id",
    )
    .fetch_all(fixture.lms())
    .await?;
    let enrollments = sqlx::query_as(
        "SELECT legacy_id, student_id, course_id FROM course_enrollments \
         WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL ORDER BY legacy_id",
    )
    .fetch_all(fixture.lms())
    .await?;
    Ok((resolutions, ledger, enrollments))
}

/// How many journal rows the run's resolve step resolved again (`None`:
/// it resolved every row, or skipped the table).
async fn resolved_again(fixture: &Fixture, report: &CoverageReport) -> anyhow::Result<Option<i64>> {
    let stats: serde_json::Value = sqlx::query_scalar(
        "SELECT c.stats FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'resolve'",
    )
    .bind(report.run_id)
    .fetch_one(fixture.lms())
    .await?;
    Ok(stats
        .get("resolved_again")
        .and_then(serde_json::Value::as_i64))
}

/// Runs once more with the journal's record of changes distrusted, so that
/// its resolve runs over every row; returns that run's report.
async fn rerun_resolving_every_row(
    fixture: &Fixture,
    chunk_size: u32,
    parallelism: usize,
) -> anyhow::Result<CoverageReport> {
    fixture
        .lms_sql("UPDATE migration.stage_state SET in_step = false WHERE entity = 'journal'")
        .await?;
    let report = fixture.rerun(chunk_size, KeepLms, parallelism).await?;
    anyhow::ensure!(
        report.status == RunStatus::Succeeded,
        "run over every row: {:?}",
        report.error
    );
    Ok(report)
}

/// Asserts that resolving every row changes nothing the touched run left.
async fn assert_same_as_every_row(fixture: &Fixture) -> anyhow::Result<()> {
    let touched = journal_state(fixture).await?;
    let every = rerun_resolving_every_row(fixture, 2, 2).await?;
    anyhow::ensure!(
        touched == journal_state(fixture).await?,
        "resolving every row gave other resolutions than the touched rows"
    );
    let changes = entity(&every, "journal").changes;
    anyhow::ensure!(
        (changes.created, changes.updated, changes.source_deleted) == (0, 0, 0),
        "resolving every row still changed {changes:?}"
    );
    Ok(())
}

/// The school, migrated, with rows 104 and 105 added with row 100's key
/// (100 survives, both merge into it) and migrated again.
async fn school_with_a_group_of_three(purpose: &str) -> anyhow::Result<Fixture> {
    let fixture = migrated_school(purpose).await?;
    fixture
        .legacy_sql(
            "INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status) \
             VALUES (104, 10, 1, 1, '2024-2025', 1, 'active'), (105, 10, 1, 1, '2024-2025', 1, 'active')",
        )
        .await?;
    let report = fixture.rerun(2, KeepLms, 2).await?;
    anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
    Ok(fixture)
}

/// The journal row a legacy journal row's ledger says it merged into.
async fn survivor_of(fixture: &Fixture, legacy_id: i64) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT survivor_legacy_id FROM migration.ledger WHERE entity = 'journal' AND legacy_id = $1",
    )
    .bind(legacy_id)
    .fetch_one(fixture.lms())
    .await?)
}

#[tokio::test]
async fn a_delta_resolves_only_the_key_groups_its_changes_touch() -> anyhow::Result<()> {
    let fixture = migrated_school("touched-groups").await?;
    // Student 10's two Math rows stand apart; a third, in Physics, is
    // nowhere near the change below.
    fixture
        .legacy_sql("UPDATE journal SET mark_final = '3' WHERE id = 100")
        .await?;
    let report = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(report.status, RunStatus::Succeeded);
    // Rows 100 and 101 share student 10 and Math: both are resolved again;
    // 102 and 103 (student 11) are not.
    assert_eq!(resolved_again(&fixture, &report).await?, Some(2));
    assert_same_as_every_row(&fixture).await?;
    fixture.close().await
}

#[tokio::test]
async fn a_survivor_that_moves_away_hands_its_group_to_the_next_lowest_id() -> anyhow::Result<()> {
    let fixture = school_with_a_group_of_three("survivor-moves").await?;
    // Row 100 survives 104 and 105; moved to Physics, it leaves them
    // behind, unchanged in legacy: 104 must survive and take 105.
    fixture
        .legacy_sql("UPDATE journal SET subject_id = 2 WHERE id = 100")
        .await?;
    let report = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(survivor_of(&fixture, 105).await?, Some(104));
    assert_same_as_every_row(&fixture).await?;
    fixture.close().await
}

#[tokio::test]
async fn a_run_abandoned_after_its_resolve_leaves_its_scope_to_the_next_run() -> anyhow::Result<()>
{
    let fixture = school_with_a_group_of_three("abandoned-scope").await?;
    // Row 100 leaves its group for Physics. A run resolves that (104 now
    // survives, 105 merges into it) and is cancelled before its apply.
    fixture
        .legacy_sql("UPDATE journal SET subject_id = 2 WHERE id = 100")
        .await?;
    cancel_a_run_before(&fixture, "journal", "apply").await?;
    // The next run touches only row 100: 104 and 105 are outside its key
    // groups, but their ledger still says what it said before.
    let report = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(survivor_of(&fixture, 105).await?, Some(104));
    assert_same_as_every_row(&fixture).await?;
    fixture.close().await
}

/// The LMS target a journal row's ledger row records.
async fn ledger_target(fixture: &Fixture, legacy_id: i64) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT target_id FROM migration.ledger WHERE entity = 'journal' AND legacy_id = $1",
    )
    .bind(legacy_id)
    .fetch_one(fixture.lms())
    .await?)
}

#[tokio::test]
async fn merged_rows_follow_a_survivor_that_a_cancelled_run_applied() -> anyhow::Result<()> {
    let fixture = school_with_a_group_of_three("follow-survivor").await?;
    let merged_into = ledger_target(&fixture, 100).await?;
    // The LMS deletes the survivor's enrollment. A run applies that to row
    // 100's ledger row and is cancelled before the journal's finalize,
    // which would have moved 104 and 105 with it.
    fixture
        .lms_sql("DELETE FROM course_enrollments WHERE legacy_id = 100")
        .await?;
    cancel_a_run_before(&fixture, "journal", "finalize").await?;
    let survivor = ledger_target(&fixture, 100).await?;
    assert_ne!(
        survivor, merged_into,
        "the cancelled run applied the survivor"
    );

    // The next run changes nothing in rows 100, 104 or 105: only the scope
    // the cancelled run left says the merged rows must follow.
    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(ledger_target(&fixture, 104).await?, survivor);
    assert_eq!(ledger_target(&fixture, 105).await?, survivor);
    fixture.close().await
}

#[tokio::test]
async fn a_scope_an_unfinished_run_left_is_caught_up_though_nothing_else_changed()
-> anyhow::Result<()> {
    let fixture = school_with_a_group_of_three("scope-left").await?;
    let survivor = ledger_target(&fixture, 100).await?;
    // As a run leaves the journal that applied survivor 100 for a change its
    // apply consumed (a conflict it settled) and stopped before the
    // journal's finalize: 100 in the scope, 104 and 105 not following yet.
    fixture
        .lms_sql(
            "UPDATE migration.ledger SET target_id = NULL WHERE entity = 'journal' AND legacy_id IN (104, 105); \
             INSERT INTO migration.apply_scope (entity, legacy_id) VALUES ('journal', 100)",
        )
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(ledger_target(&fixture, 104).await?, survivor);
    assert_eq!(ledger_target(&fixture, 105).await?, survivor);
    fixture.close().await
}

#[tokio::test]
async fn a_student_merged_in_legacy_regroups_journal_rows_unchanged_in_legacy() -> anyhow::Result<()>
{
    let fixture = migrated_school("student-merges").await?;
    // Student 12 (person 3, so far its own student) has a row with the key
    // of student 10's row 100, at a higher id.
    fixture
        .legacy_sql(&format!(
            "{}; INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status) \
             VALUES (106, 12, 1, 1, '2024-2025', 1, 'active')",
            student_12(3)
        ))
        .await?;
    assert_eq!(
        fixture.rerun(2, KeepLms, 2).await?.status,
        RunStatus::Succeeded
    );
    // Now student 12 becomes student 10's duplicate; its journal row is
    // unchanged in legacy but merges into row 100.
    fixture
        .legacy_sql("UPDATE students SET person_id = 1 WHERE id = 12")
        .await?;
    let report = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(survivor_of(&fixture, 106).await?, Some(100));
    assert_same_as_every_row(&fixture).await?;
    fixture.close().await
}

#[tokio::test]
async fn a_delta_over_more_than_a_tenth_of_the_journal_resolves_every_row() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("mass-change", Scale::Small, 31).await?;
    assert_eq!(fixture.migrate(500).await?.status, RunStatus::Succeeded);
    let journal: i64 = sqlx::query_scalar("SELECT count(*) FROM journal")
        .fetch_one(fixture.legacy())
        .await?;
    // Well past the threshold (a base and a tenth of the journal).
    let changed = lms_engine::resolve::MASS_CHANGE_BASE + journal / 5;
    fixture
        .legacy_sql(&format!(
            "UPDATE journal SET academic_year = '1999-2000' \
             WHERE id IN (SELECT id FROM journal ORDER BY id LIMIT {changed})"
        ))
        .await?;
    let report = fixture.migrate(500).await?;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(resolved_again(&fixture, &report).await?, None);
    fixture.close().await
}

proptest! {
    // PROPTEST_CASES runs more cases than the 6 a `make test` affords.
    #![proptest_config(ProptestConfig { cases: support::proptest_cases(6), ..ProptestConfig::default() })]

    /// Any edit of the journal's rows, of which student 12 is merged into,
    /// and of the students and subjects they point at leaves the
    /// resolutions that resolving every row would, at any chunk size and
    /// number of parallel chunks.
    #[test]
    fn touched_rows_resolve_as_every_row_would(
        before in prop::collection::vec(journal_row(), 12),
        edits in prop::collection::vec(edit(), 12),
        added in prop::collection::vec(journal_row(), 0..3),
        person_of_12 in prop::sample::select(vec![(1_i64, 2_i64), (2, 1), (1, 1)]),
        // What else goes in legacy: nothing, student 11, or subject 2.
        gone in prop::sample::select(vec!["", "DELETE FROM students WHERE id = 11;", "DELETE FROM subjects WHERE id = 2;"]),
        shape in prop::sample::select(vec![(1_u32, 2_usize), (3, 2), (1_000, 1)]),
    ) {
        let first = first_state(before);
        let second = second_state(&first, &edits, added);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let fixture = migrated_school("touched-any").await?;
            fixture.legacy_sql(&format!(
                "{}; {}",
                student_12(person_of_12.0), journal_sql(&first)
            )).await?;
            let report = fixture.rerun(shape.0, KeepLms, shape.1).await?;
            anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
            fixture.legacy_sql(&format!(
                "UPDATE students SET person_id = {} WHERE id = 12; {gone} {}",
                person_of_12.1, journal_sql(&second)
            )).await?;
            let report = fixture.rerun(shape.0, KeepLms, shape.1).await?;
            anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
            let changed = journal_sql(&first) != journal_sql(&second)
                || person_of_12.0 != person_of_12.1
                || !gone.is_empty();
            anyhow::ensure!(
                !changed || resolved_again(&fixture, &report).await?.is_some(),
                "the delta resolved every row, not the touched ones"
            );
            assert_same_as_every_row(&fixture).await?;
            fixture.close().await
        }).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
    }
}
