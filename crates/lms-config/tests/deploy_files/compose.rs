//! docker-compose.yml: services, volumes, start order, health checks and
//! the environment of every LMS service.

mod document;
mod interpolation;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use lms_config::CONFIG_PATH_VAR;
use serde_yaml_ng::{Mapping, Value};

use crate::dockerfile::{DOCKERFILE, Image, load_image};
use crate::durations::{CHUNK_GRACE, parse_duration};
use crate::env_files::Env;
use crate::health_probes::check_probe_command;
use crate::postgres_conf::{check_pg_conf, parse_pg_conf};
use crate::problems::Problems;
use crate::repo_files::{deploy_path, read_deploy};
use crate::settings::{PoolUse, check_tokens, lms_pool_size, load_settings};
use crate::workspace::{Workspace, workspace};
use crate::yaml_values::{mapping_keys, scalar_text, words};
use document::{compose_depends_on, compose_environment};
pub(crate) use document::{compose_document, compose_variables};
use interpolation::interpolate_tree;

pub(crate) fn check_compose(
    raw: &Value,
    variables: &Env,
    image: &Image,
    workspace: &Workspace,
    problems: &mut Problems,
) -> Result<Vec<PoolUse>> {
    let origin = "deploy/docker-compose.yml";
    let mut document = raw.clone();
    let mut used_variables = BTreeSet::new();
    interpolate_tree(&mut document, variables, &mut used_variables)
        .with_context(|| format!("{origin}: interpolating ${{...}}"))?;
    for name in variables.keys() {
        problems.require(used_variables.contains(name), || {
            format!("compose.env.example sets {name}, which {origin} never uses")
        });
    }
    // A variable the example documents only in a comment is optional: it
    // must have a default in the file, which interpolate() enforced.

    let services = document["services"]
        .as_mapping()
        .ok_or_else(|| anyhow!("{origin} has no services"))?;
    let service_names: BTreeSet<String> = services.keys().filter_map(scalar_text).collect();
    for required in [
        "postgres",
        "redis",
        "migrate-schema",
        "lms-server",
        "lms-worker",
    ] {
        problems.require(service_names.contains(required), || {
            format!("{origin}: no service {required}")
        });
    }

    // Volumes: named ones declared, bind mounts present in deploy/.
    let declared_volumes: BTreeSet<String> =
        mapping_keys(&document["volumes"]).into_iter().collect();
    let declared_secrets = document["secrets"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    let mut used_volumes = BTreeSet::new();
    let mut mounts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, service) in services {
        let name = scalar_text(name).unwrap_or_default();
        for volume in words(&service["volumes"]) {
            let mut parts = volume.split(':');
            let source = parts.next().unwrap_or_default().to_owned();
            let target = parts.next().unwrap_or_default().to_owned();
            problems.require(!target.is_empty(), || {
                format!("{origin}: {name}: volume {volume:?} has no target")
            });
            if source.starts_with('.') || source.starts_with('/') {
                problems.require(deploy_path(&source).exists(), || {
                    format!("{origin}: {name} mounts {source}, which is not in deploy/")
                });
            } else {
                problems.require(declared_volumes.contains(&source), || {
                    format!("{origin}: {name} uses volume {source}, which is not declared")
                });
                used_volumes.insert(source.clone());
            }
            mounts
                .entry(name.clone())
                .or_default()
                .insert(target, source);
        }
    }
    for volume in &declared_volumes {
        problems.require(used_volumes.contains(volume), || {
            format!("{origin}: volume {volume} is declared but unused")
        });
    }

    // Start order and health.
    for (name, service) in services {
        let name = scalar_text(name).unwrap_or_default();
        for (dependency, condition) in compose_depends_on(service) {
            problems.require(service_names.contains(&dependency), || {
                format!("{origin}: {name} depends on {dependency}, which is not a service")
            });
            problems.require(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully",
                ]
                .contains(&condition.as_str()),
                || format!("{origin}: {name}: unknown depends_on condition {condition}"),
            );
            if condition == "service_healthy" {
                let has_healthcheck = services
                    .get(dependency.as_str())
                    .is_some_and(|target| !target["healthcheck"].is_null());
                problems.require(has_healthcheck, || {
                    format!(
                        "{origin}: {name} waits for {dependency} \
                         to be healthy, which has no healthcheck"
                    )
                });
            }
        }
    }
    for name in ["postgres", "redis", "lms-server", "lms-worker"] {
        let service = services.get(name).cloned().unwrap_or(Value::Null);
        let healthcheck = &service["healthcheck"];
        let test = words(&healthcheck["test"]);
        let usable = matches!(test.first().map(String::as_str), Some("CMD" | "CMD-SHELL"))
            && test.len() >= 2
            && healthcheck["disable"].as_bool() != Some(true);
        problems.require(usable, || {
            format!("{origin}: {name} has no usable healthcheck")
        });
    }
    let expect_dependency = |service: &str,
                             dependency: &str,
                             condition: &str,
                             problems: &mut Problems| {
        let actual = services
            .get(service)
            .map(compose_depends_on)
            .and_then(|dependencies| dependencies.get(dependency).cloned());
        problems.require(actual.as_deref() == Some(condition), || {
            format!("{origin}: {service} must depend on {dependency} with condition {condition}")
        });
    };
    expect_dependency("migrate-schema", "postgres", "service_healthy", problems);
    for service in ["lms-server", "lms-worker"] {
        expect_dependency(
            service,
            "migrate-schema",
            "service_completed_successfully",
            problems,
        );
        expect_dependency(service, "postgres", "service_healthy", problems);
        expect_dependency(service, "redis", "service_healthy", problems);
    }

    // PostgreSQL reads the tuned settings: config_file names the mounted
    // container.conf, whose include names the mounted lms.conf.
    if let Some(postgres) = services.get("postgres") {
        let image_name = postgres["image"].as_str().unwrap_or_default();
        problems.require(
            image_name.starts_with("postgres:16") || image_name.starts_with("postgres:15"),
            || format!("{origin}: postgres image {image_name} is not PostgreSQL 15 or 16"),
        );
        let postgres_mounts = mounts.get("postgres").cloned().unwrap_or_default();
        let config_file = words(&postgres["command"])
            .iter()
            .find_map(|word| word.strip_prefix("config_file=").map(str::to_owned));
        match config_file {
            None => problems.push(format!(
                "{origin}: postgres is not started with config_file="
            )),
            Some(config_file) => {
                let source = postgres_mounts
                    .get(&config_file)
                    .cloned()
                    .unwrap_or_default();
                problems.require(source == "./postgres/container.conf", || {
                    format!("{origin}: config_file={config_file} is not ./postgres/container.conf")
                });
                if let Some(settings) = problems.record(
                    "deploy/postgres/container.conf",
                    read_deploy("postgres/container.conf").and_then(|text| parse_pg_conf(&text)),
                ) {
                    let include = settings.get("include").cloned().unwrap_or_default();
                    problems.require(
                        postgres_mounts.get(&include).map(String::as_str)
                            == Some("./postgres/lms.conf"),
                        || {
                            format!(
                                "{origin}: container.conf includes \
                                 {include:?}, where lms.conf is not mounted"
                            )
                        },
                    );
                    problems.require(
                        settings.get("listen_addresses").map(String::as_str) == Some("*"),
                        || "deploy/postgres/container.conf must listen on every address".to_owned(),
                    );
                }
            }
        }
    }

    // The LMS services: their configuration, ports, probes and commands.
    let mut pools = Vec::new();
    for (name, service) in services {
        let name = scalar_text(name).unwrap_or_default();
        let builds_lms = service["build"]["dockerfile"].as_str() == Some(DOCKERFILE)
            && service["build"]["context"].as_str() == Some("..");
        if !builds_lms {
            continue;
        }
        let command = match words(&service["command"]) {
            command if command.is_empty() => image.default_command.clone(),
            command => command,
        };
        let binary = command.first().cloned().unwrap_or_default();
        problems.require(image.executables.contains(&binary), || {
            format!("{origin}: {name} runs {binary:?}, which the image does not contain")
        });
        problems.require(workspace.binaries.contains(&binary), || {
            format!("{origin}: {name} runs {binary:?}, which the workspace does not build")
        });

        let mut env = image.env.clone();
        let Some(service_env) = problems.record(origin, compose_environment(service)) else {
            continue;
        };
        env.extend(service_env);
        let config_toml = match env.get(CONFIG_PATH_VAR) {
            None => None,
            Some(path) => {
                let secret = path.strip_prefix("/run/secrets/").unwrap_or_default();
                let listed = words(&service["secrets"])
                    .iter()
                    .any(|listed| listed == secret);
                problems.require(listed, || {
                    format!(
                        "{origin}: {name}: {CONFIG_PATH_VAR}={path} is not one of its /run/secrets"
                    )
                });
                let file = declared_secrets
                    .get(secret)
                    .and_then(|secret| secret["file"].as_str())
                    .map(str::to_owned);
                match file {
                    None => {
                        problems.push(format!(
                            "{origin}: secret {secret:?} is not declared with a file"
                        ));
                        None
                    }
                    Some(file) => {
                        problems.record(&format!("{origin}: secret {secret}"), read_deploy(&file))
                    }
                }
            }
        };
        let Some(settings) = problems.record(
            &format!("{origin}: {name}'s environment"),
            load_settings(&env, config_toml.as_deref()),
        ) else {
            continue;
        };
        check_tokens(&settings, &format!("{origin}: {name}"), problems);

        let grpc_port = settings.grpc.listen.port();
        let metrics_port = settings.metrics.listen.port();
        let published: BTreeSet<u16> = words(&service["ports"])
            .iter()
            .filter_map(|mapping| mapping.rsplit(':').next()?.split('/').next()?.parse().ok())
            .collect();
        match binary.as_str() {
            "lms-server" => {
                let expected = BTreeSet::from([grpc_port, metrics_port]);
                problems.require(published == expected, || {
                    format!(
                        "{origin}: {name} publishes container ports {published:?}, \
                         but listens on gRPC {grpc_port} and metrics {metrics_port}"
                    )
                });
                for (what, address) in [
                    ("grpc.listen", settings.grpc.listen),
                    ("metrics.listen", settings.metrics.listen),
                ] {
                    problems.require(address.ip().is_unspecified(), || {
                        format!(
                            "{origin}: {name}: {what} {address} is \
                             unreachable from outside the container"
                        )
                    });
                }
            }
            "lms-worker" => {
                problems.require(service["ports"].is_null(), || {
                    format!(
                        "{origin}: {name} publishes host ports, which collide when it is scaled"
                    )
                });
                problems.require(settings.metrics.listen.ip().is_unspecified(), || {
                    format!("{origin}: {name}: metrics.listen is unreachable for Prometheus")
                });
            }
            _ => {}
        }

        let test = words(&service["healthcheck"]["test"]);
        if let Some(program) = test.get(1) {
            if test.first().map(String::as_str) == Some("CMD") {
                problems.require(image.executables.contains(program), || {
                    format!(
                        "{origin}: {name}'s healthcheck runs \
                         {program}, which the image does not contain"
                    )
                });
            }
            check_probe_command(
                &test[1..],
                &settings,
                workspace,
                &format!("{origin}: {name}"),
                problems,
            );
        }

        let grace = service["stop_grace_period"]
            .as_str()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(10));
        match binary.as_str() {
            "lms-worker" => problems.require(grace >= CHUNK_GRACE, || {
                format!(
                    "{origin}: {name}: stop_grace_period \
                     {grace:?} is shorter than {CHUNK_GRACE:?}"
                )
            }),
            "lms-server" => problems.require(grace > settings.grpc.request_timeout, || {
                format!(
                    "{origin}: {name}: stop_grace_period {grace:?} \
                     does not outlast grpc.request_timeout"
                )
            }),
            _ => {}
        }

        let processes = match binary.as_str() {
            "lms-worker" => service["deploy"]["replicas"]
                .as_u64()
                .and_then(|replicas| u32::try_from(replicas).ok())
                .unwrap_or(1),
            _ => 1,
        };
        pools.push(PoolUse {
            origin: format!("{origin}: {name}"),
            binary: binary.clone(),
            processes: Some(processes),
            connections_each: lms_pool_size(&binary, &settings),
        });
    }
    for binary in ["lms-server", "lms-worker", "lmsctl"] {
        problems.require(pools.iter().any(|pool| pool.binary == binary), || {
            format!("{origin}: no LMS service runs {binary}")
        });
    }
    Ok(pools)
}

