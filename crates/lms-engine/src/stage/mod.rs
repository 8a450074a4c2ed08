//! The stage phase: legacy rows of one id range, read with COPY, put
//! through the row-local contract rules, and written with COPY into
//! `migration.stage_<table>`.
//!
//! Staging is a mirror of legacy that runs keep: each row staged with the
//! xxh3 hash of the row as legacy printed it. A run reads legacy whole (it
//! must, to see every change) and merges it against the mirror's hashes,
//! transforming and writing only the rows that are new or changed, and
//! removing the ones legacy no longer has; which ones, it records in
//! `migration.stage_changes` for the steps after. An unchanged legacy
//! database is read and compared, and nothing is written.
//!
//! Memory is bounded by one COPY buffer and the range's (id, hash) pairs,
//! whatever the range's size: rows are transformed as they stream past.

mod fields;
pub mod specs;

use futures::StreamExt;
use lms_pg::CopyConnection;
use lms_pg::copy_text::{LineSplitter, RowWriter, decode_fields};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::sql_template::render;
use fields::LegacyFields;
use lms_domain::LegacyEntity;
use specs::StageSpec;

/// Staged rows are handed to PostgreSQL in buffers of about this size.
const SEND_BYTES: usize = 256 * 1024;

const RECORD_GONE_FROM_LEDGER: &str = include_str!("sql/record_gone_from_ledger.sql");

/// The staging table of a legacy table.
pub fn stage_table(entity: LegacyEntity) -> String {
    format!("migration.stage_{}", entity.as_str())
}

/// What staging one range did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staged {
    /// Legacy rows in the range.
    pub rows: u64,
    /// Rows new or changed since they were last staged, written.
    pub written: u64,
    /// Staged rows legacy no longer has, removed.
    pub gone: u64,
    /// An order-independent sum over the range's (id, source hash) pairs:
    /// staging the same legacy rows again gives the same fingerprint.
    #[serde(default)]
    pub fingerprint: Fingerprint,
}

/// An order-independent checksum of staged rows, kept in a stage chunk's
/// statistics as hex (JSON numbers lose 64-bit precision in some readers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(u64);

impl Fingerprint {
    fn add(&mut self, id: i64, hash: i64) {
        let mut bytes = [0_u8; 16];
        bytes[..8].copy_from_slice(&id.to_le_bytes());
        bytes[8..].copy_from_slice(&hash.to_le_bytes());
        let pair = xxh3_64(&bytes);
        self.0 = self.0.wrapping_add(pair);
    }
}

impl From<Fingerprint> for String {
    fn from(fingerprint: Fingerprint) -> String {
        format!("{:016x}", fingerprint.0)
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = std::num::ParseIntError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        u64::from_str_radix(&text, 16).map(Fingerprint)
    }
}

/// Stages the legacy rows of `entity` in `range` against the mirror.
///
/// It COPYs into `lms`: a pooled connection must be a
/// [`lms_pg::CopyConnection`], closed should this be cut short.
pub async fn stage_range(
    legacy: &PgPool,
    lms: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<Staged, EngineError> {
    stage_range_recording(legacy, lms, entity, range, Recording::Changes).await
}

/// Whether staging records which rows it wrote (a bulk load does not: every
/// row is new, and the apply looks at all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    Changes,
    Nothing,
}

/// [`stage_range`], recording the rows written or not (the same contract on
/// `lms`).
pub async fn stage_range_recording(
    legacy: &PgPool,
    lms: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
    recording: Recording,
) -> Result<Staged, EngineError> {
    let mut source = CopyConnection::acquire(legacy).await.legacy()?;
    let staged = stage_from(&mut source, lms, entity, range, recording).await?;
    source.release();
    Ok(staged)
}

