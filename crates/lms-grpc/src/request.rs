//! Checks shared by every request: page sizes and tokens, filters, update
//! masks, and text lengths.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lms_domain::model::{Cursor, CursorSpace, PageRequest};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::ApiError;

/// The longest text a name-like field may hold.
pub const MAX_SHORT_TEXT: usize = 500;
/// The longest text a body-like field may hold.
pub const MAX_LONG_TEXT: usize = 100_000;

/// Checks `page_size` and decodes `page_token`, which must have been issued
/// for the same method and filter (`binding`).
pub fn page(page_size: i32, page_token: &str, binding: &str) -> Result<PageRequest, ApiError> {
    let size = page_size_of(page_size)?;
    let cursor = match decode_token(page_token, binding)? {
        None => None,
        Some(bytes) => {
            let [space, after @ ..] = bytes.as_slice() else {
                return Err(not_ours());
            };
            let space = match space {
                0 => CursorSpace::Lms,
                1 => CursorSpace::Legacy,
                _ => return Err(not_ours()),
            };
            let after = i64::from_be_bytes(after.try_into().map_err(|_| not_ours())?);
            Some(Cursor { space, after })
        }
    };
    Ok(PageRequest::resume(size, cursor))
}

/// Like [`page`], for lists whose cursor is a UUID (migration runs).
pub fn page_by_uuid(
    page_size: i32,
    page_token: &str,
    binding: &str,
) -> Result<(u32, Option<uuid::Uuid>), ApiError> {
    let size = PageRequest::new(page_size_of(page_size)?, None).size();
    let after = match decode_token(page_token, binding)? {
        None => None,
        Some(cursor) => Some(uuid::Uuid::from_slice(&cursor).map_err(|_| not_ours())?),
    };
    Ok((size, after))
}

fn page_size_of(page_size: i32) -> Result<u32, ApiError> {
    u32::try_from(page_size).map_err(|_| ApiError::invalid("page_size", "must not be negative"))
}

/// The token of the page after `cursor`, bound to `binding`.
pub fn next_token(cursor: Option<Cursor>, binding: &str) -> String {
    cursor.map_or_else(String::new, |cursor| {
        let mut bytes = Vec::with_capacity(9);
        bytes.push(match cursor.space {
            CursorSpace::Lms => 0,
            CursorSpace::Legacy => 1,
        });
        bytes.extend_from_slice(&cursor.after.to_be_bytes());
        encode_token(&bytes, binding)
    })
}

/// The token of the page after the run `after`.
pub fn next_uuid_token(after: Option<uuid::Uuid>, binding: &str) -> String {
    after.map_or_else(String::new, |after| encode_token(after.as_bytes(), binding))
}

/// A token: a version byte, the cursor, and a hash of what it is bound to.
fn encode_token(cursor: &[u8], binding: &str) -> String {
    let mut bytes = Vec::with_capacity(cursor.len() + 9);
    bytes.push(1u8);
    bytes.extend_from_slice(cursor);
    bytes.extend_from_slice(&xxh3_64(binding.as_bytes()).to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn not_ours() -> ApiError {
    ApiError::invalid("page_token", "is not a page token this server issued")
}

fn decode_token(token: &str, binding: &str) -> Result<Option<Vec<u8>>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > 64 {
        return Err(not_ours());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| not_ours())?;
    let [1, rest @ ..] = bytes.as_slice() else {
        return Err(not_ours());
    };
    let (cursor, bound) = rest
        .split_at_checked(rest.len().saturating_sub(8))
        .ok_or_else(not_ours)?;
    let bound = u64::from_be_bytes(bound.try_into().map_err(|_| not_ours())?);
    if bound != xxh3_64(binding.as_bytes()) {
        return Err(ApiError::invalid(
            "page_token",
            "was issued for another method or filter",
        ));
    }
    Ok(Some(cursor.to_vec()))
}

/// Parses an AIP-160 filter of `field = value` terms joined by `AND`
/// (values may be quoted). Only `allowed` fields, each at most once.
pub fn filter(text: &str, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut terms = BTreeMap::new();
    no_nul("filter", text)?;
    if text.trim().is_empty() {
        return Ok(terms);
    }
    let describe_allowed = || {
        if allowed.is_empty() {
            "this list takes no filter".to_owned()
        } else {
            format!("filterable fields: {}", allowed.join(", "))
        }
    };
    if text.len() > 2_000 {
        return Err(ApiError::invalid(
            "filter",
            "is longer than 2000 characters",
        ));
    }
    for term in split_and(text) {
        let (field, value) = term.split_once('=').ok_or_else(|| {
            ApiError::invalid(
                "filter",
                format!("expected `field = value`, found {:?}", term.trim()),
            )
        })?;
        let field = field.trim();
        let value = unquote(value.trim()).ok_or_else(|| {
            ApiError::invalid(
                "filter",
                format!("the value of {field} is not a plain or double-quoted string"),
            )
        })?;
        if !allowed.contains(&field) {
            return Err(ApiError::invalid(
                "filter",
                format!("unknown field {field:?}; {}", describe_allowed()),
            ));
        }
        if terms.insert(field.to_owned(), value).is_some() {
            return Err(ApiError::invalid(
                "filter",
                format!("{field} appears twice"),
            ));
        }
    }
    Ok(terms)
}

/// Splits on `AND` outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let words: Vec<&str> = text.split(' ').collect();
    for word in words {
        if !quoted && word == "AND" {
            terms.push(std::mem::take(&mut current));
            continue;
        }
        quoted ^= word.matches('"').count() % 2 == 1;
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    terms.push(current);
    terms
}

fn unquote(value: &str) -> Option<String> {
    if let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        return (!inner.contains('"')).then(|| inner.to_owned());
    }
    // Unquoted, a value holds no white space at all: a tab is no more a
    // separator here than inside `AND`, and is refused rather than read
    // as part of the value.
    (!value.is_empty() && !value.contains(|c: char| c == '"' || c.is_whitespace()))
        .then(|| value.to_owned())
}

