//! Ids streamed out of PostgreSQL by `COPY ... TO STDOUT`, one per line,
//! read in constant memory however large the table.

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::EngineError;

/// Which database a stream comes from, for its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdSource {
    Legacy,
    Lms,
}

/// Integers, one per line, from a COPY stream.
pub(crate) struct IdStream<'c> {
    stream: BoxStream<'c, Result<bytes::Bytes, sqlx::Error>>,
    buffer: Vec<u8>,
    position: usize,
    source: IdSource,
}

impl<'c> IdStream<'c> {
    pub(crate) fn new(
        stream: BoxStream<'c, Result<bytes::Bytes, sqlx::Error>>,
        source: IdSource,
    ) -> Self {
        IdStream {
            stream,
            buffer: Vec::new(),
            position: 0,
            source,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<i64>, EngineError> {
        Ok(self.next_entry().await?.map(|(id, _)| id))
    }

    /// The next line's leading id and where the rest of the line (after a
    /// tab; empty if there is none) lies, for [`IdStream::rest`].
    pub(crate) async fn next_entry(
        &mut self,
    ) -> Result<Option<(i64, std::ops::Range<usize>)>, EngineError> {
        loop {
            if let Some(end) = self.buffer[self.position..]
                .iter()
                .position(|byte| *byte == b'\n')
            {
                let (start, end) = (self.position, self.position + end);
                self.position = end + 1;
                let line = &self.buffer[start..end];
                let id_end = line.iter().position(|byte| *byte == b'\t');
                let id = std::str::from_utf8(&line[..id_end.unwrap_or(line.len())])
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| {
                        EngineError::Invariant(format!("not an id in a COPY stream: {line:?}"))
                    })?;
                let rest = id_end.map_or(end..end, |tab| start + tab + 1..end);
                return Ok(Some((id, rest)));
            }
            match self.stream.next().await {
                None => return Ok(None),
                Some(Err(error)) => {
                    return Err(match self.source {
                        IdSource::Legacy => EngineError::Legacy(error),
                        IdSource::Lms => EngineError::Lms(error),
                    });
                }
                Some(Ok(chunk)) => {
                    self.buffer.drain(..self.position);
                    self.position = 0;
                    self.buffer.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// The rest of the line [`IdStream::next_entry`] last returned.
    pub(crate) fn rest(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.buffer.get(range).unwrap_or_default()
    }
}
