//! The finalize phase: what can only be done once a table's every chunk is
//! applied. Links within the table, merged rows' targets, a check of the
//! ledger against the legacy table itself, the coverage numbers, ANALYZE.

use std::collections::HashMap;

use lms_domain::LegacyEntity;
use lms_pg::CopyConnection;
use lms_pg::copy_text::decode_fields;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::apply::ApplyContext;
use crate::apply::specs::ORGANIZATION_PARENT_DANGLES;
use crate::bulk::{self, LoadPath};
use crate::coverage::{self, EntityCoverage};
use crate::error::{DatabaseContext, EngineError};
use crate::id_stream::{IdSource, IdStream};
use crate::resolve::scope;
use crate::sql_template::render;
use crate::statistics::{self, Locked};

const FOLLOW_SURVIVORS: &str = include_str!("finalize/follow_survivors.sql");

/// Finalizes one table; returns its coverage as the step's statistics.
/// (`lms` lends a second connection, for the check against legacy.)
pub async fn finalize_entity(
    tx: &mut PgConnection,
    lms: &PgPool,
    legacy: &PgPool,
    apply: &ApplyContext<'_>,
) -> Result<Value, EngineError> {
    let (run_id, entity) = (apply.run_id, apply.entity);
    if let Some(stats) = unchanged_coverage(tx, run_id, entity).await? {
        // The resolve step found nothing that can have changed: the table
        // is as the last run left it, and so are its numbers.
        return Ok(stats);
    }
    // After a load, plans over stale statistics would nest loops over all
    // of the ledger partition's rows; after a small delta, the statistics
    // still hold and ANALYZE would only cost time.
    let analyze = apply.load_path == LoadPath::Bulk || wrote_a_tenth(tx, run_id, entity).await?;

    // The ledger's live rows were committed by the apply chunks, and
    // nothing this transaction does changes what the check reads of them
    // (their ids, outcomes, reasons and warnings; it moves merged rows'
    // targets), so another connection checks their ids against legacy and
    // tallies their outcomes in one pass, while this one completes the
    // table and counts its LMS rows.
    let recorded = format!(
        "SELECT legacy_id, outcome, coalesce(reason, ''), warnings \
         FROM migration.ledger WHERE entity = '{}' AND source_deleted_at IS NULL ORDER BY legacy_id",
        entity.as_str()
    );
    let (checked, counted) = tokio::join!(
        async {
            let mut tally = LedgerTally::default();
            let mut ledger = CopyConnection::acquire(lms).await.lms()?;
            let verified =
                verify_against_legacy(&mut ledger, legacy, entity, &recorded, Some(&mut tally))
                    .await?;
            ledger.release();
            Ok::<_, EngineError>((verified, tally))
        },
        complete_and_count(tx, apply, analyze)
    );
    let ((check, tally), mut coverage): ((Verification, LedgerTally), EntityCoverage) =
        (checked?, counted?);
    tally.add_to(tx, &mut coverage).await?;
    coverage.legacy_rows = check.legacy_rows;
    coverage.unexplained = check.unexplained;
    coverage.vanished = check.vanished;
    let stats = serde_json::to_value(&coverage)
        .map_err(|error| EngineError::Invariant(error.to_string()))?;
    record_stats(tx, run_id, entity, &stats).await?;
    if analyze {
        let written = bulk::loaded_tables(entity)
            .iter()
            .chain(also_written(entity));
        for table in written {
            sqlx::query(AssertSqlSafe(format!("ANALYZE {table}")))
                .execute(&mut *tx)
                .await
                .lms()?;
        }
    }
    scope::caught_up(tx, apply).await?;
    Ok(stats)
}

/// The table's last writes, then the count of its LMS rows: the ledger
/// analyzed (`analyze`), organizations linked to their parents, a bulk
/// load's indexes rebuilt and foreign keys validated by PostgreSQL (writers
/// let in again), merged rows' targets moved to their survivors'.
async fn complete_and_count(
    tx: &mut PgConnection,
    apply: &ApplyContext<'_>,
    analyze: bool,
) -> Result<EntityCoverage, EngineError> {
    let entity = apply.entity;
    if analyze {
        let partition = format!("migration.ledger_{}", entity.as_str());
        statistics::analyze_bookkeeping(tx, &partition, Locked::Wait).await?;
    }
    if entity == LegacyEntity::Organizations {
        link_parent_organizations(tx).await?;
    }
    if apply.load_path == LoadPath::Bulk {
        let restored = bulk::finish(tx, entity).await?;
        tracing::info!(%entity, restored, "bulk load finished: indexes and foreign keys restored");
    }
    follow_survivors(tx, apply).await?;
    coverage::count_targets(tx, entity).await
}

