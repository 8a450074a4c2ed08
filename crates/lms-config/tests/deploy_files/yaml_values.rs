//! Reading values out of the YAML deploy files (Compose and Kubernetes).

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

/// A scalar as the text a container would see (`"2"`, `2` and `true` alike).
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A command as a list of words: a YAML sequence, or a string split on
/// whitespace.
pub(crate) fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().filter_map(scalar_text).collect(),
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn mapping_keys(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|mapping| mapping.keys().filter_map(scalar_text).collect())
        .unwrap_or_default()
}

pub(crate) fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|mapping| {
            mapping
                .iter()
                .filter_map(|(key, value)| Some((scalar_text(key)?, scalar_text(value)?)))
                .collect()
        })
        .unwrap_or_default()
}
