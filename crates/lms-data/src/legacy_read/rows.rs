//! What every legacy read shares: error classification, legacy timestamps,
//! keyset scans with the contract applied, and the text rules.

use chrono::{DateTime, Utc};
use lms_domain::DomainError;
use lms_domain::model::{Cursor, CursorSpace, Legacy, Page, PageRequest};
use lms_domain::text::{clean_opt, required_name};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Postgres, Type};

use super::people::legacy_key;
use crate::outage;

/// Turns a driver error into the domain error a caller can act on, with
/// the one classification the engine and the repository use
/// (`lms_pg::classify`): transient failures are Unavailable in the domain's
/// words (the router then tries elsewhere or reports the outage), anything
/// else Internal (whose text only reaches the log).
fn classify(database: outage::Database, error: &sqlx::Error) -> DomainError {
    if lms_pg::classify(error) == lms_pg::FailureClass::Transient {
        outage::unavailable(database, error)
    } else {
        DomainError::Internal(format!("{database:?} database: {error}"))
    }
}

/// Results of statements on the legacy database or on the LMS database.
pub(super) trait DatabaseResult<T> {
    fn legacy(self) -> Result<T, DomainError>;
    fn lms(self) -> Result<T, DomainError>;
}

impl<T> DatabaseResult<T> for Result<T, sqlx::Error> {
    fn legacy(self) -> Result<T, DomainError> {
        self.map_err(|error| classify(outage::Database::Legacy, &error))
    }

    fn lms(self) -> Result<T, DomainError> {
        self.map_err(|error| classify(outage::Database::Lms, &error))
    }
}

/// A legacy `timestamp` column read as the engine stores it: `AT TIME
/// ZONE` the legacy zone (`$1`), NULL when its wall-clock year is outside
/// the years the LMS holds (`lms_domain::instant::legacy_instant`, which
/// the engine applies to the same wall clock before it converts; the
/// infinities have no year in that range either). Decoded as [`UtcTime`].
macro_rules! legacy_instant {
    ($column:literal) => {
        concat!(
            "CASE WHEN extract(year FROM ",
            $column,
            ") BETWEEN 1 AND 9999 THEN ",
            $column,
            " AT TIME ZONE $1 END"
        )
    };
}
pub(super) use legacy_instant;

/// An instant read from PostgreSQL; `infinity` and `-infinity` have no
/// `DateTime<Utc>` and read as `None` instead of overflowing the driver's
/// conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UtcTime(Option<DateTime<Utc>>);

impl UtcTime {
    pub fn instant(self) -> Option<DateTime<Utc>> {
        self.0
    }
}

/// PostgreSQL counts microseconds from 2000-01-01; Unix from 1970-01-01.
const POSTGRES_EPOCH_IN_UNIX_MICROS: i64 = 946_684_800_000_000;

impl Type<Postgres> for UtcTime {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for UtcTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                // The infinities are the two extreme values.
                let micros = <i64 as Decode<Postgres>>::decode(value)?;
                Ok(UtcTime(
                    micros
                        .checked_add(POSTGRES_EPOCH_IN_UNIX_MICROS)
                        .filter(|_| micros != i64::MAX && micros != i64::MIN)
                        .and_then(DateTime::from_timestamp_micros),
                ))
            }
            PgValueFormat::Text => match value.as_str()? {
                "infinity" | "-infinity" => Ok(UtcTime(None)),
                _ => Ok(UtcTime(Some(<DateTime<Utc> as Decode<Postgres>>::decode(
                    value,
                )?))),
            },
        }
    }
}

/// The provenance of a served row: its legacy id, and never flagged (a
/// flagged row's legacy row is gone, so it is not served at all).
pub(super) fn served(legacy_id: i64) -> Option<Legacy> {
    Some(Legacy {
        legacy_id,
        source_deleted: false,
    })
}

/// The contract's `trim`, owned.
pub(super) fn trimmed(value: Option<&str>) -> Option<String> {
    clean_opt(value).map(str::to_owned)
}

/// A required name as the migration gives it (its warning is the ledger's
/// business, not a read's).
pub(super) fn name_or_placeholder(value: Option<&str>, kind: &str, legacy_id: i64) -> String {
    required_name(value, kind, legacy_id).value
}

