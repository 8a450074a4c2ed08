//! systemd: the units under deploy/systemd and the environment file they
//! share.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use lms_config::CONFIG_PATH_VAR;

use crate::durations::{CHUNK_GRACE, parse_duration};
use crate::env_files::{Env, parse_env_file};
use crate::postgres_conf::check_pg_conf;
use crate::problems::Problems;
use crate::repo_files::{deploy_path, read_deploy};
use crate::settings::{PoolUse, check_tokens, lms_pool_size, load_settings};
use crate::workspace::{Workspace, workspace};

/// A unit file as (section, key, value) in file order.
fn parse_unit(text: &str) -> Result<Vec<(String, String, String)>> {
    let mut entries = Vec::new();
    let mut section = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        ensure!(
            !line.ends_with('\\'),
            "line {}: continuation lines are not used here",
            number + 1
        );
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = Some(name.to_owned());
            continue;
        }
        let section = section
            .clone()
            .ok_or_else(|| anyhow!("line {}: a setting before any [Section]", number + 1))?;
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("line {}: not Key=value: {line:?}", number + 1))?;
        entries.push((section, key.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(entries)
}

pub(crate) struct Unit {
    file: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(found_section, found_key, _)| found_section == section && found_key == key)
            .map(|(_, _, value)| value.as_str())
            .collect()
    }

    fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.values(section, key).last().copied()
    }
}

