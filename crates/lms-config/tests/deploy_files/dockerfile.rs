//! The Dockerfile: the image every flavour runs, and the facts about it
//! that the other checkers rely on.

mod dockerignore;
mod syntax;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow, ensure};
use lms_config::Settings;

use crate::env_files::Env;
use crate::problems::Problems;
use crate::repo_files::read_deploy;
use crate::settings::load_settings;
use crate::workspace::{Workspace, workspace, workspace_manifest};
use dockerignore::check_dockerignore;
use syntax::{Dockerfile, Instruction, parse_copy, parse_dockerfile, parse_exec_form};

/// The Dockerfile Compose builds the LMS image from.
pub(crate) const DOCKERFILE: &str = "deploy/docker/Dockerfile";

/// Commands that every Debian base image has (coreutils is essential), so
/// the LMS image need not install them.
const BASE_SYSTEM_COMMANDS: [&str; 1] = ["sleep"];

/// The facts about the image that other flavours rely on.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    /// Commands on the image's PATH that we put there or installed.
    pub(crate) executables: BTreeSet<String>,
    /// `ENV` of the runtime stage: the base every container's environment
    /// starts from.
    pub(crate) env: Env,
    pub(crate) uid: u32,
    pub(crate) default_command: Vec<String>,
    /// Paths of the build context that the Dockerfile copies.
    context_sources: BTreeSet<String>,
}