async fn stage_from(
    source: &mut PgConnection,
    lms: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
    recording: Recording,
) -> Result<Staged, EngineError> {
    let spec = StageSpec::for_entity(entity);
    let table = stage_table(entity);
    let mirror = mirrored_hashes(lms, &table, range).await?;
    // A range staged for the first time (or lost with unlogged staging)
    // streams straight into the mirror. Otherwise the few rows that changed
    // are gathered in memory (a range at most) and replace their mirrored
    // rows after; an unchanged range writes nothing at all.
    let direct = mirror.is_empty();
    let select = format!(
        "COPY (SELECT {} FROM {} WHERE {} ORDER BY {id}) TO STDOUT",
        spec.legacy_columns.join(", "),
        spec.source,
        range.predicate(spec.id_column),
        id = spec.id_column,
    );
    let insert = |into: &str| {
        format!(
            "COPY {into} ({}, staged_under) FROM STDIN",
            spec.stage_columns.join(", ")
        )
    };
    let mut sink = if direct {
        Some(lms.copy_in_raw(&insert(&table)).await.lms()?)
    } else {
        None
    };
    let mut rows = match source.copy_out_raw(&select).await.legacy() {
        Ok(rows) => rows,
        Err(error) => {
            close(sink, None).await?;
            return Err(error);
        }
    };

    let mut splitter = LineSplitter::default();
    let mut buffer = Vec::with_capacity(SEND_BYTES + 4096);
    let mut merge = Merge::new(&mirror);
    let mut failure: Option<EngineError> = None;
    while let Some(chunk) = rows.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                failure = Some(EngineError::Legacy(error));
                break;
            }
        };
        let fed = splitter.feed(&chunk, |line| {
            stage_line(spec, line, &mut merge, &mut buffer)
        });
        if let Err(error) = fed {
            failure = Some(error);
            break;
        }
        if let Some(sink) = sink.as_mut()
            && buffer.len() >= SEND_BYTES
            && let Err(error) = sink.send(std::mem::take(&mut buffer)).await
        {
            failure = Some(EngineError::Lms(error));
            break;
        }
    }
    // The legacy stream must be drained or dropped before its connection is
    // reused; on a failure the caller closes the connection.
    drop(rows);
    if failure.is_none() && splitter.has_partial_line() {
        failure = Some(EngineError::Invariant(format!(
            "the COPY of {} ended mid-row",
            entity.as_str()
        )));
    }
    if let Some(error) = failure {
        close(sink, None).await?;
        return Err(error);
    }
    let gone = merge.gone();
    // (Rows gathered for a merge stay in the buffer, for the scratch table.)
    let rest = if direct {
        std::mem::take(&mut buffer)
    } else {
        Vec::new()
    };
    close(sink, Some(rest)).await?;
    match direct {
        true => {
            if merge.written > 0 && recording == Recording::Changes {
                record_changes(lms, entity, &table, range, "written").await?;
            }
            if recording == Recording::Changes {
                // A mirror range that was lost (unlogged staging after a
                // crash) cannot say what legacy deleted meanwhile: the
                // ledger can, so that the record of changes stays whole
                // (the hold's preview counts deletions from it).
                record_gone_from_ledger(lms, entity, &table, range).await?;
            }
        }
        false if merge.written > 0 || !gone.is_empty() => {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS pg_temp.stage_incoming; \
                 CREATE TEMP TABLE stage_incoming (LIKE {table}) ON COMMIT DROP"
            )))
            .execute(&mut *lms)
            .await
            .lms()?;
            let mut scratch = lms
                .copy_in_raw(&insert("pg_temp.stage_incoming"))
                .await
                .lms()?;
            if !buffer.is_empty() {
                scratch.send(buffer).await.lms()?;
            }
            scratch.finish().await.lms()?;
            replace_changed(lms, entity, &table, &gone).await?;
        }
        false => {}
    }
    Ok(Staged {
        rows: merge.rows,
        written: merge.written,
        gone: u64::try_from(gone.len()).unwrap_or(u64::MAX),
        fingerprint: merge.fingerprint,
    })
}

/// Ends a direct COPY into the mirror: sends what is left and finishes, or
/// (`rest` None, a failure) aborts.
async fn close(
    sink: Option<sqlx::postgres::PgCopyIn<&mut PgConnection>>,
    rest: Option<Vec<u8>>,
) -> Result<(), EngineError> {
    let Some(mut sink) = sink else {
        return Ok(());
    };
    match rest {
        Some(rest) => {
            if !rest.is_empty() {
                sink.send(rest).await.lms()?;
            }
            sink.finish().await.lms()?;
        }
        None => {
            let _ = sink.abort("staging failed").await;
        }
    }
    Ok(())
}

/// The mirror's (legacy id, source hash) pairs over `range`, in id order.
/// A row staged under other rules than this engine's has no hash here: the
/// rules may transform it otherwise now, so it is staged again (and
/// recorded as written) like a changed one.
async fn mirrored_hashes(
    lms: &mut PgConnection,
    table: &str,
    range: IdRange,
) -> Result<Vec<(i64, Option<i64>)>, EngineError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT legacy_id::bigint AS legacy_id, \
                CASE WHEN staged_under = $1 THEN source_hash END AS source_hash \
         FROM {table} WHERE {} ORDER BY legacy_id",
        range.predicate("legacy_id")
    )))
    .bind(staged_under())
    .fetch_all(&mut *lms)
    .await
    .lms()?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("legacy_id").lms()?,
                row.try_get("source_hash").lms()?,
            ))
        })
        .collect()
}