pub(crate) fn load_units() -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(deploy_path("systemd"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files {
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file.ends_with(".service") {
            let entries = parse_unit(&fs::read_to_string(&path)?)
                .with_context(|| format!("deploy/systemd/{file}"))?;
            units.push(Unit { file, entries });
        }
    }
    Ok(units)
}

/// The example in deploy/ of a file the units read from /etc/lms.
fn example_of(installed: &str) -> Option<String> {
    let name = Path::new(installed).file_name()?.to_str()?;
    [format!("systemd/{name}.example"), format!("{name}.example")]
        .into_iter()
        .find(|candidate| deploy_path(candidate).is_file())
}

/// systemd's specifiers that our units use: `%i` (the instance), `%d` (the
/// credentials directory), `%%`.
fn expand_specifiers(text: &str, instance: &str, credentials: &str) -> String {
    text.replace("%%", "\u{0}")
        .replace("%i", instance)
        .replace("%d", credentials)
        .replace('\u{0}', "%")
}

pub(crate) fn check_units(
    units: &[Unit],
    workspace: &Workspace,
    problems: &mut Problems,
) -> Result<Vec<PoolUse>> {
    let env_file_text = read_deploy("systemd/lms.env.example")?;
    let shared_env = parse_env_file(&env_file_text).context("deploy/systemd/lms.env.example")?;
    let mut pools = Vec::new();
    let mut server_ports = BTreeSet::new();
    let mut worker_ports: Vec<(String, u16)> = Vec::new();
    let required_hardening = [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("CapabilityBoundingSet", ""),
        ("SystemCallArchitectures", "native"),
    ];
    for binary in ["lms-server", "lms-worker"] {
        let runs = units.iter().any(|unit| {
            unit.value("Service", "ExecStart").is_some_and(|exec| {
                exec.split_whitespace()
                    .next()
                    .is_some_and(|program| program.ends_with(&format!("/{binary}")))
            })
        });
        problems.require(runs, || format!("deploy/systemd: no unit runs {binary}"));
    }
    for unit in units {
        let origin = format!("deploy/systemd/{}", unit.file);
        for section in ["Unit", "Service", "Install"] {
            problems.require(
                unit.entries.iter().any(|(found, _, _)| found == section),
                || format!("{origin}: no [{section}] section"),
            );
        }
        problems.require(
            unit.value("Install", "WantedBy") == Some("multi-user.target"),
            || format!("{origin}: not WantedBy=multi-user.target"),
        );
        let exec = unit.value("Service", "ExecStart").unwrap_or_default();
        let program = exec.split_whitespace().next().unwrap_or_default();
        let binary = Path::new(program)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        problems.require(program.starts_with('/'), || {
            format!("{origin}: ExecStart {program:?} is not an absolute path")
        });
        problems.require(workspace.binaries.contains(&binary), || {
            format!("{origin}: ExecStart runs {binary:?}, which the workspace does not build")
        });
        problems.require(
            unit.value("Service", "KillSignal") == Some("SIGTERM"),
            || format!("{origin}: KillSignal is not SIGTERM"),
        );
        for (key, expected) in required_hardening {
            problems.require(unit.value("Service", key) == Some(expected), || {
                format!("{origin}: {key}={expected} is missing")
            });
        }
        let environment_files = unit.values("Service", "EnvironmentFile");
        problems.require(environment_files == ["/etc/lms/lms.env"], || {
            format!(
                "{origin}: EnvironmentFile must be /etc/lms/lms.env \
                 (required, without '-'), found {environment_files:?}"
            )
        });
        let stop_timeout = unit
            .value("Service", "TimeoutStopSec")
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(90));

        // Environment= lines; lms.env would override any of them.
        let mut own_env = Env::new();
        for assignment in unit.values("Service", "Environment") {
            for word in assignment.split_whitespace() {
                let (name, value) = word.trim_matches('"').split_once('=').ok_or_else(|| {
                    anyhow!("{origin}: Environment={assignment} is not NAME=value")
                })?;
                own_env.insert(name.to_owned(), value.to_owned());
            }
        }
        for name in own_env.keys() {
            problems.require(!shared_env.contains_key(name), || {
                format!(
                    "{origin}: sets {name}, but lms.env.example \
                     sets it too and EnvironmentFile= wins"
                )
            });
        }
        let credentials: BTreeMap<String, String> = unit
            .values("Service", "LoadCredential")
            .iter()
            .filter_map(|credential| credential.split_once(':'))
            .map(|(name, path)| (name.to_owned(), path.to_owned()))
            .collect();

        let template = unit.file.ends_with("@.service");
        let instances: Vec<String> = if template {
            (1..=9).map(|instance| instance.to_string()).collect()
        } else {
            vec![String::new()]
        };
        for instance in instances {
            let credentials_directory = format!(
                "/run/credentials/{}",
                unit.file.replace("@.", &format!("@{instance}."))
            );
            let mut env: Env = own_env
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        expand_specifiers(value, &instance, &credentials_directory),
                    )
                })
                .collect();
            env.extend(shared_env.clone());
            let origin = if template {
                format!("{origin} instance {instance}")
            } else {
                origin.clone()
            };
            let config_toml = match env.get(CONFIG_PATH_VAR) {
                None => None,
                Some(path) => {
                    let credential = path
                        .strip_prefix(&format!("{credentials_directory}/"))
                        .unwrap_or_default();
                    let installed = credentials.get(credential);
                    problems.require(installed.is_some(), || {
                        format!("{origin}: {CONFIG_PATH_VAR}={path} is not a LoadCredential= file")
                    });
                    match installed.and_then(|installed| example_of(installed)) {
                        Some(example) => problems.record(&origin, read_deploy(&example)),
                        None => {
                            problems.push(format!(
                                "{origin}: no example in deploy/ for the credential {credential}"
                            ));
                            None
                        }
                    }
                }
            };
            let Some(settings) = problems.record(
                &format!("{origin}'s environment"),
                load_settings(&env, config_toml.as_deref()),
            ) else {
                continue;
            };
            check_tokens(&settings, &origin, problems);
            match binary.as_str() {
                "lms-server" => {
                    problems.require(!settings.grpc.reflection, || {
                        format!(
                            "{origin}: serves gRPC reflection; production sets \
                             LMS_GRPC__REFLECTION=false"
                        )
                    });
                    server_ports.insert(settings.grpc.listen.port());
                    server_ports.insert(settings.metrics.listen.port());
                    problems.require(stop_timeout > settings.grpc.request_timeout, || {
                        format!(
                            "{origin}: TimeoutStopSec {stop_timeout:?} \
                             does not outlast grpc.request_timeout"
                        )
                    });
                }
                "lms-worker" => {
                    worker_ports.push((origin.clone(), settings.metrics.listen.port()));
                    problems.require(template, || {
                        format!("{origin}: workers must be a template unit (lms-worker@.service)")
                    });
                    problems.require(stop_timeout >= CHUNK_GRACE, || {
                        format!(
                            "{origin}: TimeoutStopSec {stop_timeout:?} \
                             is shorter than {CHUNK_GRACE:?}"
                        )
                    });
                }
                _ => {}
            }
            pools.push(PoolUse {
                origin,
                binary: binary.clone(),
                processes: None,
                connections_each: lms_pool_size(&binary, &settings),
            });
        }
    }
    // Worker instances on one host need metrics ports of their own, clear of
    // the server's ports and of the privileged range.
    let mut seen = BTreeMap::new();
    for (origin, port) in &worker_ports {
        problems.require(*port >= 1024, || {
            format!("{origin}: metrics port {port} is privileged")
        });
        problems.require(!server_ports.contains(port), || {
            format!("{origin}: metrics port {port} is also lms-server's")
        });
        if let Some(other) = seen.insert(*port, origin.clone()) {
            problems.push(format!(
                "{origin}: metrics port {port} is also used by {other}"
            ));
        }
    }
    problems.require(worker_ports.len() >= 9, || {
        "deploy/systemd: the worker template must yield instances 1 to 9".to_owned()
    });
    Ok(pools)
}