#[test]
fn compose_services_are_consistent() -> Result<()> {
    let workspace = workspace()?;
    let mut problems = Problems::default();
    let image = load_image(&workspace, &mut problems)?;
    let pools = check_compose(
        &compose_document()?,
        &compose_variables()?,
        &image,
        &workspace,
        &mut problems,
    )?;
    problems.assert_none();
    let workers = pools
        .iter()
        .find(|pool| pool.binary == "lms-worker")
        .map(|pool| pool.connections_each);
    assert_eq!(workers, Some(6));
    Ok(())
}

/// Applies `change` to the `services` of a copy of docker-compose.yml.
fn mutate_compose(change: impl FnOnce(&mut Mapping)) -> Result<Value> {
    let mut document = compose_document()?;
    let services = document
        .get_mut("services")
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| anyhow!("no services"))?;
    change(services);
    Ok(document)
}

fn service_mut<'a>(services: &'a mut Mapping, name: &str) -> &'a mut Mapping {
    services
        .get_mut(name)
        .and_then(Value::as_mapping_mut)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

#[test]
fn broken_compose_files_are_caught() -> Result<()> {
    let workspace = workspace()?;
    let image = load_image(&workspace, &mut Problems::default())?;
    let variables = compose_variables()?;
    let environment = |services: &mut Mapping, service: &str| -> Mapping {
        service_mut(services, service)["environment"]
            .as_mapping()
            .cloned()
            .unwrap_or_default()
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            mutate_compose(|services| {
                service_mut(services, "lms-worker").remove("healthcheck");
            })?,
            "lms-worker has no usable healthcheck",
        ),
        (
            mutate_compose(|services| {
                if let Some(dependencies) =
                    service_mut(services, "lms-server")["depends_on"].as_mapping_mut()
                {
                    dependencies.insert("postgre".into(), Value::Null);
                }
            })?,
            "postgre, which is not a service",
        ),
        (
            mutate_compose(|services| {
                let mut env = environment(services, "lms-server");
                env.insert("LMS_GRPC__LISTEN".into(), "0.0.0.0:6000".into());
                service_mut(services, "lms-server")
                    .insert("environment".into(), Value::Mapping(env));
            })?,
            "publishes container ports",
        ),
        (
            mutate_compose(|services| {
                let mut env = environment(services, "lms-worker");
                env.insert("LMS_WORKER__CONCURENCY".into(), "4".into());
                service_mut(services, "lms-worker")
                    .insert("environment".into(), Value::Mapping(env));
            })?,
            "lms-worker's environment",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-worker")
                    .insert("ports".into(), Value::Sequence(vec!["9464:9464".into()]));
            })?,
            "collide when it is scaled",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-worker")
                    .insert("stop_grace_period".into(), "10s".into());
            })?,
            "shorter than",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-worker")
                    .insert("command".into(), Value::Sequence(vec!["lms-wrker".into()]));
            })?,
            "which the image does not contain",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-server")["healthcheck"]["test"] = Value::Sequence(vec![
                    "CMD".into(),
                    "lms-grpc-health".into(),
                    "127.0.0.1:50052".into(),
                ]);
            })?,
            "the gRPC probe asks port 50052",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-server")["healthcheck"]["test"] = Value::Sequence(vec![
                    "CMD".into(),
                    "lms-grpc-health".into(),
                    "127.0.0.1:50051".into(),
                    "lms.v1.NoSuchService".into(),
                ]);
            })?,
            "unknown service",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "lms-worker")["deploy"]["replicas"] =
                    Value::Number(40.into());
            })?,
            "budget",
        ),
        (
            mutate_compose(|services| {
                service_mut(services, "postgres").insert(
                    "volumes".into(),
                    Value::Sequence(vec!["pgdata:/var/lib/postgresql/data".into()]),
                );
            })?,
            "not declared",
        ),
    ];
    let budget_text = read_deploy("postgres/lms.conf")?;
    for (document, expected) in cases {
        let mut problems = Problems::default();
        match check_compose(&document, &variables, &image, &workspace, &mut problems) {
            Ok(pools) => check_pg_conf(&budget_text, &pools, &mut problems)?,
            Err(error) => problems.push(format!("{error:#}")),
        }
        assert!(
            problems.mentions(expected),
            "expected {expected:?} in:\n{problems}"
        );
    }

    // A required variable the example does not provide, and one it sets
    // that the file never uses.
    let mut problems = Problems::default();
    let mut missing = variables.clone();
    missing.remove("LMS_LEGACY__URL");
    let error = check_compose(
        &compose_document()?,
        &missing,
        &image,
        &workspace,
        &mut problems,
    )
    .err()
    .map(|error| format!("{error:#}"))
    .unwrap_or_default();
    assert!(error.contains("LMS_LEGACY__URL is required"), "{error}");
    let mut stale = variables;
    stale.insert("LMS_UNUSED".to_owned(), "1".to_owned());
    check_compose(
        &compose_document()?,
        &stale,
        &image,
        &workspace,
        &mut problems,
    )?;
    assert!(problems.mentions("LMS_UNUSED"), "{problems}");
    Ok(())
}