/// Moves the scratch rows into the mirror, removes the gone ones, and
/// records both in `migration.stage_changes` (until a run brings the
/// ledger in step with the mirror).
async fn replace_changed(
    lms: &mut PgConnection,
    entity: LegacyEntity,
    table: &str,
    gone: &[i64],
) -> Result<(), EngineError> {
    // Two statements, so that each finds its rows through the primary key.
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE legacy_id IN (SELECT legacy_id FROM pg_temp.stage_incoming)"
    )))
    .execute(&mut *lms)
    .await
    .lms()?;
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE legacy_id = ANY($1::bigint[])"
    )))
    .bind(gone)
    .execute(&mut *lms)
    .await
    .lms()?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} SELECT * FROM pg_temp.stage_incoming"
    )))
    .execute(&mut *lms)
    .await
    .lms()?;
    sqlx::query(
        "INSERT INTO migration.stage_changes (entity, legacy_id, kind) \
         SELECT $1, legacy_id, 'written' FROM pg_temp.stage_incoming \
         UNION ALL SELECT $1, gone, 'gone' FROM unnest($2::bigint[]) AS gone \
         ON CONFLICT (entity, legacy_id) DO UPDATE SET kind = EXCLUDED.kind",
    )
    .bind(entity.as_str())
    .bind(gone)
    .execute(&mut *lms)
    .await
    .lms()?;
    Ok(())
}

/// Records every row of `range` as written (a range staged whole).
async fn record_changes(
    lms: &mut PgConnection,
    entity: LegacyEntity,
    table: &str,
    range: IdRange,
    kind: &str,
) -> Result<(), EngineError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO migration.stage_changes (entity, legacy_id, kind) \
         SELECT $1, legacy_id, $2 FROM {table} WHERE {} \
         ON CONFLICT (entity, legacy_id) DO UPDATE SET kind = EXCLUDED.kind",
        range.predicate("legacy_id")
    )))
    .bind(entity.as_str())
    .bind(kind)
    .execute(&mut *lms)
    .await
    .lms()?;
    Ok(())
}

/// Records as gone every live ledger row of `range` that the freshly
/// staged range does not hold.
async fn record_gone_from_ledger(
    lms: &mut PgConnection,
    entity: LegacyEntity,
    table: &str,
    range: IdRange,
) -> Result<(), EngineError> {
    let statement = render(
        RECORD_GONE_FROM_LEDGER,
        &[("stage", table), ("range", &range.predicate("l.legacy_id"))],
    )?;
    sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .execute(&mut *lms)
        .await
        .lms()?;
    Ok(())
}

/// The rules version a row is staged under (`staged_under`).
fn staged_under() -> i64 {
    i64::from(crate::resolve::scope::RULES_VERSION)
}

/// Walks the legacy rows (in id order) against the mirror's hashes.
struct Merge<'m> {
    mirror: &'m [(i64, Option<i64>)],
    next: usize,
    seen: Vec<bool>,
    rows: u64,
    written: u64,
    fingerprint: Fingerprint,
}

impl<'m> Merge<'m> {
    fn new(mirror: &'m [(i64, Option<i64>)]) -> Self {
        Merge {
            mirror,
            next: 0,
            seen: vec![false; mirror.len()],
            rows: 0,
            written: 0,
            fingerprint: Fingerprint::default(),
        }
    }

    /// Whether legacy row `id`, hashing to `hash`, must be (re)staged.
    fn changed(&mut self, id: i64, hash: i64) -> bool {
        self.rows += 1;
        self.fingerprint.add(id, hash);
        while self.next < self.mirror.len() && self.mirror[self.next].0 < id {
            self.next += 1;
        }
        let unchanged = self
            .mirror
            .get(self.next)
            .is_some_and(|&(mirrored, staged)| mirrored == id && staged == Some(hash));
        if self
            .mirror
            .get(self.next)
            .is_some_and(|&(mirrored, _)| mirrored == id)
        {
            self.seen[self.next] = true;
        }
        if !unchanged {
            self.written += 1;
        }
        !unchanged
    }

    /// Mirrored ids legacy did not have.
    fn gone(&self) -> Vec<i64> {
        self.mirror
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !**seen)
            .map(|((id, _), _)| *id)
            .collect()
    }
}