/// A filter's LMS id as the legacy id to filter on: `None` without the
/// filter. An id the map does not know may be a `resource` created in the
/// LMS, whose rows legacy cannot list: not an empty page, which would say
/// it has none, but [`DomainError::NotKnownToLegacy`].
pub(super) fn legacy_filter(
    resource: &'static str,
    lms_id: Option<i64>,
    to_legacy: impl Fn(i64) -> Option<i64>,
) -> Result<Option<i64>, DomainError> {
    match lms_id {
        None => Ok(None),
        Some(id) => to_legacy(id)
            .map(Some)
            .ok_or_else(|| DomainError::not_known_to_legacy(resource, id)),
    }
}

/// What a lookup by legacy id answers: the row; NotFound where the map has
/// no migrated row under the id (legacy lacks it, or the ledger rejected or
/// merged it), as the LMS would; NotKnownToLegacy where the map has one
/// that legacy can no longer serve (the LMS keeps that row).
pub(super) fn looked_up<T>(
    found: Option<T>,
    mapped: bool,
    resource: &'static str,
    legacy_id: i64,
) -> Result<T, DomainError> {
    match (found, mapped) {
        (Some(item), _) => Ok(item),
        (None, true) => Err(DomainError::not_known_to_legacy(
            resource,
            legacy_key(legacy_id),
        )),
        (None, false) => Err(DomainError::not_found(resource, legacy_key(legacy_id))),
    }
}

/// The first legacy id a scan reads: the one after the page's cursor, or
/// the smallest a `bigint` holds; none after the largest. Scans read
/// `id >= from`, so that a row with the smallest id is listed too.
pub(super) fn scan_start(page: PageRequest) -> Option<i64> {
    match page.after() {
        None => Some(i64::MIN),
        Some(after) => after.checked_add(1),
    }
}

/// The largest number of legacy rows one statement of a scan reads.
const MAX_BATCH: usize = 5_000;

/// What a bounded scan found.
pub(super) struct Scanned<T> {
    pub items: Vec<T>,
    /// The last legacy id examined, when the scan reached its bound on rows
    /// before the page was full and before the table ended.
    pub stopped_after: Option<i64>,
}

impl<T> Scanned<T> {
    /// The page of a list read in legacy id order: the items, and the page
    /// after the last item, or after the last row examined when the scan
    /// stopped at its bound (a short page, AIP-158).
    pub fn into_page(self, page: PageRequest, id_of: impl Fn(&T) -> i64) -> Page<T> {
        Page::from_overfetch_in(CursorSpace::Legacy, self.items, page, id_of).resuming_after(
            self.stopped_after.map(|after| Cursor {
                space: CursorSpace::Legacy,
                after,
            }),
        )
    }
}

/// Reads legacy rows in id order after the page's cursor and keeps the ones
/// `keep` converts (served rows that pass the filter), until there is one
/// more than the page holds, the table ends, or `max_rows` rows have been
/// examined (`legacy.max_rows_per_list`): a filter that matches few rows
/// among many then yields a short page whose cursor is the last row
/// examined, instead of reading the whole table in one call.
///
/// SQL cannot tell which rows are served (that is the id map) nor apply the
/// contract's Unicode trim and lower exactly, so rows are read in batches a
/// little larger than the page, growing when many are skipped.
/// `fetch(from, limit)` reads up to `limit` rows with ids from `from` up,
/// in id order.
///
/// `fetch` is a plain closure returning a future (not an async closure) so
/// that the list futures stay `Send` for the router.
pub(super) async fn collect<R, T, F>(
    page: PageRequest,
    max_rows: usize,
    mut fetch: impl FnMut(i64, i64) -> F,
    row_id: impl Fn(&R) -> i64,
    mut keep: impl FnMut(R) -> Option<T>,
) -> Result<Scanned<T>, DomainError>
where
    F: Future<Output = Result<Vec<R>, DomainError>>,
{
    let wanted = page.size() as usize + 1;
    let max_rows = max_rows.max(1);
    let mut items = Vec::with_capacity(wanted);
    let Some(mut from) = scan_start(page) else {
        return Ok(Scanned {
            items,
            stopped_after: None,
        });
    };
    let mut examined = 0;
    let mut batch = wanted + wanted / 4 + 8;
    loop {
        let this_batch = batch.min(max_rows - examined);
        let limit = i64::try_from(this_batch).unwrap_or(i64::MAX);
        let rows = fetch(from, limit).await?;
        let mut exhausted = rows.len() < this_batch;
        examined += rows.len();
        let mut after = from;
        for row in rows {
            after = row_id(&row);
            if let Some(item) = keep(row) {
                items.push(item);
                if items.len() == wanted {
                    return Ok(Scanned {
                        items,
                        stopped_after: None,
                    });
                }
            }
        }
        // Nothing follows the largest id a `bigint` holds.
        match after.checked_add(1) {
            Some(next) => from = next,
            None => exhausted = true,
        }
        if exhausted {
            return Ok(Scanned {
                items,
                stopped_after: None,
            });
        }
        if examined >= max_rows {
            return Ok(Scanned {
                items,
                stopped_after: Some(after),
            });
        }
        batch = (batch * 2).min(MAX_BATCH);
    }
}

