//! Re-runs: over unchanged legacy data a run writes nothing; after legacy
//! rows are added, edited and deleted it applies exactly the difference.

// Rows read back from SQL are tuples; naming each shape would add nothing.
#![allow(clippy::type_complexity)]

mod support;

use lms_engine::verify::oracle::Oracle;
use lms_engine::{RunOptions, RunStatus, plan_run};
use lms_legacy::Scale;
use sqlx::Row;
use support::fingerprint::{fingerprint, write_marks};
use support::{Fixture, entity, ledger, run_until};
use uuid::Uuid;

#[tokio::test]
async fn a_rerun_over_unchanged_legacy_data_writes_nothing() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("rerun", Scale::Small, 21).await?;
    let first = fixture.migrate(500).await?;
    assert_eq!(first.status, RunStatus::Succeeded);
    let before = (
        fingerprint(fixture.lms()).await?,
        write_marks(fixture.lms()).await?,
    );
    let second = fixture.migrate(500).await?;
    assert_eq!(second.status, RunStatus::Succeeded);
    for table in &second.entities {
        let changes = table.changes;
        assert_eq!(
            (
                changes.created,
                changes.updated,
                changes.source_deleted,
                changes.unchanged
            ),
            (0, 0, 0, table.legacy_rows),
            "{} on the second run",
            table.entity
        );
    }
    let after = (
        fingerprint(fixture.lms()).await?,
        write_marks(fixture.lms()).await?,
    );
    assert_eq!(before.0, after.0, "same content");
    assert_eq!(
        before.1, after.1,
        "no row of the LMS tables or the ledger was written again"
    );
    fixture.close().await
}

/// The bulk path writes its baselines as the delta path computes them:
/// timestamps in UTC, whatever legacy's zone. A person whose legacy row
/// changed only in padding the contract trims away is in the next run's
/// scope with nothing to write: its LMS row and its baseline stay as the
/// bulk load left them (the ledger takes the new source hash). (Baselines
/// written in the legacy zone's offset read as changed text to that run,
/// which wrote the baseline again and moved `written_at`.)
#[tokio::test]
async fn a_row_unchanged_after_trimming_keeps_its_bulk_loaded_baseline_in_any_legacy_zone()
-> anyhow::Result<()> {
    let mut fixture = Fixture::seeded("bulkzone", Scale::Small, 23).await?;
    fixture.settings.legacy.timezone = "Asia/Almaty".to_owned();
    fixture.engine.legacy_timezone = "Asia/Almaty".to_owned();
    let first = fixture.migrate(500).await?;
    assert_eq!(first.status, RunStatus::Succeeded);
    let person: i64 = sqlx::query_scalar(
        "UPDATE persons SET last_name = last_name || '  ' \
         WHERE id = (SELECT min(id) FROM persons WHERE created_at IS NOT NULL AND last_name <> '') \
         RETURNING id::bigint",
    )
    .fetch_one(fixture.legacy())
    .await?;
    let written = "SELECT l.written, l.written_at::text, p.xmin::text AS lms_row_version \
                   FROM migration.ledger l JOIN persons p ON p.id = l.target_id \
                   WHERE l.entity = 'persons' AND l.legacy_id = $1";
    let before: (Option<String>, Option<String>, String) = sqlx::query_as(written)
        .bind(person)
        .fetch_one(fixture.lms())
        .await?;
    assert!(before.0.is_some(), "person {person} was migrated");

    let second = fixture.migrate(500).await?;
    assert_eq!(second.status, RunStatus::Succeeded);
    let after: (Option<String>, Option<String>, String) = sqlx::query_as(written)
        .bind(person)
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(before, after, "person {person}'s baseline and LMS row");
    fixture.close().await
}

