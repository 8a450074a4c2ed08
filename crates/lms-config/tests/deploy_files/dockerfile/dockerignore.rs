//! The build context that Dockerfile.dockerignore leaves.

use std::collections::BTreeSet;

use anyhow::{Result, ensure};

use super::Image;
use crate::problems::Problems;
use crate::repo_files::repo_root;
use crate::workspace::workspace_manifest;

/// `.dockerignore` patterns, last match wins. Only literal paths are used
/// in ours, and this matcher refuses anything else rather than guess.
pub(super) fn check_dockerignore(text: &str, image: &Image, problems: &mut Problems) -> Result<()> {
    let origin = "deploy/docker/Dockerfile.dockerignore";
    let mut patterns = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (include, path) = match line.strip_prefix('!') {
            Some(path) => (true, path),
            None => (false, line),
        };
        ensure!(
            !path.contains(['*', '?', '[']),
            "{origin}: pattern {line:?} has wildcards, which this check does not evaluate"
        );
        patterns.push((include, path.trim_matches('/').to_owned()));
    }
    let excluded = |path: &str| {
        let mut excluded = false;
        for (include, pattern) in &patterns {
            if path == pattern || path.starts_with(&format!("{pattern}/")) {
                excluded = !include;
            }
        }
        excluded
    };
    for path in ["target", ".git", "lms.toml"] {
        problems.require(excluded(path), || {
            format!("{origin}: {path} is sent to the build context")
        });
    }
    // What the build reads from the context: the workspace and what its
    // build scripts and include_str! read, and whatever the Dockerfile
    // copies by name.
    let mut needed: BTreeSet<String> = workspace_manifest()?
        .workspace
        .members
        .into_iter()
        .collect();
    needed.extend(
        [
            "Cargo.toml",
            "Cargo.lock",
            "proto",
            "docs/edu-legacy/schema.sql",
        ]
        .into_iter()
        .map(str::to_owned),
    );
    needed.extend(
        image
            .context_sources
            .iter()
            .filter(|source| *source != ".")
            .cloned(),
    );
    for path in needed {
        problems.require(!excluded(&path), || {
            format!("{origin}: {path} is needed by the build but excluded")
        });
        problems.require(repo_root().join(&path).exists(), || {
            format!("{origin}: {path} is needed by the build but does not exist")
        });
    }
    Ok(())
}
