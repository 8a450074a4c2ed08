//! Secret and ConfigMap volumes: the keys they mount and the files they put
//! into containers.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml_ng::Value;

use super::manifests::Manifests;
use crate::problems::Problems;

#[allow(clippy::too_many_arguments)]
pub(super) fn check_volume_items(
    manifests: &Manifests,
    kind: &str,
    referenced: &str,
    source: &Value,
    origin: &str,
    volume: &str,
    used_keys: &mut BTreeSet<(String, String, String)>,
    problems: &mut Problems,
) {
    let Some(keys) = manifests.keys_of(kind, referenced) else {
        problems.push(format!(
            "{origin}: volume {volume} names {kind} {referenced}, which no manifest defines"
        ));
        return;
    };
    let items = source["items"].as_sequence().cloned().unwrap_or_default();
    if items.is_empty() {
        for key in keys.keys() {
            used_keys.insert((kind.to_owned(), referenced.to_owned(), key.clone()));
        }
    }
    for item in items {
        let key = item["key"].as_str().unwrap_or_default();
        problems.require(keys.contains_key(key), || {
            format!("{origin}: volume {volume} mounts key {key}, which {kind} {referenced} lacks")
        });
        used_keys.insert((kind.to_owned(), referenced.to_owned(), key.to_owned()));
    }
}

/// The content of the file at `path` inside `container`, if a volume from a
/// Secret or ConfigMap puts it there.
pub(super) fn mounted_file(
    manifests: &Manifests,
    container: &Value,
    volumes: &[Value],
    path: &str,
) -> Option<String> {
    let path = Path::new(path);
    container["volumeMounts"]
        .as_sequence()?
        .iter()
        .find_map(|mount| {
            let mount_path = Path::new(mount["mountPath"].as_str()?);
            let volume = volumes
                .iter()
                .find(|volume| volume["name"] == mount["name"])?;
            let (kind, source, referenced) =
                if let Some(secret) = volume["secret"]["secretName"].as_str() {
                    ("Secret", &volume["secret"], secret)
                } else {
                    (
                        "ConfigMap",
                        &volume["configMap"],
                        volume["configMap"]["name"].as_str()?,
                    )
                };
            let keys = manifests.keys_of(kind, referenced)?;
            let key = match mount["subPath"].as_str() {
                Some(sub_path) => (mount_path == path).then_some(sub_path)?.to_owned(),
                None => {
                    let relative = path.strip_prefix(mount_path).ok()?.to_str()?.to_owned();
                    match source["items"].as_sequence() {
                        Some(items) => items
                            .iter()
                            .find(|item| item["path"].as_str() == Some(relative.as_str()))?["key"]
                            .as_str()?
                            .to_owned(),
                        None => relative,
                    }
                }
            };
            keys.get(&key).cloned()
        })
}
