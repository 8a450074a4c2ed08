//! PostgreSQL's `COPY ... (FORMAT text)` encoding.
//!
//! Rows are lines, fields are separated by tabs, `\N` is NULL, and
//! backslash, tab, newline and carriage return inside values are escaped.
//! The engine reads legacy tables and writes staging tables in this format,
//! because it is the fastest path PostgreSQL offers short of binary COPY and
//! it carries every value, `infinity` timestamps included, without loss.

use std::fmt;

/// Appends one encoded row (fields plus the trailing newline) to a buffer.
#[derive(Debug)]
pub struct RowWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> RowWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        RowWriter { out, first: true }
    }

    fn separator(&mut self) {
        if !self.first {
            self.out.push(b'\t');
        }
        self.first = false;
    }

    /// A NULL field.
    pub fn null(&mut self) -> &mut Self {
        self.separator();
        self.out.extend_from_slice(b"\\N");
        self
    }

    /// A text field, escaped.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.separator();
        escape_into(value.as_bytes(), self.out);
        self
    }

    /// A text field or NULL.
    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    /// An integer field.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.separator();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// An integer field or NULL.
    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    /// A boolean field.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.separator();
        self.out.push(if value { b't' } else { b'f' });
        self
    }

    /// A field that needs no escaping because its `Display` never writes a
    /// tab, newline or backslash (numbers, dates, timestamps).
    pub fn display(&mut self, value: impl fmt::Display) -> &mut Self {
        use std::io::Write;
        self.separator();
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{value}");
        self
    }

    /// Like [`RowWriter::display`], or NULL.
    pub fn opt_display(&mut self, value: Option<impl fmt::Display>) -> &mut Self {
        match value {
            Some(value) => self.display(value),
            None => self.null(),
        }
    }

    /// Ends the row.
    pub fn finish(&mut self) {
        self.out.push(b'\n');
    }
}

fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    for &byte in value {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(byte),
        }
    }
}

/// A malformed line in a COPY text stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("a field is not valid UTF-8")]
    NotUtf8,
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("unsupported escape sequence in a field")]
    BadEscape,
}

/// Splits one line (without its newline) into decoded fields; `None` is NULL.
pub fn decode_line(line: &[u8]) -> Result<Vec<Option<String>>, DecodeError> {
    // Sized once: growing by pushes reallocates a wide row three or four
    // times, and verify decodes a million rows.
    let mut fields = Vec::with_capacity(line.iter().filter(|&&byte| byte == b'\t').count() + 1);
    for raw in line.split(|&byte| byte == b'\t') {
        fields.push(decode_field(raw)?);
    }
    Ok(fields)
}

/// [`decode_line`] that also checks the number of fields.
pub fn decode_fields(line: &[u8], expected: usize) -> Result<Vec<Option<String>>, DecodeError> {
    let fields = decode_line(line)?;
    if fields.len() == expected {
        Ok(fields)
    } else {
        Err(DecodeError::FieldCount {
            expected,
            found: fields.len(),
        })
    }
}

/// One field of a text-format COPY line: `\N` is NULL, escapes undone.
pub fn decode_field(raw: &[u8]) -> Result<Option<String>, DecodeError> {
    if raw == b"\\N" {
        return Ok(None);
    }
    if !raw.contains(&b'\\') {
        return String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| DecodeError::NotUtf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let escaped = bytes.next().ok_or(DecodeError::BadEscape)?;
        out.push(match escaped {
            b'\\' => b'\\',
            b't' => b'\t',
            b'n' => b'\n',
            b'r' => b'\r',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'v' => 0x0b,
            b'0'..=b'7' => {
                // Up to three octal digits; PostgreSQL writes these only for
                // bytes it chose to escape, never for ordinary text.
                let mut value = u32::from(escaped - b'0');
                for _ in 0..2 {
                    match bytes.peek() {
                        Some(&digit @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(digit - b'0');
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                u8::try_from(value).map_err(|_| DecodeError::BadEscape)?
            }
            other => other,
        });
    }
    String::from_utf8(out)
        .map(Some)
        .map_err(|_| DecodeError::NotUtf8)
}

/// Splits a stream of COPY chunks into complete lines, carrying a partial
/// line over to the next chunk.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds one chunk; calls `each_line` for every complete line in it.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        mut each_line: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            if self.pending.is_empty() {
                each_line(&rest[..end])?;
            } else {
                self.pending.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.pending);
                each_line(&line)?;
            }
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Whether a partial line is left over (a truncated stream).
    pub fn has_partial_line(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nulls_and_escapes_round_trip() {
        let mut out = Vec::new();
        RowWriter::new(&mut out)
            .int(7)
            .null()
            .text("a\tb\\c\nd\re")
            .opt_text(Some("\\N"))
            .bool(true)
            .finish();
        assert_eq!(out, b"7\t\\N\ta\\tb\\\\c\\nd\\re\t\\\\N\tt\n");
        let fields = decode_fields(&out[..out.len() - 1], 5).unwrap();
        assert_eq!(
            fields,
            vec![
                Some("7".into()),
                None,
                Some("a\tb\\c\nd\re".into()),
                Some("\\N".into()),
                Some("t".into())
            ]
        );
    }

    #[test]
    fn octal_escapes_decode() {
        assert_eq!(
            decode_line(b"\\101\\7").unwrap(),
            vec![Some("A\u{7}".into())]
        );
        assert_eq!(decode_line(b"x\\").unwrap_err(), DecodeError::BadEscape);
    }

    #[test]
    fn splitter_carries_partial_lines() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in [&b"a\tb\nc"[..], b"d\ne", b"f\n"] {
            splitter
                .feed::<()>(chunk, |line| {
                    lines.push(line.to_vec());
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(
            lines,
            vec![b"a\tb".to_vec(), b"cd".to_vec(), b"ef".to_vec()]
        );
        assert!(!splitter.has_partial_line());
    }

    proptest! {
        #[test]
        fn any_text_round_trips(values in proptest::collection::vec(proptest::option::of(".*"), 1..6)) {
            let mut out = Vec::new();
            let mut row = RowWriter::new(&mut out);
            for value in &values {
                row.opt_text(value.as_deref());
            }
            row.finish();
            let decoded = decode_fields(&out[..out.len() - 1], values.len()).unwrap();
            prop_assert_eq!(decoded, values);
        }
    }
}