/// Checks an update mask against the fields a method may change.
pub fn update_mask(
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&str],
) -> Result<Vec<String>, ApiError> {
    let paths = mask.map(|mask| mask.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!("is required; updatable fields: {}", allowed.join(", ")),
        ));
    }
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            return Err(ApiError::invalid(
                "update_mask",
                format!(
                    "{path:?} cannot be updated; updatable fields: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(paths)
}

/// Refuses a NUL character: valid UTF-8 and valid protobuf, but no
/// PostgreSQL text can hold it, so it would fail deep in a statement.
pub fn no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::invalid(field, "contains a NUL character"));
    }
    Ok(())
}

/// The longest AIP-155 request id.
pub const MAX_REQUEST_ID: usize = 200;

/// An AIP-155 request id (`StartRun`, `RetryRejected`, the creates):
/// blank is none; at most [`MAX_REQUEST_ID`] characters, no NUL.
pub fn request_id(value: &str) -> Result<Option<String>, ApiError> {
    no_nul("request_id", value)?;
    match value.trim() {
        "" => Ok(None),
        id if id.chars().count() > MAX_REQUEST_ID => Err(ApiError::invalid(
            "request_id",
            format!("is longer than {MAX_REQUEST_ID} characters"),
        )),
        id => Ok(Some(id.to_owned())),
    }
}

/// Optional text: empty is absent; too long or holding a NUL is invalid.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<Option<String>, ApiError> {
    no_nul(field, value)?;
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// Optional text kept exactly as sent (a material's body, whose leading
/// spaces can be its indentation): blank is absent; too long or holding a
/// NUL is invalid.
pub fn verbatim_text(field: &str, value: &str, max: usize) -> Result<Option<String>, ApiError> {
    no_nul(field, value)?;
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok((!value.trim().is_empty()).then(|| value.to_owned()))
}

/// Required text: present, not blank, not too long.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    optional_text(field, value, max)?.ok_or_else(|| ApiError::invalid(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_stay_bound() {
        let token = next_token(Some(Cursor::lms(41)), "ListStudents|x");
        assert_eq!(
            page(10, &token, "ListStudents|x")
                .ok()
                .and_then(|p| p.after()),
            Some(41)
        );
        assert!(page(10, &token, "ListStudents|y").is_err());
        assert!(page(10, "garbage!", "b").is_err());
        assert!(page(-1, "", "b").is_err());
        assert_eq!(page(5000, "", "b").ok().map(|p| p.size()), Some(1000));
        assert_eq!(next_token(None, "b"), "");
    }

    #[test]
    fn verbatim_text_keeps_its_spaces_and_is_absent_when_blank() {
        let code = "    indented code\n";
        assert_eq!(
            verbatim_text("body", code, 100).ok().flatten().as_deref(),
            Some(code)
        );
        assert_eq!(verbatim_text("body", " \n\t", 100).ok(), Some(None));
        assert!(verbatim_text("body", "a\0b", 100).is_err());
    }

    #[test]
    fn filters_parse_the_aip_subset() {
        let terms = filter(
            r#"student = "students/3" AND status=active"#,
            &["student", "status"],
        )
        .unwrap();
        assert_eq!(terms["student"], "students/3");
        assert_eq!(terms["status"], "active");
        assert!(filter("colour = red", &["student"]).is_err());
        assert!(filter("student = a AND student = b", &["student"]).is_err());
        assert!(filter("student", &["student"]).is_err());
        assert!(filter("x = 1", &[]).is_err());
        assert!(
            filter(
                "academic_year=2024-2025\tAND\tsubject=subjects/1",
                &["academic_year", "subject"]
            )
            .is_err()
        );
        assert!(filter("  ", &[]).unwrap().is_empty());
        assert_eq!(
            filter(r#"academic_year = "2024-2025""#, &["academic_year"]).unwrap()["academic_year"],
            "2024-2025"
        );
    }
}