fn check_dockerfile(
    dockerfile: &Dockerfile,
    workspace: &Workspace,
    problems: &mut Problems,
) -> Result<Image> {
    let origin = DOCKERFILE;

    // Stages: the cargo-chef pattern and a separate runtime.
    for name in ["planner", "cook", "build", "runtime"] {
        problems.require(dockerfile.stage(name).is_some(), || {
            format!("{origin}: no stage named {name} (FROM ... AS {name})")
        });
    }
    let runtime = dockerfile
        .stages
        .last()
        .ok_or_else(|| anyhow!("{origin} has no FROM"))?;
    problems.require(runtime.name.as_deref() == Some("runtime"), || {
        format!("{origin}: the last stage (the image) must be the runtime stage")
    });

    // The toolchain: a Rust image at least as new as the workspace's
    // rust-version, on Debian bookworm like the runtime.
    let required = parse_version(&workspace_manifest()?.workspace.package.rust_version)?;
    let rust_bases: Vec<String> = dockerfile
        .stages
        .iter()
        .map(|stage| dockerfile.expand(&stage.base))
        .filter(|base| base.starts_with("rust:"))
        .collect();
    problems.require(!rust_bases.is_empty(), || {
        format!("{origin}: no stage builds FROM a rust: image")
    });
    for base in &rust_bases {
        let tag = base.trim_start_matches("rust:");
        let version = tag.split('-').next().unwrap_or_default();
        match parse_version(version) {
            Ok(found) => problems.require(found >= required, || {
                format!("{origin}: {base} is older than the workspace's rust-version {required:?}")
            }),
            Err(error) => problems.push(format!("{origin}: {base}: {error}")),
        }
        problems.require(tag.contains("bookworm"), || {
            format!("{origin}: {base} is not a bookworm image")
        });
    }
    let runtime_base = dockerfile.expand(&runtime.base);
    problems.require(runtime_base == "debian:bookworm-slim", || {
        format!("{origin}: the runtime stage is {runtime_base}, expected debian:bookworm-slim")
    });

    // Dependencies are cooked before the source arrives, and the release
    // binaries are built after it.
    let planner_prepares = dockerfile.stage("planner").is_some_and(|stage| {
        stage.instructions.iter().any(|instruction| {
            instruction.keyword == "RUN" && instruction.arguments.contains("cargo chef prepare")
        })
    });
    problems.require(planner_prepares, || {
        format!("{origin}: the planner stage does not run `cargo chef prepare`")
    });
    let build_stage = dockerfile.stages.iter().find(|stage| {
        stage.instructions.iter().any(|instruction| {
            instruction.keyword == "RUN" && instruction.arguments.contains("cargo build")
        })
    });
    match build_stage {
        None => problems.push(format!("{origin}: no stage runs `cargo build`")),
        Some(stage) => {
            let lineage = dockerfile.lineage(stage)?;
            let position =
                |predicate: &dyn Fn(&Instruction) -> bool| lineage.iter().position(predicate);
            let cook = position(&|instruction| {
                instruction.keyword == "RUN" && instruction.arguments.contains("cargo chef cook")
            });
            let full_source = position(&|instruction| {
                instruction.keyword == "COPY"
                    && parse_copy(&instruction.arguments).is_ok_and(|copy| {
                        copy.from_stage.is_none() && copy.sources.iter().any(|source| source == ".")
                    })
            });
            let build = position(&|instruction| {
                instruction.keyword == "RUN" && instruction.arguments.contains("cargo build")
            });
            match (cook, full_source, build) {
                (Some(cook), Some(full_source), Some(build)) => {
                    problems.require(cook < full_source && full_source < build, || {
                        format!(
                            "{origin}: `cargo chef cook` must run before the full source \
                             is copied, and `cargo build` after it"
                        )
                    });
                }
                _ => problems.push(format!(
                    "{origin}: the build needs `cargo chef \
                     cook`, then `COPY . .`, then `cargo build`"
                )),
            }
            let cook_and_build: Vec<&Instruction> = lineage
                .iter()
                .filter(|instruction| {
                    instruction.keyword == "RUN"
                        && (instruction.arguments.contains("cargo chef cook")
                            || instruction.arguments.contains("cargo build"))
                })
                .collect();
            for instruction in cook_and_build {
                for flag in ["--release", "--locked"] {
                    problems.require(instruction.arguments.contains(flag), || {
                        format!("{origin}: `{}` lacks {flag}", instruction.arguments)
                    });
                }
            }
        }
    }

    // The runtime stage: what it installs, copies, sets and runs.
    let mut executables = BTreeSet::new();
    let mut env = Env::new();
    let mut context_sources = BTreeSet::new();
    let mut exposed = BTreeSet::new();
    let mut user = None;
    let mut created_uid = None;
    let mut default_command = Vec::new();
    let mut apt_packages = BTreeSet::new();
    for stage in &dockerfile.stages {
        for instruction in &stage.instructions {
            if instruction.keyword == "COPY" {
                let copy = parse_copy(&instruction.arguments)?;
                if copy.from_stage.is_none() {
                    context_sources.extend(copy.sources.iter().cloned());
                }
            }
        }
    }
    for instruction in &runtime.instructions {
        match instruction.keyword.as_str() {
            "RUN" => {
                let words: Vec<&str> = instruction.arguments.split_whitespace().collect();
                if let Some(install) = words
                    .windows(2)
                    .position(|pair| pair == ["apt-get", "install"])
                {
                    for word in words[install + 2..]
                        .iter()
                        .take_while(|word| !["&&", ";", "||"].contains(word))
                        .filter(|word| !word.starts_with('-'))
                    {
                        apt_packages.insert((*word).to_owned());
                    }
                }
                if let Some(flag) = words.iter().position(|word| *word == "--uid") {
                    created_uid = words.get(flag + 1).and_then(|uid| uid.parse::<u32>().ok());
                }
            }
            "COPY" => {
                let copy = parse_copy(&instruction.arguments)?;
                let into_directory = copy.destination.ends_with('/');
                let names: Vec<String> = if into_directory {
                    copy.sources
                        .iter()
                        .filter_map(|source| Path::new(source).file_name())
                        .map(|name| name.to_string_lossy().into_owned())
                        .collect()
                } else {
                    Path::new(&copy.destination)
                        .file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                        .into_iter()
                        .collect()
                };
                if copy.destination.starts_with("/usr/local/bin") {
                    executables.extend(names);
                }
            }
            "ENV" => {
                for assignment in instruction.arguments.split_whitespace() {
                    let (name, value) = assignment
                        .split_once('=')
                        .ok_or_else(|| anyhow!("{origin}: ENV {assignment} is not NAME=value"))?;
                    env.insert(name.to_owned(), value.to_owned());
                }
            }
            "EXPOSE" => {
                for port in instruction.arguments.split_whitespace() {
                    let number = port.trim_end_matches("/tcp");
                    exposed.insert(
                        number
                            .parse::<u16>()
                            .with_context(|| format!("EXPOSE {port}"))?,
                    );
                }
            }
            "USER" => user = Some(instruction.arguments.clone()),
            "CMD" => default_command = parse_exec_form(&instruction.arguments)?,
            _ => {}
        }
    }
    problems.require(apt_packages.contains("ca-certificates"), || {
        format!("{origin}: the runtime stage does not install ca-certificates")
    });
    // Debian's curl package installs the curl command.
    if apt_packages.contains("curl") {
        executables.insert("curl".to_owned());
    }
    executables.extend(
        BASE_SYSTEM_COMMANDS
            .iter()
            .map(|command| (*command).to_owned()),
    );

    for binary in ["lms-server", "lms-worker", "lmsctl"] {
        problems.require(executables.contains(binary), || {
            format!("{origin}: the runtime stage does not copy {binary} into /usr/local/bin")
        });
        problems.require(workspace.binaries.contains(binary), || {
            format!("{origin}: {binary} is not a binary of the workspace")
        });
    }

    // Non-root, by a number Kubernetes can verify.
    let uid = match user
        .as_deref()
        .map(|user| user.split(':').next().unwrap_or_default())
    {
        None => {
            problems.push(format!(
                "{origin}: the runtime stage sets no USER, so it runs as root"
            ));
            0
        }
        Some(user) => match user.parse::<u32>() {
            Ok(0) => {
                problems.push(format!("{origin}: USER 0 is root"));
                0
            }
            Ok(uid) => {
                problems.require(created_uid == Some(uid), || {
                    format!("{origin}: USER {uid} is not the uid useradd creates")
                });
                uid
            }
            Err(_) => {
                problems.push(format!(
                    "{origin}: USER {user} must be numeric so that runAsNonRoot can verify it"
                ));
                0
            }
        },
    };

    // The image's own environment must load, and it must expose the ports
    // it listens on. Those stay the documented defaults: only the address
    // changes inside a container.
    let defaults = Settings::default();
    if let Some(settings) = problems.record(&format!("{origin} ENV"), load_settings(&env, None)) {
        for (what, address, default) in [
            ("grpc.listen", settings.grpc.listen, defaults.grpc.listen),
            (
                "metrics.listen",
                settings.metrics.listen,
                defaults.metrics.listen,
            ),
        ] {
            problems.require(address.port() == default.port(), || {
                format!(
                    "{origin}: {what} port {} is not the default {}",
                    address.port(),
                    default.port()
                )
            });
            problems.require(exposed.contains(&address.port()), || {
                format!("{origin}: {what} port {} is not EXPOSEd", address.port())
            });
            problems.require(address.ip().is_unspecified(), || {
                format!("{origin}: {what} {address} is unreachable from outside the container")
            });
        }
    }
    problems.require(
        default_command
            .first()
            .is_some_and(|command| executables.contains(command)),
        || format!("{origin}: CMD {default_command:?} is not a binary in the image"),
    );

    Ok(Image {
        executables,
        env,
        uid,
        default_command,
        context_sources,
    })
}

