//! Compose's `${...}` interpolation, tested together with the durations
//! that Compose and systemd write.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, anyhow, ensure};
use serde_yaml_ng::Value;

use crate::durations::parse_duration;
use crate::env_files::{Env, is_env_name};

/// Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
/// `${NAME:?message}`, `${NAME?message}`, `$NAME` and `$$`, resolved
/// against `variables` (compose.env.example standing in for deploy/.env).
fn interpolate(text: &str, variables: &Env, used: &mut BTreeSet<String>) -> Result<String> {
    let mut output = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        output.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            output.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("unclosed ${{ in {text:?}"))?;
            let expression = &after[..end];
            rest = &after[end + 1..];
            let name_length = expression
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expression.len());
            let (name, operator) = expression.split_at(name_length);
            ensure!(is_env_name(name), "bad variable in ${{{expression}}}");
            used.insert(name.to_owned());
            let value = variables.get(name);
            let set = value.is_some_and(|value| !value.is_empty());
            let resolved = if let Some(default) = operator.strip_prefix(":-") {
                if set {
                    value.cloned()
                } else {
                    Some(default.to_owned())
                }
            } else if let Some(default) = operator.strip_prefix('-') {
                value.cloned().or_else(|| Some(default.to_owned()))
            } else if let Some(message) = operator
                .strip_prefix(":?")
                .or_else(|| operator.strip_prefix('?'))
            {
                ensure!(
                    set,
                    "{name} is required (\"{message}\") but compose.env.example does not set it"
                );
                value.cloned()
            } else {
                ensure!(operator.is_empty(), "unsupported ${{{expression}}}");
                ensure!(
                    set,
                    "{name} has no default and compose.env.example does not set it"
                );
                value.cloned()
            };
            output.push_str(&resolved.unwrap_or_default());
        } else {
            let name_length = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            ensure!(name_length > 0, "a lone $ in {text:?} (write $$)");
            let name = &rest[..name_length];
            used.insert(name.to_owned());
            let value = variables
                .get(name)
                .ok_or_else(|| anyhow!("{name} is not set in compose.env.example"))?;
            output.push_str(value);
            rest = &rest[name_length..];
        }
    }
    output.push_str(rest);
    Ok(output)
}

pub(super) fn interpolate_tree(
    value: &mut Value,
    variables: &Env,
    used: &mut BTreeSet<String>,
) -> Result<()> {
    match value {
        Value::String(text) => *text = interpolate(text, variables, used)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate_tree(item, variables, used)?;
            }
        }
        Value::Mapping(mapping) => {
            for (_, item) in mapping.iter_mut() {
                interpolate_tree(item, variables, used)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn durations_and_interpolation_parse_as_compose_and_systemd_do() -> Result<()> {
    assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
    assert_eq!(parse_duration("1m30s")?, Duration::from_secs(90));
    assert_eq!(parse_duration("150s")?, Duration::from_secs(150));
    assert_eq!(parse_duration("2min 30s")?, Duration::from_secs(150));
    assert_eq!(parse_duration("45")?, Duration::from_secs(45));
    assert!(parse_duration("soon").is_err());
    let variables = Env::from([
        ("A".to_owned(), "1".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ]);
    let mut used = BTreeSet::new();
    assert_eq!(interpolate("x${A}y$A$$", &variables, &mut used)?, "x1y1$");
    assert_eq!(
        interpolate("${B:-d}${EMPTY:-e}${EMPTY-f}", &variables, &mut used)?,
        "de"
    );
    assert!(interpolate("${B:?needed}", &variables, &mut used).is_err());
    assert!(interpolate("${EMPTY:?needed}", &variables, &mut used).is_err());
    assert_eq!(
        used,
        BTreeSet::from(["A".to_owned(), "B".to_owned(), "EMPTY".to_owned()])
    );
    Ok(())
}