#[test]
fn systemd_units_are_consistent() -> Result<()> {
    let workspace = workspace()?;
    let mut problems = Problems::default();
    let pools = check_units(&load_units()?, &workspace, &mut problems)?;
    problems.assert_none();
    assert!(
        pools
            .iter()
            .any(|pool| pool.binary == "lms-worker" && pool.connections_each == 6)
    );
    Ok(())
}

#[test]
fn broken_systemd_units_are_caught() -> Result<()> {
    let workspace = workspace()?;
    let mutate = |file: &str, from: &str, to: &str| -> Result<Vec<Unit>> {
        let mut units = load_units()?;
        let unit = units
            .iter_mut()
            .find(|unit| unit.file == file)
            .ok_or_else(|| anyhow!("no unit {file}"))?;
        let text = fs::read_to_string(deploy_path(&format!("systemd/{file}")))?;
        let changed = text.replace(from, to);
        ensure!(changed != text, "{from:?} is not in {file}");
        unit.entries = parse_unit(&changed)?;
        Ok(units)
    };
    let cases = [
        // 95%i gives 951 to 959: privileged ports the service cannot bind.
        (
            mutate("lms-worker@.service", "127.0.0.1:947%i", "127.0.0.1:95%i")?,
            "is privileged",
        ),
        // One port for every instance.
        (
            mutate("lms-worker@.service", "127.0.0.1:947%i", "127.0.0.1:9470")?,
            "is also used by",
        ),
        (
            mutate("lms-worker@.service", "127.0.0.1:947%i", "127.0.0.1:946%i")?,
            "also lms-server's",
        ),
        (
            mutate(
                "lms-worker@.service",
                "TimeoutStopSec=150s",
                "TimeoutStopSec=30s",
            )?,
            "shorter than",
        ),
        (
            mutate(
                "lms-worker@.service",
                "LMS_DATABASE__MAX_CONNECTIONS=6",
                "LMS_DATABASE__MAX_CONECTIONS=6",
            )?,
            "environment",
        ),
        (
            mutate(
                "lms-server.service",
                "ExecStart=/usr/local/bin/lms-server",
                "ExecStart=/usr/local/bin/lms-srv",
            )?,
            "does not build",
        ),
        (
            mutate(
                "lms-server.service",
                "ProtectSystem=strict",
                "ProtectSystem=full",
            )?,
            "ProtectSystem=strict",
        ),
        (
            mutate(
                "lms-server.service",
                "LoadCredential=lms.toml:",
                "LoadCredential=other.toml:",
            )?,
            "not a LoadCredential",
        ),
        (
            mutate("lms-server.service", "[Install]", "[Instal]")?,
            "no [Install]",
        ),
    ];
    for (units, expected) in cases {
        let mut problems = Problems::default();
        let pools = check_units(&units, &workspace, &mut problems)?;
        check_pg_conf(&read_deploy("postgres/lms.conf")?, &pools, &mut problems)?;
        assert!(
            problems.mentions(expected),
            "expected {expected:?} in:\n{problems}"
        );
    }
    Ok(())
}
