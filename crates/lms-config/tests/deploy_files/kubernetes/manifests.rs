//! The objects in deploy/k8s, looked up by kind and name, and how
//! Kubernetes resolves selectors, ports and rolling-update surge.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, ensure};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::repo_files::deploy_path;
use crate::yaml_values::string_map;

#[derive(Debug, Clone)]
pub(crate) struct Manifests {
    pub(super) kustomization: Value,
    /// Every object, with the file it came from.
    pub(super) objects: Vec<(String, Value)>,
}

pub(crate) fn load_manifests() -> Result<Manifests> {
    let directory = deploy_path("k8s");
    let mut kustomization = None;
    let mut objects = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&directory)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files {
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        ensure!(
            file.ends_with(".yaml"),
            "deploy/k8s/{file}: only .yaml files belong here"
        );
        let text = fs::read_to_string(&path)?;
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .with_context(|| format!("parsing deploy/k8s/{file}"))?;
            if value.is_null() {
                continue;
            }
            if file == "kustomization.yaml" {
                kustomization = Some(value);
            } else {
                objects.push((file.clone(), value));
            }
        }
    }
    Ok(Manifests {
        kustomization: kustomization
            .ok_or_else(|| anyhow!("deploy/k8s/kustomization.yaml is missing"))?,
        objects,
    })
}

impl Manifests {
    pub(super) fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .map(|(_, object)| object)
            .find(|object| {
                object["kind"].as_str() == Some(kind)
                    && object["metadata"]["name"].as_str() == Some(name)
            })
    }

    pub(super) fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .map(|(_, object)| object)
            .filter(move |object| object["kind"].as_str() == Some(kind))
    }

    /// A ConfigMap's `data` or a Secret's `stringData` and `data`.
    pub(super) fn keys_of(&self, kind: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let object = self.find(kind, name)?;
        let mut keys = string_map(&object["data"]);
        keys.extend(string_map(&object["stringData"]));
        Some(keys)
    }
}

pub(super) fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
}

/// A probe or Service port: a number, or the name of a container port.
pub(super) fn resolve_port(port: &Value, containers: &[&Value]) -> Option<u16> {
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).ok();
    }
    let name = port.as_str()?;
    containers.iter().find_map(|container| {
        container["ports"]
            .as_sequence()?
            .iter()
            .find_map(|declared| {
                (declared["name"].as_str() == Some(name))
                    .then(|| {
                        declared["containerPort"]
                            .as_u64()
                            .and_then(|port| u16::try_from(port).ok())
                    })
                    .flatten()
            })
    })
}

/// How many extra pods a rolling update may start: `maxSurge` as a number
/// or a percentage (rounded up), 25% when unset, as Kubernetes does.
pub(super) fn max_surge(workload: &Value, replicas: u32) -> u32 {
    let surge = &workload["spec"]["strategy"]["rollingUpdate"]["maxSurge"];
    if let Some(number) = surge.as_u64() {
        return u32::try_from(number).unwrap_or(u32::MAX);
    }
    let percent = surge
        .as_str()
        .and_then(|text| text.strip_suffix('%'))
        .and_then(|number| number.parse::<u32>().ok())
        .unwrap_or(25);
    (replicas * percent).div_ceil(100)
}
