//! Paths into the repository and its `deploy/` directory.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn deploy_path(relative: &str) -> PathBuf {
    repo_root().join("deploy").join(relative)
}

pub(crate) fn read_deploy(relative: &str) -> Result<String> {
    let path = deploy_path(relative);
    fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}