fn parse_version(text: &str) -> Result<(u32, u32, u32)> {
    let mut parts = text.trim().split('.').map(str::parse::<u32>);
    let major = parts.next().ok_or_else(|| anyhow!("empty version"))??;
    let minor = parts.next().unwrap_or(Ok(0))?;
    let patch = parts.next().unwrap_or(Ok(0))?;
    ensure!(
        parts.next().is_none(),
        "version {text:?} has too many parts"
    );
    Ok((major, minor, patch))
}

pub(crate) fn load_image(workspace: &Workspace, problems: &mut Problems) -> Result<Image> {
    let dockerfile = parse_dockerfile(&read_deploy("docker/Dockerfile")?)?;
    check_dockerfile(&dockerfile, workspace, problems)
}

#[test]
fn dockerfile_caches_dependencies_and_runs_as_non_root() -> Result<()> {
    let workspace = workspace()?;
    let mut problems = Problems::default();
    let image = load_image(&workspace, &mut problems)?;
    check_dockerignore(
        &read_deploy("docker/Dockerfile.dockerignore")?,
        &image,
        &mut problems,
    )?;
    problems.assert_none();
    assert_eq!(image.default_command, ["lms-server"]);
    assert!(
        image
            .context_sources
            .contains("deploy/docker/lms-grpc-health")
    );
    Ok(())
}

#[test]
fn broken_dockerfiles_are_caught() -> Result<()> {
    let workspace = workspace()?;
    let original = read_deploy("docker/Dockerfile")?;
    let cases = [
        // The full source before cooking: every edit rebuilds dependencies.
        (
            original.replace(
                "COPY --from=planner /src/recipe.json recipe.json",
                "COPY . .\nCOPY --from=planner /src/recipe.json recipe.json",
            ),
            "cargo chef cook` must run before",
        ),
        (
            original.replace(" /src/target/release/lmsctl ", " "),
            "does not copy lmsctl",
        ),
        (
            original.replace("USER 10001:10001", "USER root"),
            "must be numeric",
        ),
        (original.replace("USER 10001:10001", "USER 0"), "root"),
        (
            original.replace("ARG RUST_VERSION=1.94", "ARG RUST_VERSION=1.80"),
            "older than",
        ),
        (
            original.replace("EXPOSE 50051 9464", "EXPOSE 50051"),
            "port 9464 is not EXPOSEd",
        ),
        (
            original.replace(
                "LMS_GRPC__LISTEN=0.0.0.0:50051",
                "LMS_GRPC__LISTN=0.0.0.0:50051",
            ),
            "Dockerfile ENV: ",
        ),
        (
            original.replace("FROM cook AS build", "FROM chef AS build"),
            "the build needs `cargo chef cook`",
        ),
    ];
    for (text, expected) in cases {
        assert_ne!(
            text, original,
            "the mutation for {expected:?} changed nothing"
        );
        let mut problems = Problems::default();
        let _ = check_dockerfile(&parse_dockerfile(&text)?, &workspace, &mut problems)?;
        assert!(
            problems.mentions(expected),
            "expected {expected:?} in:\n{problems}"
        );
    }
    let image = load_image(&workspace, &mut Problems::default())?;
    let ignore = read_deploy("docker/Dockerfile.dockerignore")?;
    let mut problems = Problems::default();
    check_dockerignore(&ignore.replace("\ntarget\n", "\n"), &image, &mut problems)?;
    check_dockerignore(&format!("{ignore}\nproto\n"), &image, &mut problems)?;
    check_dockerignore(
        &ignore.replace("!deploy/docker/lms-grpc-health\n", ""),
        &image,
        &mut problems,
    )?;
    assert!(problems.mentions("target is sent"), "{problems}");
    assert!(problems.mentions("proto is needed"), "{problems}");
    assert!(
        problems.mentions("deploy/docker/lms-grpc-health is needed"),
        "{problems}"
    );
    Ok(())
}
