//! Kubernetes: the manifests under deploy/k8s, read together with the image
//! they run.

mod consistency;
mod manifests;
mod volumes;

use anyhow::{Result, anyhow};
use serde_yaml_ng::Value;

use crate::dockerfile::load_image;
use crate::postgres_conf::check_pg_conf;
use crate::problems::Problems;
use crate::repo_files::read_deploy;
use crate::workspace::workspace;
pub(crate) use consistency::check_manifests;
use manifests::Manifests;
pub(crate) use manifests::load_manifests;

/// The image every Kubernetes container names; kustomization.yaml maps it to
/// the real registry path.
const K8S_IMAGE_NAME: &str = "lms";

#[test]
fn kubernetes_manifests_are_consistent() -> Result<()> {
    let workspace = workspace()?;
    let mut problems = Problems::default();
    let image = load_image(&workspace, &mut problems)?;
    let facts = check_manifests(&load_manifests()?, &image, &workspace, &mut problems)?;
    problems.assert_none();
    let server = facts.pools.iter().find(|pool| pool.binary == "lms-server");
    assert_eq!(
        server.map(|pool| (pool.processes, pool.connections_each)),
        Some((
            Some(3),
            20 + lms_config::GrpcSettings::MIGRATION_CONTROL_CONNECTIONS
        ))
    );
    Ok(())
}

/// Applies `change` to the first object of `kind` named `name` in a copy of
/// the manifests.
fn mutate_manifest(kind: &str, name: &str, change: impl FnOnce(&mut Value)) -> Result<Manifests> {
    let mut manifests = load_manifests()?;
    let object = manifests
        .objects
        .iter_mut()
        .map(|(_, object)| object)
        .find(|object| {
            object["kind"].as_str() == Some(kind)
                && object["metadata"]["name"].as_str() == Some(name)
        })
        .ok_or_else(|| anyhow!("no {kind} {name}"))?;
    change(object);
    Ok(manifests)
}

fn first_container(object: &mut Value) -> &mut Value {
    &mut object["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn broken_kubernetes_manifests_are_caught() -> Result<()> {
    let workspace = workspace()?;
    let image = load_image(&workspace, &mut Problems::default())?;
    let cases: Vec<(Manifests, &str)> = vec![
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                object["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] =
                    "lms-wrker".into();
            })?,
            "does not match the pod labels",
        ),
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                object["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] =
                    "lms-server".into();
                object["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] =
                    "lms-server".into();
            })?,
            "also selects the pods",
        ),
        (
            mutate_manifest("Service", "lms-server", |object| {
                object["spec"]["selector"]["app.kubernetes.io/name"] = "lms".into();
            })?,
            "does not select the lms-server pods",
        ),
        (
            mutate_manifest("Service", "lms-server", |object| {
                object["spec"]["ports"][0]["targetPort"] = "grpcs".into();
            })?,
            "which the server does not declare",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                first_container(object)["env"][0]["valueFrom"]["secretKeyRef"]["name"] =
                    "lms-secret".into();
            })?,
            "Secret lms-secret key",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                first_container(object)["envFrom"][0]["configMapRef"]["name"] =
                    "lms-settings".into();
            })?,
            "ConfigMap lms-settings, which no manifest defines",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                first_container(object)["readinessProbe"]["grpc"]["port"] =
                    Value::Number(50052.into());
            })?,
            "readinessProbe asks port",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                if let Some(container) = first_container(object).as_mapping_mut() {
                    container.remove("livenessProbe");
                }
            })?,
            "no livenessProbe",
        ),
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                first_container(object)["livenessProbe"]["httpGet"]["port"] =
                    Value::Number(9465.into());
            })?,
            "the liveness probe asks port",
        ),
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                object["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] =
                    Value::Number(30.into());
            })?,
            "shorter than",
        ),
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                object["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] =
                    "9090".into();
            })?,
            "prometheus.io/port",
        ),
        (
            mutate_manifest("ConfigMap", "lms-config", |object| {
                object["data"]["LMS_GRPC__LISTN"] = "0.0.0.0:50051".into();
            })?,
            "environment",
        ),
        (
            mutate_manifest("ConfigMap", "lms-config", |object| {
                object["data"]["LMS_METRICS__LISTEN"] = "127.0.0.1:9464".into();
            })?,
            "unreachable",
        ),
        (
            mutate_manifest("ConfigMap", "lms-config", |object| {
                object["data"]["LMS_GRPC__REFLECTION"] = "true".into();
            })?,
            "serves gRPC reflection",
        ),
        (
            mutate_manifest("Secret", "lms-secrets", |object| {
                object["stringData"]["lms.toml"] =
                    "[[auth.tokens]]\nname = \"ops\"\nsha = \"00\"\nscopes = []\n".into();
            })?,
            "environment",
        ),
        (
            mutate_manifest("ConfigMap", "lms-config", |object| {
                object["data"]["LMS_GRPC__HEALTH"] = "false".into();
            })?,
            "grpc.health is off",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                first_container(object)["volumeMounts"][0]["name"] = "config".into();
            })?,
            "mounts volume \"config\"",
        ),
        (
            mutate_manifest("Deployment", "lms-server", |object| {
                object["spec"]["template"]["spec"]["securityContext"]["runAsUser"] =
                    Value::Number(0.into());
            })?,
            "runAsUser",
        ),
        (
            mutate_manifest("Deployment", "lms-worker", |object| {
                object["spec"]["replicas"] = Value::Number(12.into());
            })?,
            "budget",
        ),
    ];
    let budget_text = read_deploy("postgres/lms.conf")?;
    for (manifests, expected) in cases {
        let mut problems = Problems::default();
        let facts = check_manifests(&manifests, &image, &workspace, &mut problems)?;
        check_pg_conf(&budget_text, &facts.pools, &mut problems)?;
        assert!(
            problems.mentions(expected),
            "expected {expected:?} in:\n{problems}"
        );
    }

    let mut manifests = load_manifests()?;
    if let Some(resources) = manifests.kustomization["resources"].as_sequence_mut() {
        resources.retain(|file| file.as_str() != Some("server-service.yaml"));
    }
    let mut problems = Problems::default();
    check_manifests(&manifests, &image, &workspace, &mut problems)?;
    assert!(problems.mentions("kustomization.yaml lists"), "{problems}");
    Ok(())
}
