//! The stage phase: legacy rows of one id range, read with COPY, put
//! through the row-local contract rules, and written with COPY into
//! `migration.stage_<table>`.
//!
//! Memory is bounded by one COPY buffer whatever the range's size: rows are
//! transformed as they stream past.

mod fields;
pub mod specs;

use futures::StreamExt;
use lms_pg::copy_text::{LineSplitter, RowWriter, decode_fields};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use fields::LegacyFields;
use lms_domain::LegacyEntity;
use specs::StageSpec;

/// Staged rows are handed to PostgreSQL in buffers of about this size.
const SEND_BYTES: usize = 256 * 1024;

/// The staging table of a legacy table.
pub fn stage_table(entity: LegacyEntity) -> String {
    format!("migration.stage_{}", entity.as_str())
}

/// Stages the legacy rows of `entity` in `range`; returns how many.
pub async fn stage_range(
    legacy: &PgPool,
    lms: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<u64, EngineError> {
    let spec = StageSpec::for_entity(entity);
    let table = stage_table(entity);
    let clear = format!("DELETE FROM {table} WHERE {}", range.predicate("legacy_id"));
    sqlx::query(AssertSqlSafe(clear))
        .execute(&mut *lms)
        .await
        .lms()?;

    let select = format!(
        "COPY (SELECT {} FROM {} WHERE {} ORDER BY {id}) TO STDOUT",
        spec.legacy_columns.join(", "),
        spec.source,
        range.predicate(spec.id_column),
        id = spec.id_column,
    );
    let mut source = legacy.acquire().await.legacy()?;
    let mut rows = source.copy_out_raw(&select).await.legacy()?;
    let insert = format!(
        "COPY {table} ({}) FROM STDIN",
        spec.stage_columns.join(", ")
    );
    let mut sink = lms.copy_in_raw(&insert).await.lms()?;

    let mut splitter = LineSplitter::default();
    let mut buffer = Vec::with_capacity(SEND_BYTES + 4096);
    let mut count = 0u64;
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
            stage_line(spec, line, &mut buffer)?;
            count += 1;
            Ok::<(), EngineError>(())
        });
        if let Err(error) = fed {
            failure = Some(error);
            break;
        }
        if buffer.len() >= SEND_BYTES
            && let Err(error) = sink.send(std::mem::take(&mut buffer)).await
        {
            failure = Some(EngineError::Lms(error));
            break;
        }
    }
    // The legacy stream must be drained or dropped before its connection is
    // reused; dropping the connection closes it.
    drop(rows);
    if failure.is_none() && splitter.has_partial_line() {
        failure = Some(EngineError::Invariant(format!(
            "the COPY of {} ended mid-row",
            entity.as_str()
        )));
    }
    if let Some(error) = failure {
        let _ = sink.abort("staging failed").await;
        source.close_on_drop();
        return Err(error);
    }
    if !buffer.is_empty() {
        sink.send(buffer).await.lms()?;
    }
    sink.finish().await.lms()?;
    Ok(count)
}

fn stage_line(spec: &StageSpec, line: &[u8], out: &mut Vec<u8>) -> Result<(), EngineError> {
    let table = spec.entity.as_str();
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
    // The source hash is of the row exactly as the legacy database printed it.
    #[allow(clippy::cast_possible_wrap)]
    let hash = xxh3_64(line) as i64;
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
    row.finish();
    Ok(())
}