#[tokio::test]
async fn an_unchanged_table_is_applied_and_finalized_in_one_transaction() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("unchangedstep", Scale::Small, 22).await?;
    assert_eq!(fixture.migrate(500).await?.status, RunStatus::Succeeded);
    let second = fixture.migrate(500).await?;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);

    // Per table, the transactions that last wrote its apply and finalize
    // chunks: one, for each table its resolve skipped (the savepoint of the
    // resolve's transaction, whose rows carry the savepoint's own id).
    let rows = sqlx::query(
        "SELECT s.entity, count(DISTINCT c.xmin::text) AS transactions, \
                bool_and(c.state = 'done' AND c.attempts = 1) AS done_once \
         FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.phase IN ('apply', 'finalize') GROUP BY s.entity ORDER BY s.entity",
    )
    .bind(second.run_id)
    .fetch_all(fixture.lms())
    .await?;
    assert_eq!(rows.len(), second.entities.len());
    for row in rows {
        let table: String = row.try_get("entity")?;
        let transactions: i64 = row.try_get("transactions")?;
        let done_once: bool = row.try_get("done_once")?;
        assert_eq!((transactions, done_once), (1, true), "{table}");
    }
    fixture.close().await
}

#[tokio::test]
async fn a_rerun_applies_exactly_what_changed_in_legacy() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("delta", Scale::Small, 22).await?;
    assert_eq!(fixture.migrate(400).await?.status, RunStatus::Succeeded);
    let legacy = fixture.legacy();

    // A journal survivor with exactly one duplicate: deleting it promotes the duplicate.
    let pair = sqlx::query(
        "SELECT min(id), max(id) FROM journal WHERE student_id IN (SELECT id FROM students) \
         GROUP BY student_id, subject_id, group_id, btrim(academic_year), semester HAVING count(*) = 2 LIMIT 1",
    )
    .fetch_one(legacy)
    .await?;
    let (survivor, duplicate): (i64, i64) = (pair.get(0), pair.get(1));
    assert_eq!(
        ledger(fixture.lms(), "journal", duplicate).await?.outcome,
        "merged"
    );
    let edited_journal: i64 = sqlx::query(
        "SELECT min(j.id) FROM journal j WHERE j.id <> $1 AND j.id <> $2 AND j.mark_final = '4' \
         AND NOT EXISTS (SELECT 1 FROM journal d WHERE d.id <> j.id AND d.student_id = j.student_id \
                         AND d.subject_id = j.subject_id AND d.semester = j.semester \
                         AND btrim(d.academic_year) = btrim(j.academic_year))",
    )
    .bind(survivor)
    .bind(duplicate)
    .fetch_one(legacy)
    .await?
    .get(0);
    let edited_user: i32 = sqlx::query("SELECT min(id) FROM users WHERE email LIKE '%@%'")
        .fetch_one(legacy)
        .await?
        .get(0);
    let lonely_person: i32 = sqlx::query(
        "SELECT max(p.id) FROM persons p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.person_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM students s WHERE s.person_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM teachers t WHERE t.person_id = p.id)",
    )
    .fetch_one(legacy)
    .await?
    .get(0);
    let template: i64 = sqlx::query("SELECT min(id) FROM journal WHERE id > $1")
        .bind(edited_journal)
        .fetch_one(legacy)
        .await?
        .get(0);
    let dropped_result: i64 = sqlx::query(
        "SELECT min(r.id) FROM exam_results r WHERE NOT EXISTS (SELECT 1 FROM exam_results d \
         WHERE d.id <> r.id AND d.exam_id = r.exam_id AND d.student_id = r.student_id)",
    )
    .fetch_one(legacy)
    .await?
    .get(0);
    fixture
        .legacy_sql(&format!(
            "INSERT INTO persons (id, last_name, first_name, birth_date) VALUES (800000, 'Новый', 'Студент', '2008-09-01'); \
             INSERT INTO users (id, login, email, person_id, role) VALUES (800000, 'new.student', 'new@mail.kz', 800000, 'student'); \
             UPDATE users SET email = 'changed@mail.kz' WHERE id = {edited_user}; \
             UPDATE journal SET mark_final = '5' WHERE id = {edited_journal}; \
             INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
                 SELECT 9000000001, student_id, subject_id, group_id, teacher_id, '2030-2031', 1, 'active', '3' \
                 FROM journal WHERE id = {template}; \
             DELETE FROM journal WHERE id = {survivor}; \
             DELETE FROM persons WHERE id = {lonely_person}; \
             DELETE FROM exam_results WHERE id = {dropped_result};"
        ))
        .await?;

    let report = fixture.migrate(400).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let changes = |name: &str| {
        let c = entity(&report, name).changes;
        (c.created, c.updated, c.source_deleted)
    };
    assert_eq!(changes("persons"), (1, 0, 1));
    assert_eq!(changes("users"), (1, 1, 0));
    // Created: the new row; updated: the edited mark, and the promoted
    // duplicate (the old survivor's LMS row is handed to it); source
    // deleted: the old survivor.
    assert_eq!(changes("journal"), (1, 2, 1));
    assert_eq!(changes("exam_results"), (0, 0, 1));
    for name in [
        "organizations",
        "groups",
        "subjects",
        "students",
        "teachers",
        "exams",
    ] {
        assert_eq!(changes(name), (0, 0, 0), "{name}");
    }
    for table in &report.entities {
        let c = table.changes;
        assert_eq!(
            c.created + c.updated + c.unchanged + c.conflicts,
            table.legacy_rows,
            "{}",
            table.entity
        );
    }

    // Deleted legacy rows: marked in the ledger, their targets flagged, not
    // deleted; the deleted survivor's enrollment is its duplicate's now,
    // live, and its ledger row says so.
    let gone: (bool, Option<i64>) = sqlx::query_as(
        "SELECT source_deleted_at IS NOT NULL, survivor_legacy_id FROM migration.ledger \
         WHERE entity = 'journal' AND legacy_id = $1",
    )
    .bind(survivor)
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(gone, (true, Some(duplicate)));
    let handed_on_live: bool = sqlx::query_scalar(
        "SELECT source_deleted_at IS NULL FROM course_enrollments WHERE legacy_id = $1",
    )
    .bind(duplicate)
    .fetch_one(fixture.lms())
    .await?;
    assert!(handed_on_live);
    let person_flagged: bool =
        sqlx::query("SELECT source_deleted_at IS NOT NULL FROM persons WHERE legacy_id = $1")
            .bind(lonely_person)
            .fetch_one(fixture.lms())
            .await?
            .get(0);
    assert!(person_flagged);
    // The duplicate now stands on its own.
    let promoted = ledger(fixture.lms(), "journal", duplicate).await?;
    assert_eq!(
        (promoted.outcome.as_str(), promoted.survivor),
        ("migrated", None)
    );
    let grade: String = sqlx::query(
        "SELECT raw_mark FROM grades WHERE legacy_id = $1 AND source_deleted_at IS NULL",
    )
    .bind(edited_journal)
    .fetch_one(fixture.lms())
    .await?
    .get(0);
    assert_eq!(grade, "5");
    let email: Option<String> = sqlx::query("SELECT email FROM users WHERE legacy_id = $1")
        .bind(edited_user)
        .fetch_one(fixture.lms())
        .await?
        .get(0);
    assert_eq!(email.as_deref(), Some("changed@mail.kz"));

    // And every live legacy row still ends as the contract says.
    let oracle = Oracle::compute(legacy).await?;
    for ((table, id), expected) in &oracle.rows {
        let actual = ledger(fixture.lms(), table.as_str(), *id).await?;
        let mut warnings = expected.warnings.clone();
        warnings.sort();
        assert_eq!(
            (
                actual.outcome.as_str(),
                actual.reason.as_deref(),
                actual.survivor,
                actual.warnings
            ),
            (
                expected.outcome.as_str(),
                expected.reason.map(|reason| reason.as_str()),
                expected.survivor,
                warnings
            ),
            "{table} {id}"
        );
    }
    // A third run finds nothing more to do.
    let third = fixture.migrate(400).await?;
    for table in &third.entities {
        assert_eq!(
            (
                table.changes.created,
                table.changes.updated,
                table.changes.source_deleted
            ),
            (0, 0, 0),
            "{}",
            table.entity
        );
    }
    fixture.close().await
}