fn stage_line(
    spec: &StageSpec,
    line: &[u8],
    merge: &mut Merge<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EngineError> {
    let table = spec.entity.as_str();
    // The source hash is of the row exactly as the legacy database printed it.
    #[allow(clippy::cast_possible_wrap)]
    let hash = xxh3_64(line) as i64;
    // An unchanged row is recognised by its id and hash alone, undecoded.
    if let Some(id) = leading_id(line)
        && !merge.changed(id, hash)
    {
        return Ok(());
    }
    let values =
        decode_fields(line, spec.legacy_columns.len()).map_err(|error| EngineError::LegacyRow {
            table,
            row: String::from_utf8_lossy(line.split(|b| *b == b'\t').next().unwrap_or_default())
                .into_owned(),
            problem: error.to_string(),
        })?;
    let fields = LegacyFields {
        values: &values,
        columns: spec.legacy_columns,
    };
    let id = fields.id(0).map_err(|error| EngineError::LegacyRow {
        table,
        row: "?".to_owned(),
        problem: error.to_string(),
    })?;
    if leading_id(line).is_none() && !merge.changed(id, hash) {
        return Ok(());
    }
    let mark = out.len();
    let mut row = RowWriter::new(out);
    row.int(id).int(hash);
    if let Err(error) = (spec.transform)(&fields, &mut row) {
        out.truncate(mark);
        return Err(EngineError::LegacyRow {
            table,
            row: id.to_string(),
            problem: error.to_string(),
        });
    }
    row.int(staged_under());
    row.finish();
    Ok(())
}

/// The id in a COPY line's first field, when it is a plain integer.
fn leading_id(line: &[u8]) -> Option<i64> {
    let end = line
        .iter()
        .position(|byte| *byte == b'\t')
        .unwrap_or(line.len());
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leading_id_is_read_without_decoding_the_row() {
        assert_eq!(leading_id(b"42\tx\ty"), Some(42));
        assert_eq!(leading_id(b"-9223372036854775808\t"), Some(i64::MIN));
        assert_eq!(leading_id(b"\\N\tx"), None);
    }

    #[test]
    fn the_merge_finds_new_changed_and_gone_rows() {
        let mirror = [(1, Some(10)), (2, Some(20)), (4, Some(40)), (5, Some(50))];
        let mut merge = Merge::new(&mirror);
        assert!(!merge.changed(1, 10), "unchanged");
        assert!(merge.changed(2, 21), "changed");
        assert!(merge.changed(3, 30), "new");
        assert!(!merge.changed(5, 50), "unchanged after a gap");
        assert!(merge.changed(6, 60), "new at the end");
        assert_eq!(merge.gone(), vec![4]);
        assert_eq!((merge.rows, merge.written), (5, 3));
    }

    #[test]
    fn a_row_staged_under_other_rules_is_staged_again_and_not_gone() {
        let mirror = [(1, Some(10)), (2, None)];
        let mut merge = Merge::new(&mirror);
        assert!(!merge.changed(1, 10));
        assert!(merge.changed(2, 20), "staged under other rules");
        assert!(merge.gone().is_empty());
    }

    #[test]
    fn the_fingerprint_is_of_the_rows_whatever_the_mirror_held() {
        let rows = [(1, 10), (2, 21), (3, 30)];
        let mut against_nothing = Merge::new(&[]);
        let mirror = [(1, Some(10)), (2, Some(20)), (4, Some(40))];
        let mut against_a_mirror = Merge::new(&mirror);
        for (id, hash) in rows {
            against_nothing.changed(id, hash);
            against_a_mirror.changed(id, hash);
        }
        assert_eq!(against_nothing.fingerprint, against_a_mirror.fingerprint);
        let mut other = Merge::new(&[]);
        for (id, hash) in [(1, 10), (2, 20), (3, 30)] {
            other.changed(id, hash);
        }
        assert_ne!(
            other.fingerprint, against_nothing.fingerprint,
            "one hash differs"
        );
    }

    #[test]
    fn a_fingerprint_survives_the_chunk_statistics() {
        let staged = Staged {
            rows: 3,
            written: 1,
            gone: 0,
            fingerprint: Fingerprint(u64::MAX),
        };
        let json = serde_json::to_value(staged).expect("serializes");
        assert_eq!(json["fingerprint"], "ffffffffffffffff");
        let back: Staged = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, staged);
    }

    #[test]
    fn an_empty_mirror_stages_everything() {
        let mut merge = Merge::new(&[]);
        assert!(merge.changed(i64::MIN, 0));
        assert!(merge.changed(i64::MAX, 0));
        assert!(merge.gone().is_empty());
    }
}
