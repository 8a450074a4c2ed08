//! Checks the deployment files under `deploy/` by parsing them: the
//! Dockerfile, docker-compose.yml, the Kubernetes manifests, the systemd
//! units and the PostgreSQL settings. No container engine, cluster, network
//! or database is involved.
//!
//! Every `LMS_*` variable a file sets is loaded through
//! `Settings::figment` exactly as a binary would load it, so a misspelt key
//! or an invalid value fails here instead of at the first deploy. The ports,
//! probes, references between manifests, binaries and connection pools are
//! then compared across files. Each checker collects its findings in a
//! [`Problems`](problems::Problems) list; the `broken_*` tests feed deliberately broken copies
//! of the real files to the same checkers to show that they catch the break.
//!
//! The checks are grouped by the file they read, each module with the tests
//! that exercise it:
//!
//! - shared by every checker: [`problems`], [`repo_files`], [`env_files`],
//!   [`durations`], [`settings`], [`workspace`], [`health_probes`] and
//!   [`yaml_values`];
//! - one per deployment file: [`dockerfile`], [`compose`], [`kubernetes`],
//!   [`systemd`] and [`postgres_conf`].

// figment::Jail closures must return figment::Error, which is large.
#![allow(clippy::result_large_err)]

// Shared by every checker.
mod durations;
mod env_files;
mod health_probes;
mod problems;
mod repo_files;
mod settings;
mod workspace;
mod yaml_values;

// One module per deployment file.
mod compose;
mod dockerfile;
mod kubernetes;
mod postgres_conf;
mod systemd;
