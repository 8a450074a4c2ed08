//! Reading whole tables fast: a `COPY (SELECT ...) TO STDOUT` in text
//! format, decoded into rows of optional text, the first column an id.

use futures::StreamExt as _;
use lms_pg::copy_text::{LineSplitter, decode_line};
use sqlx::PgPool;

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
pub type IdRow = (i64, Vec<Option<String>>);

/// Runs `select` through COPY and decodes every row. The first column must
/// be a non-NULL integer id.
pub async fn copy_rows(pool: &PgPool, side: Side, select: &str) -> Result<Vec<IdRow>, EngineError> {
    let mut connection = pool.acquire().await.map_err(|error| side.error(error))?;
    let rows = read_all(&mut connection, side, select).await;
    if rows.is_err() {
        // A COPY left half read must never go back to the pool.
        connection.close_on_drop();
    }
    rows
}

async fn read_all(
    connection: &mut sqlx::PgConnection,
    side: Side,
    select: &str,
) -> Result<Vec<IdRow>, EngineError> {
    let mut stream = connection
        .copy_out_raw(&format!("COPY ({select}) TO STDOUT"))
        .await
        .map_err(|error| side.error(error))?;
    let mut splitter = LineSplitter::default();
    let mut rows = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| side.error(error))?;
        splitter.feed(&chunk, |line| {
            rows.push(decode_row(line)?);
            Ok::<(), EngineError>(())
        })?;
    }
    if splitter.has_partial_line() {
        return Err(EngineError::Invariant(format!(
            "a COPY for verification ended mid-row: {select}"
        )));
    }
    Ok(rows)
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
    let fields = match rest {
        Some(rest) => decode_line(rest)
            .map_err(|error| EngineError::Invariant(format!("undecodable COPY row: {error}")))?,
        None => Vec::new(),
    };
    Ok((id, fields))
}

#[cfg(test)]
mod tests {
    use super::decode_row;

    #[test]
    fn the_first_column_is_the_id_and_the_rest_are_fields() {
        let (id, fields) = decode_row(b"42\tname\t\\N").expect("a row");
        assert_eq!(id, 42);
        assert_eq!(fields, vec![Some("name".to_owned()), None]);
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
