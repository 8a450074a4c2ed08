//! The checks across every manifest: kustomization, workloads and their
//! containers, Services and ConfigMap and Secret keys.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use lms_config::CONFIG_PATH_VAR;
use serde_yaml_ng::Value;

use super::K8S_IMAGE_NAME;
use super::manifests::{Manifests, labels_match, max_surge, resolve_port};
use super::volumes::{check_volume_items, mounted_file};
use crate::dockerfile::Image;
use crate::durations::CHUNK_GRACE;
use crate::health_probes::check_health_service;
use crate::problems::Problems;
use crate::settings::{PoolUse, check_tokens, lms_pool_size, load_settings};
use crate::workspace::Workspace;
use crate::yaml_values::{string_map, words};

pub(crate) struct K8sFacts {
    pub(crate) pools: Vec<PoolUse>,
}

pub(crate) fn check_manifests(
    manifests: &Manifests,
    image: &Image,
    workspace: &Workspace,
    problems: &mut Problems,
) -> Result<K8sFacts> {
    let origin = "deploy/k8s";

    // kustomization.yaml lists every manifest, and only those.
    let listed: BTreeSet<String> = words(&manifests.kustomization["resources"])
        .into_iter()
        .collect();
    let present: BTreeSet<String> = manifests
        .objects
        .iter()
        .map(|(file, _)| file.clone())
        .collect();
    problems.require(listed == present, || {
        format!("{origin}/kustomization.yaml lists {listed:?}, the directory holds {present:?}")
    });
    let image_names: BTreeSet<String> = manifests.kustomization["images"]
        .as_sequence()
        .map(|images| {
            images
                .iter()
                .filter_map(|image| image["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    problems.require(image_names.contains(K8S_IMAGE_NAME), || {
        format!("{origin}/kustomization.yaml does not set the image {K8S_IMAGE_NAME}")
    });
    for (file, object) in &manifests.objects {
        problems.require(object["metadata"]["namespace"].is_null(), || {
            format!("{origin}/{file}: sets a namespace; the manifests must stay namespace-agnostic")
        });
        problems.require(object["metadata"]["name"].as_str().is_some(), || {
            format!("{origin}/{file}: no metadata.name")
        });
    }

    // Every ConfigMap and Secret key that some container reads, to find the
    // stale ones at the end.
    let mut used_keys: BTreeSet<(String, String, String)> = BTreeSet::new();

    let workloads: Vec<(&str, &Value)> = manifests
        .objects
        .iter()
        .filter(|(_, object)| matches!(object["kind"].as_str(), Some("Deployment" | "Job")))
        .map(|(file, object)| (file.as_str(), object))
        .collect();
    problems.require(!workloads.is_empty(), || {
        format!("{origin}: no Deployment or Job")
    });

    let mut pools = Vec::new();
    let mut server_pod_labels = None;
    let mut deployment_pod_labels = Vec::new();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    for (file, workload) in &workloads {
        let origin = format!("{origin}/{file}");
        let kind = workload["kind"].as_str().unwrap_or_default();
        let template = &workload["spec"]["template"];
        let pod = &template["spec"];
        let pod_labels = string_map(&template["metadata"]["labels"]);
        let annotations = string_map(&template["metadata"]["annotations"]);

        if kind == "Deployment" {
            let selector = string_map(&workload["spec"]["selector"]["matchLabels"]);
            problems.require(labels_match(&selector, &pod_labels), || {
                format!(
                    "{origin}: selector {selector:?} does not match the pod labels {pod_labels:?}"
                )
            });
            deployment_pod_labels.push((file.to_string(), selector, pod_labels.clone()));
        }

        // Pods run as the image's non-root user.
        let pod_security = &pod["securityContext"];
        let containers: Vec<&Value> = pod["containers"]
            .as_sequence()
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        let init_containers: Vec<&Value> = pod["initContainers"]
            .as_sequence()
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        problems.require(!containers.is_empty(), || {
            format!("{origin}: no containers")
        });
        let volumes = pod["volumes"].as_sequence().cloned().unwrap_or_default();

        for volume in &volumes {
            let volume_name = volume["name"].as_str().unwrap_or_default();
            if let Some(secret) = volume["secret"]["secretName"].as_str() {
                check_volume_items(
                    manifests,
                    "Secret",
                    secret,
                    &volume["secret"],
                    &origin,
                    volume_name,
                    &mut used_keys,
                    problems,
                );
            }
            if let Some(config_map) = volume["configMap"]["name"].as_str() {
                check_volume_items(
                    manifests,
                    "ConfigMap",
                    config_map,
                    &volume["configMap"],
                    &origin,
                    volume_name,
                    &mut used_keys,
                    problems,
                );
            }
        }

        for container in init_containers.iter().chain(containers.iter()) {
            let is_init = init_containers
                .iter()
                .any(|init| std::ptr::eq(*init, *container));
            let name = container["name"].as_str().unwrap_or_default();
            let origin = format!("{origin}: {name}");
            let image_reference = container["image"].as_str().unwrap_or_default();
            let image_name = image_reference.split(['@', ':']).next().unwrap_or_default();
            problems.require(image_names.contains(image_name), || {
                format!("{origin}: image {image_reference} is not set by kustomization.yaml")
            });
            let command = match words(&container["command"]) {
                command if command.is_empty() => image.default_command.clone(),
                command => command,
            };
            let binary = command.first().cloned().unwrap_or_default();
            problems.require(image.executables.contains(&binary), || {
                format!("{origin}: runs {binary:?}, which the image does not contain")
            });
            problems.require(workspace.binaries.contains(&binary), || {
                format!("{origin}: runs {binary:?}, which the workspace does not build")
            });
            if !is_init {
                runs.insert(binary.clone());
                if binary == "lms-server" {
                    server_pod_labels = Some(pod_labels.clone());
                }
            }
            for mount in container["volumeMounts"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                let volume = mount["name"].as_str().unwrap_or_default();
                problems.require(
                    volumes
                        .iter()
                        .any(|declared| declared["name"].as_str() == Some(volume)),
                    || {
                        format!(
                            "{origin}: mounts volume {volume:?}, which the pod does not declare"
                        )
                    },
                );
            }

            let security = &container["securityContext"];
            let non_root = security["runAsNonRoot"]
                .as_bool()
                .or(pod_security["runAsNonRoot"].as_bool());
            let uid = security["runAsUser"]
                .as_u64()
                .or(pod_security["runAsUser"].as_u64());
            problems.require(non_root == Some(true), || {
                format!("{origin}: runAsNonRoot is not set")
            });
            problems.require(uid == Some(u64::from(image.uid)), || {
                format!(
                    "{origin}: runAsUser {uid:?} is not the image's user {}",
                    image.uid
                )
            });
            problems.require(
                security["allowPrivilegeEscalation"].as_bool() == Some(false),
                || format!("{origin}: allowPrivilegeEscalation is not false"),
            );

            // The environment: image ENV, then envFrom, then env.
            let mut env = image.env.clone();
            for source in container["envFrom"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                for (kind, reference) in [
                    ("ConfigMap", &source["configMapRef"]),
                    ("Secret", &source["secretRef"]),
                ] {
                    let Some(referenced) = reference["name"].as_str() else {
                        continue;
                    };
                    match manifests.keys_of(kind, referenced) {
                        None => problems.push(format!(
                            "{origin}: envFrom names {kind} {referenced}, which no manifest defines"
                        )),
                        Some(keys) => {
                            for key in keys.keys() {
                                used_keys.insert((
                                    kind.to_owned(),
                                    referenced.to_owned(),
                                    key.clone(),
                                ));
                            }
                            env.extend(keys);
                        }
                    }
                }
            }
            for variable in container["env"].as_sequence().cloned().unwrap_or_default() {
                let variable_name = variable["name"].as_str().unwrap_or_default().to_owned();
                if let Some(value) = variable.get("value") {
                    match value.as_str() {
                        Some(text) => {
                            env.insert(variable_name, text.to_owned());
                        }
                        None => problems.push(format!(
                            "{origin}: env {variable_name} is not a string (quote it)"
                        )),
                    }
                    continue;
                }
                let from = &variable["valueFrom"];
                let reference = [
                    ("Secret", &from["secretKeyRef"]),
                    ("ConfigMap", &from["configMapKeyRef"]),
                ]
                .into_iter()
                .find(|(_, reference)| !reference.is_null());
                let Some((kind, reference)) = reference else {
                    problems.push(format!(
                        "{origin}: env {variable_name} has neither value nor a key reference"
                    ));
                    continue;
                };
                let referenced = reference["name"].as_str().unwrap_or_default();
                let key = reference["key"].as_str().unwrap_or_default();
                match manifests
                    .keys_of(kind, referenced)
                    .and_then(|keys| keys.get(key).cloned())
                {
                    None => problems.push(format!(
                        "{origin}: env {variable_name} refers to {kind} \
                         {referenced} key {key}, which does not exist"
                    )),
                    Some(value) => {
                        used_keys.insert((kind.to_owned(), referenced.to_owned(), key.to_owned()));
                        env.insert(variable_name, value);
                    }
                }
            }

            // LMS_CONFIG must name a file mounted from a manifest.
            let config_toml = match env.get(CONFIG_PATH_VAR).cloned() {
                None => None,
                Some(path) => mounted_file(manifests, container, &volumes, &path).or_else(|| {
                    problems.push(format!(
                        "{origin}: {CONFIG_PATH_VAR}={path} is not \
                         a file mounted from a Secret or ConfigMap"
                    ));
                    None
                }),
            };
            let Some(settings) = problems.record(
                &format!("{origin}'s environment"),
                load_settings(&env, config_toml.as_deref()),
            ) else {
                continue;
            };
            check_tokens(&settings, &origin, problems);
            if is_init {
                // An init container finishes before the pod's containers
                // start, so its connections are covered by theirs.
                continue;
            }

            let declared_ports: BTreeSet<u16> = container["ports"]
                .as_sequence()
                .map(|ports| {
                    ports
                        .iter()
                        .filter_map(|port| {
                            port["containerPort"]
                                .as_u64()
                                .and_then(|port| u16::try_from(port).ok())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let grpc_port = settings.grpc.listen.port();
            let metrics_port = settings.metrics.listen.port();
            if kind == "Deployment" {
                problems.require(
                    annotations.get("prometheus.io/scrape").map(String::as_str) == Some("true"),
                    || format!("{origin}: the pod is not annotated prometheus.io/scrape: \"true\""),
                );
                problems.require(
                    annotations.get("prometheus.io/port") == Some(&metrics_port.to_string()),
                    || {
                        format!(
                            "{origin}: prometheus.io/port is not the metrics port {metrics_port}"
                        )
                    },
                );
                problems.require(
                    annotations.get("prometheus.io/path").map(String::as_str) == Some("/metrics"),
                    || format!("{origin}: prometheus.io/path is not /metrics"),
                );
                problems.require(declared_ports.contains(&metrics_port), || {
                    format!("{origin}: does not declare the metrics port {metrics_port}")
                });
                problems.require(settings.metrics.listen.ip().is_unspecified(), || {
                    format!(
                        "{origin}: metrics.listen {} is unreachable from outside the pod",
                        settings.metrics.listen
                    )
                });
                problems.require(!container["livenessProbe"].is_null(), || {
                    format!("{origin}: no livenessProbe")
                });
            }
            let grace =
                Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30));
            let replicas = workload["spec"]["replicas"]
                .as_u64()
                .and_then(|replicas| u32::try_from(replicas).ok())
                .unwrap_or(1);
            match binary.as_str() {
                "lms-server" => {
                    problems.require(!settings.grpc.reflection, || {
                        format!(
                            "{origin}: serves gRPC reflection; production sets \
                             LMS_GRPC__REFLECTION=false"
                        )
                    });
                    problems.require(declared_ports.contains(&grpc_port), || {
                        format!("{origin}: does not declare the gRPC port {grpc_port}")
                    });
                    problems.require(settings.grpc.listen.ip().is_unspecified(), || {
                        format!(
                            "{origin}: grpc.listen {} is unreachable from outside the pod",
                            settings.grpc.listen
                        )
                    });
                    for probe in ["livenessProbe", "readinessProbe"] {
                        let grpc = &container[probe]["grpc"];
                        problems.require(!grpc.is_null(), || {
                            format!("{origin}: {probe} is not a gRPC probe")
                        });
                        if grpc.is_null() {
                            continue;
                        }
                        // Kubernetes' gRPC probes take a number, not a port name.
                        problems.require(
                            grpc["port"].as_u64() == Some(u64::from(grpc_port)),
                            || {
                                format!(
                                    "{origin}: {probe} asks port {:?}, \
                                     the server listens on {grpc_port}",
                                    grpc["port"]
                                )
                            },
                        );
                        check_health_service(
                            grpc["service"].as_str().unwrap_or(""),
                            &settings,
                            workspace,
                            &format!("{origin}: {probe}"),
                            problems,
                        );
                    }
                    let pre_stop = words(&container["lifecycle"]["preStop"]["exec"]["command"]);
                    if let Some(program) = pre_stop.first() {
                        problems.require(image.executables.contains(program), || {
                            format!("{origin}: preStop runs {program}, which the image lacks")
                        });
                    }
                    let pre_stop_pause = match pre_stop.as_slice() {
                        [sleep, seconds] if sleep == "sleep" => {
                            Duration::from_secs(seconds.parse().unwrap_or(0))
                        }
                        _ => Duration::ZERO,
                    };
                    problems.require(
                        grace > pre_stop_pause + settings.grpc.request_timeout,
                        || {
                            format!(
                                "{origin}: terminationGracePeriodSeconds {grace:?} does \
                                 not cover the preStop pause and grpc.request_timeout"
                            )
                        },
                    );
                    let surge = max_surge(workload, replicas);
                    pools.push(PoolUse {
                        origin: origin.clone(),
                        binary: binary.clone(),
                        processes: Some(replicas + surge),
                        connections_each: lms_pool_size(&binary, &settings),
                    });
                }
                "lms-worker" => {
                    let http = &container["livenessProbe"]["httpGet"];
                    problems.require(http["path"].as_str() == Some("/healthz"), || {
                        format!("{origin}: the liveness probe does not ask /healthz")
                    });
                    let probed = resolve_port(&http["port"], &containers);
                    problems.require(probed == Some(metrics_port), || {
                        format!(
                            "{origin}: the liveness probe asks port \
                             {probed:?}, metrics listen on {metrics_port}"
                        )
                    });
                    problems.require(grace >= CHUNK_GRACE, || {
                        format!(
                            "{origin}: terminationGracePeriodSeconds \
                             {grace:?} is shorter than {CHUNK_GRACE:?}"
                        )
                    });
                    let surge = max_surge(workload, replicas);
                    pools.push(PoolUse {
                        origin: origin.clone(),
                        binary: binary.clone(),
                        processes: Some(replicas + surge),
                        connections_each: lms_pool_size(&binary, &settings),
                    });
                }
                "lmsctl" => {
                    problems.require(command == ["lmsctl", "db", "up"] || kind != "Job", || {
                        format!("{origin}: the schema Job runs {command:?}, not lmsctl db up")
                    });
                    pools.push(PoolUse {
                        origin: origin.clone(),
                        binary: binary.clone(),
                        processes: Some(1),
                        connections_each: lms_pool_size(&binary, &settings),
                    });
                }
                _ => {}
            }
        }
    }
    for binary in ["lms-server", "lms-worker", "lmsctl"] {
        problems.require(runs.contains(binary), || {
            format!("{origin}: no workload runs {binary}")
        });
    }
    let schema_job = manifests.of_kind("Job").any(|job| {
        words(&job["spec"]["template"]["spec"]["containers"][0]["command"])
            == ["lmsctl", "db", "up"]
    });
    problems.require(schema_job, || format!("{origin}: no Job runs lmsctl db up"));

    // Each Deployment's selector picks only its own pods.
    for (file, selector, _) in &deployment_pod_labels {
        for (other, _, labels) in &deployment_pod_labels {
            if file != other {
                problems.require(!labels_match(selector, labels), || {
                    format!("{origin}/{file}: its selector also matches the pods of {other}")
                });
            }
        }
    }

    // The Service reaches exactly the server pods, on their ports.
    let services: Vec<&Value> = manifests.of_kind("Service").collect();
    problems.require(!services.is_empty(), || format!("{origin}: no Service"));
    for service in services {
        let name = service["metadata"]["name"].as_str().unwrap_or_default();
        let selector = string_map(&service["spec"]["selector"]);
        let selects_server = server_pod_labels
            .as_ref()
            .is_some_and(|labels| labels_match(&selector, labels));
        problems.require(selects_server, || {
            format!("{origin}: Service {name} does not select the lms-server pods")
        });
        for (file, _, labels) in &deployment_pod_labels {
            if Some(labels) != server_pod_labels.as_ref() {
                problems.require(!labels_match(&selector, labels), || {
                    format!("{origin}: Service {name} also selects the pods of {file}")
                });
            }
        }
        let server = manifests.of_kind("Deployment").find(|deployment| {
            Some(&string_map(
                &deployment["spec"]["template"]["metadata"]["labels"],
            )) == server_pod_labels.as_ref()
        });
        let server_containers: Vec<&Value> = server
            .and_then(|deployment| {
                deployment["spec"]["template"]["spec"]["containers"].as_sequence()
            })
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        for port in service["spec"]["ports"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
        {
            let port_name = port["name"].as_str().unwrap_or_default();
            let target = resolve_port(
                port.get("targetPort").unwrap_or(&port["port"]),
                &server_containers,
            );
            let declared = server_containers.iter().any(|container| {
                container["ports"].as_sequence().is_some_and(|ports| {
                    ports.iter().any(|declared| {
                        declared["containerPort"].as_u64().map(|port| port as u16) == target
                    })
                })
            });
            problems.require(declared, || {
                format!(
                    "{origin}: Service {name} port {port_name} targets \
                     {target:?}, which the server does not declare"
                )
            });
        }
    }

    // No stale keys: every ConfigMap and Secret key is used by a container.
    for kind in ["ConfigMap", "Secret"] {
        for object in manifests.of_kind(kind) {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            if kind == "ConfigMap" {
                for (key, value) in object["data"].as_mapping().cloned().unwrap_or_default() {
                    problems.require(value.is_string(), || {
                        format!("{origin}: ConfigMap {name} key {key:?} is not a string (quote it)")
                    });
                }
            }
            for key in manifests.keys_of(kind, name).unwrap_or_default().keys() {
                problems.require(
                    used_keys.contains(&(kind.to_owned(), name.to_owned(), key.clone())),
                    || format!("{origin}: {kind} {name} key {key} is used by no container"),
                );
            }
        }
    }
    Ok(K8sFacts { pools })
}
