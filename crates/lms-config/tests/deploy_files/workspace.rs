//! The workspace: binaries and gRPC services that exist.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, ensure};
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use crate::repo_files::repo_root;

#[derive(Debug, Deserialize)]
struct Manifest {
    package: ManifestPackage,
    #[serde(default)]
    bin: Vec<ManifestBin>,
}

#[derive(Debug, Deserialize)]
struct ManifestPackage {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ManifestBin {
    name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorkspaceManifest {
    pub(crate) workspace: WorkspaceSection,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorkspaceSection {
    pub(crate) members: Vec<String>,
    pub(crate) package: WorkspacePackage,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorkspacePackage {
    #[serde(rename = "rust-version")]
    pub(crate) rust_version: String,
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    Figment::from(Toml::file_exact(path))
        .extract()
        .with_context(|| format!("parsing {}", path.display()))
}

pub(crate) fn workspace_manifest() -> Result<WorkspaceManifest> {
    read_toml(&repo_root().join("Cargo.toml"))
}

/// Every binary the workspace builds: `[[bin]]` targets, `src/main.rs`
/// (named after the package) and `src/bin/*.rs`, over every member.
fn workspace_binaries() -> Result<BTreeSet<String>> {
    let root = repo_root();
    let mut binaries = BTreeSet::new();
    for member in workspace_manifest()?.workspace.members {
        let directory = root.join(&member);
        let manifest: Manifest = read_toml(&directory.join("Cargo.toml"))?;
        binaries.extend(manifest.bin.into_iter().map(|bin| bin.name));
        if directory.join("src/main.rs").is_file() {
            binaries.insert(manifest.package.name.clone());
        }
        if let Ok(entries) = fs::read_dir(directory.join("src/bin")) {
            for entry in entries {
                let path = entry?.path();
                if path.extension().is_some_and(|extension| extension == "rs")
                    && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
                {
                    binaries.insert(stem.to_owned());
                }
            }
        }
    }
    Ok(binaries)
}

/// `package.Service` for every service in `proto/`: the names gRPC health
/// checks accept besides "" (the whole server).
fn grpc_service_names() -> Result<BTreeSet<String>> {
    fn visit(directory: &Path, names: &mut BTreeSet<String>) -> Result<()> {
        for entry in fs::read_dir(directory)? {
            let path = entry?.path();
            if path.is_dir() {
                visit(&path, names)?;
            } else if path
                .extension()
                .is_some_and(|extension| extension == "proto")
            {
                let text = fs::read_to_string(&path)?;
                let package = text
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("package "))
                    .map(|rest| rest.trim_end_matches(';').trim().to_owned())
                    .ok_or_else(|| anyhow!("{} declares no package", path.display()))?;
                for line in text.lines() {
                    if let Some(rest) = line.trim().strip_prefix("service ")
                        && let Some(name) = rest.split_whitespace().next()
                    {
                        names.insert(format!("{package}.{name}"));
                    }
                }
            }
        }
        Ok(())
    }
    let mut names = BTreeSet::new();
    visit(&repo_root().join("proto"), &mut names)?;
    ensure!(!names.is_empty(), "no gRPC services found in proto/");
    Ok(names)
}

/// Known facts every checker compares against.
pub(crate) struct Workspace {
    pub(crate) binaries: BTreeSet<String>,
    pub(crate) grpc_services: BTreeSet<String>,
}

pub(crate) fn workspace() -> Result<Workspace> {
    Ok(Workspace {
        binaries: workspace_binaries()?,
        grpc_services: grpc_service_names()?,
    })
}
