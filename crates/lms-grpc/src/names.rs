//! Resource names (AIP-122): "students/42", "courses/7/materials/3".

use crate::error::ApiError;

/// Parses `<collection>/<id>` into the id; `field` names the request field
/// in the error.
pub fn parse_id(field: &str, collection: &str, name: &str) -> Result<i64, ApiError> {
    let expected = || format!("must be a resource name like \"{collection}/123\"");
    if name.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("is required; {}", expected()),
        ));
    }
    let id = name
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| ApiError::invalid(field, expected()))?;
    positive(field, id).map_err(|_| ApiError::invalid(field, expected()))
}

/// Like [`parse_id`], for an optional reference: empty means none.
pub fn parse_optional_id(
    field: &str,
    collection: &str,
    name: &str,
) -> Result<Option<i64>, ApiError> {
    if name.is_empty() {
        Ok(None)
    } else {
        parse_id(field, collection, name).map(Some)
    }
}

/// Parses "courses/{course}/materials/{id}".
pub fn parse_material(field: &str, name: &str) -> Result<(i64, i64), ApiError> {
    let expected = || {
        ApiError::invalid(
            field,
            "must be a resource name like \"courses/12/materials/3\"",
        )
    };
    let mut parts = name.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("courses"), Some(course), Some("materials"), Some(id), None) => Ok((
            positive(field, course).map_err(|_| expected())?,
            positive(field, id).map_err(|_| expected())?,
        )),
        _ => Err(expected()),
    }
}

/// A positive id in its one spelling: `0042` names what `42` names, so it
/// would reach the audit trail as another resource.
fn positive(field: &str, text: &str) -> Result<i64, ApiError> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 && text == id.to_string() => Ok(id),
        _ => Err(ApiError::invalid(
            field,
            "the id must be a positive integer",
        )),
    }
}

/// A resource name from an id.
pub fn name(collection: &str, id: i64) -> String {
    format!("{collection}/{id}")
}

/// An optional reference's name; empty when absent.
pub fn optional_name(collection: &str, id: Option<i64>) -> String {
    id.map(|id| name(collection, id)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_strictly() {
        assert_eq!(parse_id("name", "students", "students/42").ok(), Some(42));
        for bad in [
            "",
            "students/",
            "students/0",
            "students/-1",
            "students/+3",
            "students/0042",
            "students/042",
            "students/1/2",
            "courses/1",
            "students/x",
        ] {
            assert!(parse_id("name", "students", bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_material("name", "courses/3/materials/9").ok(),
            Some((3, 9))
        );
        assert!(parse_material("name", "courses/3/materials").is_err());
        assert!(parse_material("name", "courses/03/materials/9").is_err());
        assert_eq!(parse_optional_id("group", "groups", "").ok(), Some(None));
    }
}