/// Every fortieth journal row gets the other final mark: a delta spread
/// over every range of 400 rows, about ten rows in each.
const SPREAD_JOURNAL_EDIT: &str = "UPDATE journal SET mark_final = CASE WHEN mark_final = '5' THEN '4' ELSE '5' END \
     WHERE id % 40 = 0";

/// The run's chunks of the journal's `phase` step.
async fn journal_chunks(fixture: &Fixture, run_id: Uuid, phase: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = $2",
    )
    .bind(run_id)
    .bind(phase)
    .fetch_one(fixture.lms())
    .await?)
}

/// A first load of `seed`'s legacy database, then the spread edit in
/// legacy; and beside it, the same edited legacy migrated once.
async fn migrated_then_spread_edit(purpose: &str, seed: u64) -> anyhow::Result<(Fixture, Fixture)> {
    let fixture = Fixture::seeded(purpose, Scale::Small, seed).await?;
    let clean = Fixture::seeded(&format!("{purpose}clean"), Scale::Small, seed).await?;
    assert_eq!(fixture.migrate(400).await?.status, RunStatus::Succeeded);
    fixture.legacy_sql(SPREAD_JOURNAL_EDIT).await?;
    clean.legacy_sql(SPREAD_JOURNAL_EDIT).await?;
    assert_eq!(clean.migrate(400).await?.status, RunStatus::Succeeded);
    Ok((fixture, clean))
}

