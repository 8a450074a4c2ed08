//! docker-compose.yml as read: merge keys applied, the variables standing
//! in for deploy/.env, and a service's `environment` and `depends_on`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_yaml_ng::Value;

use crate::env_files::{Env, parse_env_file};
use crate::repo_files::read_deploy;
use crate::yaml_values::{scalar_text, string_map};

/// docker-compose.yml with merge keys applied, before interpolation.
pub(crate) fn compose_document() -> Result<Value> {
    let mut document: Value = serde_yaml_ng::from_str(&read_deploy("docker-compose.yml")?)?;
    document.apply_merge()?;
    Ok(document)
}

pub(crate) fn compose_variables() -> Result<Env> {
    parse_env_file(&read_deploy("compose.env.example")?).context("deploy/compose.env.example")
}

/// A service's `environment`, as a map or as a list of NAME=value.
pub(super) fn compose_environment(service: &Value) -> Result<Env> {
    match &service["environment"] {
        Value::Null => Ok(Env::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let text =
                    scalar_text(item).ok_or_else(|| anyhow!("environment entry {item:?}"))?;
                let (name, value) = text.split_once('=').unwrap_or((&text, ""));
                Ok((name.to_owned(), value.to_owned()))
            })
            .collect(),
        Value::Mapping(_) => Ok(string_map(&service["environment"])),
        other => bail!("environment is {other:?}"),
    }
}

pub(super) fn compose_depends_on(service: &Value) -> BTreeMap<String, String> {
    match &service["depends_on"] {
        Value::Sequence(items) => items
            .iter()
            .filter_map(scalar_text)
            .map(|name| (name, "service_started".to_owned()))
            .collect(),
        Value::Mapping(mapping) => mapping
            .iter()
            .filter_map(|(name, detail)| {
                let condition = detail["condition"].as_str().unwrap_or("service_started");
                Some((scalar_text(name)?, condition.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