/// How SQL narrows a filter on a free-text vocabulary column (a status, a
/// role) that the contract reads with Unicode `lower(trim(..))`.
///
/// A value other than the catch-all matches only text that is an ASCII
/// case variant of its word with white space around (no non-ASCII letter
/// lower-cases into these words), so "contains the word, ASCII-lowered" is
/// a superset. The catch-all (the default status, the `other` role) takes
/// everything except text that is exactly another value's word once spaces
/// are trimmed. The exact filter runs on the converted items.
#[derive(Debug, Default)]
pub(super) struct VocabularyFilter {
    pub contains: Option<&'static str>,
    pub excluded: Option<Vec<&'static str>>,
}

impl VocabularyFilter {
    pub fn new<T: Copy + PartialEq>(
        wanted: Option<T>,
        catch_all: T,
        all: &[T],
        word: impl Fn(T) -> &'static str,
    ) -> VocabularyFilter {
        match wanted {
            None => VocabularyFilter::default(),
            Some(wanted) if wanted == catch_all => VocabularyFilter {
                contains: None,
                excluded: Some(
                    all.iter()
                        .filter(|value| **value != wanted)
                        .map(|value| word(*value))
                        .collect(),
                ),
            },
            Some(wanted) => VocabularyFilter {
                contains: Some(word(wanted)),
                excluded: None,
            },
        }
    }
}

/// The SQL of a [`VocabularyFilter`] on `$column`, with its two parameters.
macro_rules! vocabulary_sql {
    ($column:literal, $contains:literal, $excluded:literal) => {
        concat!(
            "(",
            $contains,
            "::text IS NULL OR strpos(translate(",
            $column,
            ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), ",
            $contains,
            ") > 0) AND (",
            $excluded,
            "::text[] IS NULL OR ",
            $column,
            " IS NULL OR NOT (translate(btrim(",
            $column,
            "), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = ANY (",
            $excluded,
            ")))"
        )
    };
}
pub(super) use vocabulary_sql;

#[cfg(test)]
mod tests {
    use super::*;
    use lms_domain::account::Role;
    use lms_domain::status::StudentStatus;

    #[test]
    fn vocabulary_filters_narrow_to_a_superset() {
        let expelled = VocabularyFilter::new(
            Some(StudentStatus::Expelled),
            StudentStatus::Active,
            StudentStatus::ALL,
            StudentStatus::as_str,
        );
        assert_eq!(expelled.contains, Some("expelled"));
        assert_eq!(expelled.excluded, None);
        let active = VocabularyFilter::new(
            Some(StudentStatus::Active),
            StudentStatus::Active,
            StudentStatus::ALL,
            StudentStatus::as_str,
        );
        assert_eq!(active.contains, None);
        assert_eq!(
            active.excluded,
            Some(vec!["expelled", "graduated", "academic_leave"])
        );
        let other = VocabularyFilter::new(Some(Role::Other), Role::Other, &Role::ALL, Role::as_str);
        assert_eq!(
            other.excluded,
            Some(vec!["student", "teacher", "admin", "parent", "methodist"])
        );
    }

    #[test]
    fn placeholders_name_blank_required_names() {
        assert_eq!(name_or_placeholder(Some(" \t"), "Subject", 7), "Subject 7");
        assert_eq!(name_or_placeholder(Some(" Math "), "Subject", 7), "Math");
        assert_eq!(trimmed(Some("\u{a0}x ")), Some("x".to_owned()));
    }
}