/// The delta ended where one migration of the edited legacy does; both
/// fixtures are closed.
async fn ends_as_the_clean_migration(fixture: Fixture, clean: Fixture) -> anyhow::Result<()> {
    assert_eq!(
        fingerprint(fixture.lms()).await?,
        fingerprint(clean.lms()).await?
    );
    clean.close().await?;
    fixture.close().await
}

#[tokio::test]
async fn a_delta_applies_its_scope_in_fewer_chunks_than_it_staged() -> anyhow::Result<()> {
    let (fixture, clean) = migrated_then_spread_edit("joinedapply", 24).await?;

    // Ranges of 40 rows, about one changed row in each: inline, with one
    // worker, a chunk gathers up to the chunk size in scoped rows.
    let report = fixture.migrate(40).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let staged = journal_chunks(&fixture, report.run_id, "stage").await?;
    let applied = journal_chunks(&fixture, report.run_id, "apply").await?;
    assert!(
        1 < applied && applied < staged,
        "{applied} apply chunks for {staged} stage chunks"
    );
    let journal = entity(&report, "journal");
    let c = journal.changes;
    assert!(c.updated > 0, "{c:?}");
    assert_eq!(
        c.created + c.updated + c.unchanged + c.conflicts,
        journal.legacy_rows
    );
    ends_as_the_clean_migration(fixture, clean).await
}

#[tokio::test]
async fn a_joined_apply_chunk_stages_again_what_a_crash_lost_in_its_ranges() -> anyhow::Result<()> {
    let (fixture, clean) = migrated_then_spread_edit("joinedcrash", 25).await?;
    // Joined chunks of several ranges of 40 rows each.
    let options = RunOptions {
        chunk_size: 40,
        ..RunOptions::default()
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "apply"
    })
    .await?;
    // A PostgreSQL crash empties unlogged tables: staging among them.
    fixture.crash_empties_unlogged_tables().await?;

    run_until(&fixture.engine, planned.run_id, |_, _| false).await?;

    let report = fixture.report(planned.run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let joined = journal_chunks(&fixture, planned.run_id, "apply").await?;
    assert!(joined < journal_chunks(&fixture, planned.run_id, "stage").await?);
    let restaged: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((c.stats->>'restaged')::bigint), 0)::bigint \
         FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'apply'",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.stage_journal")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(
        restaged, staged,
        "the journal's apply staged every lost range again"
    );
    assert_eq!(entity(&report, "journal").unexplained, 0);
    ends_as_the_clean_migration(fixture, clean).await
}