/// Merged rows take their survivor's target. While the table is in step,
/// only a merged row or a survivor that a run applied since the table last
/// caught up can be out of step, and the apply scope holds those; otherwise
/// (a bulk load, or the first run after a dry run or an undo) every merged
/// row is looked at.
async fn follow_survivors(
    tx: &mut PgConnection,
    apply: &ApplyContext<'_>,
) -> Result<(), EngineError> {
    let entity = apply.entity;
    let scoped = if apply.load_path == LoadPath::Delta && scope::in_step(tx, entity).await? {
        "AND (m.legacy_id IN (SELECT p.legacy_id FROM migration.apply_scope p WHERE p.entity = $1) \
              OR m.survivor_legacy_id IN (SELECT p.legacy_id FROM migration.apply_scope p WHERE p.entity = $1))"
    } else {
        ""
    };
    let statement = render(FOLLOW_SURVIVORS, &[("scoped", scoped)])?;
    sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// Whether this run created, updated or retired more than a tenth of the
/// table's rows (autovacuum's own default threshold for ANALYZE), counted
/// from its apply chunks and its resolve step.
async fn wrote_a_tenth(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<bool, EngineError> {
    let row = sqlx::query(include_str!("finalize/run_writes.sql"))
        .bind(run_id)
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    let rows: i64 = row.try_get("rows").lms()?;
    let written: i64 = row.try_get("written").lms()?;
    Ok(rows == 0 || written.saturating_mul(10) > rows)
}

/// For a table whose resolve step was skipped (nothing can have changed),
/// the coverage its last finished run recorded, recorded again for this
/// run; `None` when the table must be finalized in full.
async fn unchanged_coverage(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<Option<Value>, EngineError> {
    let skipped: Option<bool> = sqlx::query_scalar(include_str!("finalize/resolve_skipped.sql"))
        .bind(run_id)
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    if skipped != Some(true) {
        return Ok(None);
    }
    let Some(stats) = previous_coverage(tx, run_id, entity).await? else {
        return Ok(None);
    };
    record_stats(tx, run_id, entity, &stats).await?;
    Ok(Some(stats))
}

/// The coverage the latest finished real run before `run_id` recorded for
/// the table, if one did.
async fn previous_coverage(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<Option<Value>, EngineError> {
    sqlx::query_scalar(include_str!("finalize/previous_coverage.sql"))
        .bind(run_id)
        .bind(entity.as_str())
        .fetch_optional(&mut *tx)
        .await
        .lms()
}

/// Whether a finished real run before `run_id` recorded the table's
/// coverage: then a table found unchanged takes it over without reading
/// anything (`unchanged_coverage`).
pub(crate) async fn previous_coverage_recorded(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<bool, EngineError> {
    Ok(previous_coverage(tx, run_id, entity).await?.is_some())
}

/// A dry run's last step for a table: what the rules would do, counted from
/// the staged rows and the resolutions, and the staged rows checked against
/// the legacy table. Warnings found only while writing (dangling
/// references, provisioned accounts, scores out of range) are not counted.
/// It COPYs on `tx`: a pooled connection must be a
/// [`lms_pg::CopyConnection`], closed should this be cut short.
pub async fn preview_entity(
    tx: &mut PgConnection,
    legacy: &PgPool,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<Value, EngineError> {
    let stage = crate::stage::stage_table(entity);
    let recorded = format!("SELECT legacy_id FROM {stage} ORDER BY legacy_id");
    let check = verify_against_legacy(tx, legacy, entity, &recorded, None).await?;
    let mut coverage = coverage::count_preview(tx, entity).await?;
    coverage.legacy_rows = check.legacy_rows;
    coverage.unexplained = check.unexplained;
    coverage.vanished = check.vanished;
    let stats = serde_json::to_value(&coverage)
        .map_err(|error| EngineError::Invariant(error.to_string()))?;
    record_stats(tx, run_id, entity, &stats).await?;
    Ok(stats)
}

/// Records a table's coverage as its finalize step's statistics.
async fn record_stats(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    stats: &Value,
) -> Result<(), EngineError> {
    sqlx::query(
        "UPDATE migration.run_steps SET stats = $3 WHERE run_id = $1 AND entity = $2 AND phase = 'finalize'",
    )
    .bind(run_id)
    .bind(entity.as_str())
    .bind(stats)
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// The LMS tables a legacy table's migration writes besides the ones it
/// loads (`bulk::loaded_tables`): provisioned accounts, derived courses.
pub(crate) fn also_written(entity: LegacyEntity) -> &'static [&'static str] {
    match entity {
        LegacyEntity::Students | LegacyEntity::Teachers => &["users"],
        LegacyEntity::Journal => &["courses"],
        LegacyEntity::Organizations
        | LegacyEntity::Persons
        | LegacyEntity::Users
        | LegacyEntity::Groups
        | LegacyEntity::Subjects
        | LegacyEntity::Exams
        | LegacyEntity::ExamResults => &[],
    }
}

/// An organization's parent may be applied by a later chunk than the
/// organization itself, so the tree is linked once every chunk is in. A
/// parent gone from legacy points nowhere, though its LMS row stays.
async fn link_parent_organizations(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "UPDATE organizations o SET parent_id = link.parent_id \
         FROM (SELECT s.legacy_id, CASE WHEN NOT {ORGANIZATION_PARENT_DANGLES} THEN p.id END AS parent_id \
               FROM migration.stage_organizations s \
               LEFT JOIN organizations p ON p.legacy_id = s.parent_legacy_id) link \
         WHERE o.legacy_id = link.legacy_id AND o.parent_id IS DISTINCT FROM link.parent_id"
    )))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// The legacy table against the ledger, id by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Verification {
    legacy_rows: i64,
    unexplained: i64,
    vanished: i64,
}

/// Streams the legacy ids and the recorded ids (the ledger's live ones, or
/// the staged ones in a dry run), both in order, and counts the legacy ids
/// with no record (and the reverse). Memory stays constant whatever the
/// table's size.
async fn verify_against_legacy(
    lms: &mut PgConnection,
    legacy: &PgPool,
    entity: LegacyEntity,
    recorded: &str,
    tally: Option<&mut LedgerTally>,
) -> Result<Verification, EngineError> {
    let mut source = CopyConnection::acquire(legacy).await.legacy()?;
    let verified = compare_ids(lms, &mut source, entity, recorded, tally).await?;
    source.release();
    Ok(verified)
}

async fn compare_ids(
    lms: &mut PgConnection,
    source: &mut PgConnection,
    entity: LegacyEntity,
    recorded: &str,
    mut tally: Option<&mut LedgerTally>,
) -> Result<Verification, EngineError> {
    let legacy_query = format!(
        "COPY (SELECT id FROM {} ORDER BY id) TO STDOUT",
        entity.as_str()
    );
    let mut legacy_ids = IdStream::new(
        source.copy_out_raw(&legacy_query).await.legacy()?,
        IdSource::Legacy,
    );
    let ledger_query = format!("COPY ({recorded}) TO STDOUT");
    let mut ledger_ids = IdStream::new(lms.copy_out_raw(&ledger_query).await.lms()?, IdSource::Lms);
    let mut check = Verification::default();
    // Each recorded row is tallied as it is read (its line after the id).
    let mut next_recorded = async |ids: &mut IdStream<'_>| -> Result<Option<i64>, EngineError> {
        let Some((id, rest)) = ids.next_entry().await? else {
            return Ok(None);
        };
        if let Some(tally) = tally.as_deref_mut() {
            tally.add(ids.rest(rest));
        }
        Ok(Some(id))
    };
    let (mut next_legacy, mut next_ledger) = (
        legacy_ids.next().await?,
        next_recorded(&mut ledger_ids).await?,
    );
    loop {
        match (next_legacy, next_ledger) {
            (None, None) => break,
            (Some(id), Some(recorded)) if id == recorded => {
                check.legacy_rows += 1;
                next_legacy = legacy_ids.next().await?;
                next_ledger = next_recorded(&mut ledger_ids).await?;
            }
            (Some(id), Some(recorded)) if id < recorded => {
                check.legacy_rows += 1;
                check.unexplained += 1;
                next_legacy = legacy_ids.next().await?;
            }
            (Some(_), None) => {
                check.legacy_rows += 1;
                check.unexplained += 1;
                next_legacy = legacy_ids.next().await?;
            }
            (_, Some(_)) => {
                check.vanished += 1;
                next_ledger = next_recorded(&mut ledger_ids).await?;
            }
        }
    }
    Ok(check)
}

/// Live ledger rows counted by their outcome, reason and list of warnings
/// as the finalize's COPY printed them (`outcome`, tab, reason, tab, the
/// list as an array literal): a handful of distinct keys.
#[derive(Debug, Default)]
struct LedgerTally(HashMap<Vec<u8>, i64>);

impl LedgerTally {
    fn add(&mut self, key: &[u8]) {
        match self.0.get_mut(key) {
            Some(rows) => *rows += 1,
            None => {
                self.0.insert(key.to_vec(), 1);
            }
        }
    }

    /// Adds the tallied rows to `coverage`, their lists of warnings decoded
    /// by PostgreSQL (one query for every distinct list).
    async fn add_to(
        self,
        tx: &mut PgConnection,
        coverage: &mut EntityCoverage,
    ) -> Result<(), EngineError> {
        let mut groups = Vec::with_capacity(self.0.len());
        for (key, rows) in self.0 {
            let fields = decode_fields(&key, 3).map_err(|error| {
                EngineError::Invariant(format!(
                    "a ledger row as COPY printed it ({error}): {:?}",
                    String::from_utf8_lossy(&key)
                ))
            })?;
            let [outcome, reason, warnings] =
                <[Option<String>; 3]>::try_from(fields).map_err(|fields| {
                    EngineError::Invariant(format!("{} fields of a ledger row", fields.len()))
                })?;
            let (Some(outcome), Some(reason), Some(warnings)) = (outcome, reason, warnings) else {
                return Err(EngineError::Invariant(format!(
                    "a ledger row as COPY printed it has a NULL: {:?}",
                    String::from_utf8_lossy(&key)
                )));
            };
            groups.push((outcome, reason, warnings, rows));
        }
        // Each distinct list once: groups of other outcomes or reasons share
        // lists, and a list sent twice would be decoded twice over.
        let mut lists: Vec<&str> = groups.iter().map(|group| group.2.as_str()).collect();
        lists.sort_unstable();
        lists.dedup();
        let mut decoded: HashMap<String, Vec<String>> = HashMap::new();
        for row in sqlx::query(
            "SELECT l.literal, w.code FROM unnest($1::text[]) AS l(literal) \
             LEFT JOIN LATERAL unnest(l.literal::text[]) AS w(code) ON true",
        )
        .bind(&lists)
        .fetch_all(&mut *tx)
        .await
        .lms()?
        {
            let list = decoded.entry(row.try_get("literal").lms()?).or_default();
            if let Some(code) = row.try_get::<Option<String>, _>("code").lms()? {
                list.push(code);
            }
        }
        for (outcome, reason, list, rows) in groups {
            let warnings = decoded.get(&list).cloned().unwrap_or_default();
            coverage.add_ledger_rows(outcome.parse()?, reason, warnings, rows);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ledger-shaped rows, warnings with every character COPY or an array
    /// literal escapes among them.
    const ROWS: &str = r#"
        CREATE TABLE ledger_rows (legacy_id bigint, outcome text, reason text, warnings text[]);
        INSERT INTO ledger_rows VALUES
            (1, 'migrated', NULL, '{}'),
            (2, 'migrated', NULL, '{unparseable_mark}'),
            (3, 'migrated', NULL, ARRAY['a,b', 'c"d', E'e\\f', E'g\th', E'i\nj', ' k ', '{l}', '']),
            (4, 'merged', NULL, '{unparseable_mark,dangling_reference}'),
            (5, 'rejected', 'invalid_value', '{}'),
            (6, 'rejected', 'orphan_reference', ARRAY['a,b', 'a,b']),
            (7, 'migrated', NULL, '{unparseable_mark}'),
            (8, 'merged', NULL, '{unparseable_mark}'),
            (9, 'rejected', 'invalid_value', ARRAY['a,b', 'a,b']);
    "#;

    #[tokio::test]
    async fn a_tally_of_copied_rows_counts_as_grouping_them_does() -> anyhow::Result<()> {
        let database = lms_testkit::TestDatabase::create("ledgertally").await?;
        let pool = PgPool::connect(database.url().expose()).await?;
        sqlx::raw_sql(ROWS).execute(&pool).await?;
        let mut grouped = EntityCoverage::default();
        for row in sqlx::query(
            "SELECT outcome, coalesce(reason, '') AS reason, warnings, count(*) AS rows \
             FROM ledger_rows GROUP BY 1, 2, 3",
        )
        .fetch_all(&pool)
        .await?
        {
            grouped.add_ledger_rows(
                row.try_get::<String, _>("outcome")?.parse()?,
                row.try_get("reason")?,
                row.try_get("warnings")?,
                row.try_get("rows")?,
            );
        }

        let mut connection = pool.acquire().await?;
        let mut tally = LedgerTally::default();
        {
            let mut copied = IdStream::new(
                connection
                    .copy_out_raw(
                        "COPY (SELECT legacy_id, outcome, coalesce(reason, ''), warnings \
                         FROM ledger_rows ORDER BY legacy_id) TO STDOUT",
                    )
                    .await?,
                IdSource::Lms,
            );
            while let Some((_, rest)) = copied.next_entry().await? {
                tally.add(copied.rest(rest));
            }
        }
        let mut tallied = EntityCoverage::default();
        tally.add_to(&mut connection, &mut tallied).await?;

        assert_eq!(tallied, grouped);
        assert_eq!(tallied.warnings.get("a,b"), Some(&5));
        assert_eq!(tallied.warnings.get("unparseable_mark"), Some(&4));
        drop(connection);
        pool.close().await;
        database.drop_now().await
    }
}
