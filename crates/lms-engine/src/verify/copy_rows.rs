//! Reading whole tables fast: a `COPY (SELECT ...) TO STDOUT` in text
//! format, decoded into rows of optional text, the first column an id.

use futures::StreamExt as _;
use lms_pg::CopyConnection;
use lms_pg::copy_text::{LineSplitter, decode_field};
use sqlx::PgPool;

use super::canonical::FieldText;
use crate::error::EngineError;

/// Which database a read is from (for its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Legacy,
    Lms,
}

impl Side {
    fn error(self, error: sqlx::Error) -> EngineError {
        match self {
            Side::Legacy => EngineError::Legacy(error),
            Side::Lms => EngineError::Lms(error),
        }
    }
}

/// One row: its id (the first column) and the other columns as text.
pub type IdRow = (i64, Vec<Option<FieldText>>);

/// Runs `select` through COPY and decodes every row. The first column must
/// be a non-NULL integer id.
pub async fn copy_rows(pool: &PgPool, side: Side, select: &str) -> Result<Vec<IdRow>, EngineError> {
    let mut rows = Vec::new();
    for_each_row(pool, side, select, |row| {
        rows.push(row);
        Ok(())
    })
    .await?;
    Ok(rows)
}

/// Runs `select` through COPY and hands every row, decoded, to `each` as
/// it arrives (nothing is kept here). The first column must be a non-NULL
/// integer id.
pub async fn for_each_row(
    pool: &PgPool,
    side: Side,
    select: &str,
    each: impl FnMut(IdRow) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut connection = CopyConnection::acquire(pool)
        .await
        .map_err(|error| side.error(error))?;
    read_all(&mut connection, side, select, each).await?;
    connection.release();
    Ok(())
}

async fn read_all(
    connection: &mut sqlx::PgConnection,
    side: Side,
    select: &str,
    mut each: impl FnMut(IdRow) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut stream = connection
        .copy_out_raw(&format!("COPY ({select}) TO STDOUT"))
        .await
        .map_err(|error| side.error(error))?;
    let mut splitter = LineSplitter::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| side.error(error))?;
        splitter.feed(&chunk, |line| each(decode_row(line)?))?;
    }
    if splitter.has_partial_line() {
        return Err(EngineError::Invariant(format!(
            "a COPY for verification ended mid-row: {select}"
        )));
    }
    Ok(())
}

fn decode_row(line: &[u8]) -> Result<IdRow, EngineError> {
    let (id, rest) = match line.iter().position(|&byte| byte == b'\t') {
        Some(tab) => (&line[..tab], Some(&line[tab + 1..])),
        None => (line, None),
    };
    let id = std::str::from_utf8(id)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| EngineError::Invariant("a COPY row without an integer id".to_owned()))?;
    let Some(rest) = rest else {
        return Ok((id, Vec::new()));
    };
    let mut fields = Vec::with_capacity(rest.iter().filter(|&&byte| byte == b'\t').count() + 1);
    for raw in rest.split(|&byte| byte == b'\t') {
        fields.push(field_text(raw)?);
    }
    Ok((id, fields))
}

/// One field, decoded straight into its inline form when it has no escapes
/// (almost all of them).
fn field_text(raw: &[u8]) -> Result<Option<FieldText>, EngineError> {
    let undecodable = |error: &dyn std::fmt::Display| {
        EngineError::Invariant(format!("undecodable COPY row: {error}"))
    };
    if raw.contains(&b'\\') {
        return decode_field(raw)
            .map(|text| text.map(FieldText::from))
            .map_err(|error| undecodable(&error));
    }
    std::str::from_utf8(raw)
        .map(|text| Some(FieldText::new(text)))
        .map_err(|error| undecodable(&error))
}

#[cfg(test)]
mod tests {
    use super::decode_row;

    #[test]
    fn the_first_column_is_the_id_and_the_rest_are_fields() {
        let (id, fields) = decode_row(b"42\tname\t\\N").expect("a row");
        assert_eq!(id, 42);
        assert_eq!(fields, vec![Some("name".into()), None]);
    }

    #[test]
    fn escapes_are_undone() {
        let (_, fields) = decode_row(b"1\ta\\tb\t\\\\N").expect("a row");
        assert_eq!(fields, vec![Some("a\tb".into()), Some("\\N".into())]);
    }

    #[test]
    fn a_row_of_one_column_has_no_fields() {
        assert_eq!(decode_row(b"-7").expect("a row"), (-7, Vec::new()));
    }

    #[test]
    fn a_null_or_textual_id_is_an_error() {
        assert!(decode_row(b"\\N\tx").is_err());
        assert!(decode_row(b"x\ty").is_err());
        assert!(decode_row(b"").is_err());
    }
}