#[tokio::test]
async fn a_bulk_load_leaves_what_it_wrote_vacuumed() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("vacuumed", Scale::Small, 26).await?;

    assert_eq!(fixture.migrate(400).await?.status, RunStatus::Succeeded);

    for relation in lms_engine::vacuum::written_relations(lms_domain::LegacyEntity::Journal) {
        let (pages, all_visible): (i32, i32) =
            sqlx::query_as("SELECT relpages, relallvisible FROM pg_class WHERE oid = $1::regclass")
                .bind(&relation)
                .fetch_one(fixture.lms())
                .await?;
        // Chunks of other tables running beside the VACUUM may hold back a
        // few pages; without it (and autovacuum, off here) none is marked.
        assert!(pages > 0, "{relation} has pages");
        assert!(
            all_visible * 2 >= pages,
            "{relation}: {all_visible} of {pages} pages all-visible"
        );
    }
    fixture.close().await
}

/// The mirror keeps rows as the stage rules transformed them; a legacy row
/// that did not change is not read again. Rules that transform it otherwise
/// (a new engine version) must still reach it.
#[tokio::test]
async fn a_row_staged_under_older_rules_is_staged_again_under_the_new_ones() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("oldrules").await?;
    fixture
        .legacy_sql(
            "INSERT INTO users (id, login, role) VALUES (1, 'anna', 'student'), (2, 'ivan', 'student');",
        )
        .await?;
    assert_eq!(fixture.migrate(10).await?.status, RunStatus::Succeeded);
    // As an engine of rules version 1 would have left it: one mirrored row
    // transformed otherwise, and every proposal made under version 1.
    fixture
        .lms_sql(
            "UPDATE migration.stage_users SET login = 'transformed otherwise', staged_under = 1 \
             WHERE legacy_id = 1; \
             UPDATE migration.stage_state SET proposed_under = 'rules 1; legacy timezone UTC';",
        )
        .await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded);
    let login: String = sqlx::query_scalar("SELECT login FROM users WHERE legacy_id = 1")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(login, "anna");
    fixture.close().await
}

/// An organization's parent in the LMS (its legacy id) and its ledger's
/// warnings.
async fn parent_and_warnings(
    fixture: &Fixture,
    legacy_id: i64,
) -> anyhow::Result<(Option<i64>, Vec<String>)> {
    let parent: Option<i64> = sqlx::query_scalar(
        "SELECT p.legacy_id::bigint FROM organizations o LEFT JOIN organizations p ON p.id = o.parent_id \
         WHERE o.legacy_id = $1",
    )
    .bind(legacy_id)
    .fetch_one(fixture.lms())
    .await?;
    Ok((
        parent,
        ledger(fixture.lms(), "organizations", legacy_id)
            .await?
            .warnings,
    ))
}

#[tokio::test]
async fn an_organization_whose_parent_left_legacy_points_nowhere_with_a_warning()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentgone").await?;
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES (1, NULL, 'Network'), (2, 1, 'College');",
        )
        .await?;
    assert_eq!(fixture.migrate(10).await?.status, RunStatus::Succeeded);
    fixture
        .legacy_sql("DELETE FROM organizations WHERE id = 1;")
        .await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        parent_and_warnings(&fixture, 2).await?,
        (None, vec!["dangling_parent".to_owned()])
    );
    fixture.close().await
}

#[tokio::test]
async fn a_ring_of_parents_closed_by_a_change_is_broken_where_it_is_lowest() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentring").await?;
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES \
             (1, NULL, 'Network'), (2, 1, 'College'), (3, 2, 'Department');",
        )
        .await?;
    assert_eq!(fixture.migrate(2).await?.status, RunStatus::Succeeded);
    // Only organization 1 changes; it is the ring's lowest id.
    fixture
        .legacy_sql("UPDATE organizations SET parent_id = 3 WHERE id = 1;")
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        parent_and_warnings(&fixture, 1).await?,
        (None, vec!["dangling_parent".to_owned()])
    );
    assert_eq!(
        parent_and_warnings(&fixture, 3).await?.1,
        Vec::<String>::new()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_ring_closed_by_another_row_breaks_at_its_unchanged_lowest_id() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentringother").await?;
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES \
             (1, 2, 'Department'), (2, NULL, 'Network'), (3, 1, 'Office');",
        )
        .await?;
    assert_eq!(fixture.migrate(2).await?.status, RunStatus::Succeeded);
    // Organization 2 changes; organization 1, the ring's lowest id, does not.
    fixture
        .legacy_sql("UPDATE organizations SET parent_id = 3 WHERE id = 2;")
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        parent_and_warnings(&fixture, 1).await?,
        (None, vec!["dangling_parent".to_owned()])
    );
    assert_eq!(parent_and_warnings(&fixture, 2).await?, (Some(3), vec![]));
    fixture.close().await
}

#[tokio::test]
async fn a_ring_of_parents_opened_again_is_linked_without_a_warning() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentringopen").await?;
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES \
             (1, 3, 'Network'), (2, 1, 'College'), (3, 2, 'Department');",
        )
        .await?;
    assert_eq!(fixture.migrate(2).await?.status, RunStatus::Succeeded);
    // Organization 3 leaves the ring; 1 is linked to it again.
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES (4, NULL, 'Root'); \
             UPDATE organizations SET parent_id = 4 WHERE id = 2;",
        )
        .await?;

    let report = fixture.migrate(2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let (parent, warnings) = parent_and_warnings(&fixture, 1).await?;
    assert!(parent.is_some(), "1 is linked to 3 again");
    assert_eq!(warnings, Vec::<String>::new());
    fixture.close().await
}

#[tokio::test]
async fn an_organization_whose_missing_parent_arrives_is_linked_without_a_warning()
-> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("parentcomes").await?;
    fixture
        .legacy_sql("INSERT INTO organizations (id, parent_id, name) VALUES (2, 99, 'College');")
        .await?;
    assert_eq!(fixture.migrate(10).await?.status, RunStatus::Succeeded);
    fixture
        .legacy_sql("INSERT INTO organizations (id, parent_id, name) VALUES (99, NULL, 'Network');")
        .await?;

    let report = fixture.migrate(10).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        parent_and_warnings(&fixture, 2).await?,
        (Some(99), Vec::new())
    );
    fixture.close().await
}

#[tokio::test]
async fn a_retry_of_rejected_rows_asked_again_after_it_fixed_them_gets_its_run()
-> anyhow::Result<()> {
    let fixture = support::school::migrated_school("retryagain").await?;
    // A student whose person is missing is rejected; then legacy fixes it.
    fixture
        .legacy_sql("INSERT INTO students (id, person_id, organization_id) VALUES (90, 95, 1);")
        .await?;
    let rejected = fixture
        .rerun(2, lms_engine::ConflictPolicy::KeepLms, 2)
        .await?;
    anyhow::ensure!(
        rejected.status == RunStatus::Succeeded,
        "{:?}",
        rejected.error
    );
    fixture
        .legacy_sql("UPDATE students SET person_id = 3 WHERE id = 90;")
        .await?;
    let queue = lms_engine::setup::connect_queue(&fixture.settings).await?;
    let retry = |request_id: &'static str| {
        lms_engine::control::retry_rejected(
            fixture.lms(),
            fixture.legacy(),
            &queue,
            lms_engine::control::RetryRequest {
                only: &[],
                chunk_size: 10,
                max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
                request_id: Some(request_id.to_owned()),
                caller: "test",
            },
        )
    };
    let first = retry("retry-1").await?;
    run_until(&fixture.engine, first.run_id, |_, _| false).await?;
    assert_eq!(
        fixture.report(first.run_id).await?.status,
        RunStatus::Succeeded
    );

    let again = retry("retry-1").await?;

    assert_eq!((again.run_id, again.created), (first.run_id, false));
    fixture.close().await
}
