//! Health checks: the gRPC services they name, and probe commands pointed
//! at the ports the process listens on.

use std::net::SocketAddr;

use lms_config::Settings;

use crate::problems::Problems;
use crate::workspace::Workspace;

/// A gRPC health check of `service` ("" for the whole server) can succeed
/// only if the service exists and the server serves health at all.
pub(crate) fn check_health_service(
    service: &str,
    settings: &Settings,
    workspace: &Workspace,
    origin: &str,
    problems: &mut Problems,
) {
    problems.require(
        service.is_empty() || workspace.grpc_services.contains(service),
        || format!("{origin}: gRPC health check names unknown service {service:?}"),
    );
    problems.require(settings.grpc.health, || {
        format!("{origin}: a gRPC health check, but grpc.health is off")
    });
}

/// The HTTP port and path of a `http://host:port/path` URL.
fn url_port_and_path(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = authority.rsplit_once(':')?.1.parse().ok()?;
    Some((port, format!("/{path}")))
}

/// A health check command (Compose's `test`, without CMD): our gRPC probe
/// script or curl on /healthz, pointed at the port the process listens on.
pub(crate) fn check_probe_command(
    command: &[String],
    settings: &Settings,
    workspace: &Workspace,
    origin: &str,
    problems: &mut Problems,
) {
    match command.first().map(String::as_str) {
        Some("lms-grpc-health") => {
            let address = command
                .get(1)
                .map(String::as_str)
                .unwrap_or("127.0.0.1:50051");
            match address.parse::<SocketAddr>() {
                Ok(address) => {
                    problems.require(address.port() == settings.grpc.listen.port(), || {
                        format!(
                            "{origin}: the gRPC probe asks port {}, the server listens on {}",
                            address.port(),
                            settings.grpc.listen
                        )
                    })
                }
                Err(_) => problems.push(format!("{origin}: gRPC probe address {address:?}")),
            }
            check_health_service(
                command.get(2).map(String::as_str).unwrap_or(""),
                settings,
                workspace,
                origin,
                problems,
            );
        }
        Some("curl") => match command.iter().find_map(|word| url_port_and_path(word)) {
            Some((port, path)) => {
                problems.require(port == settings.metrics.listen.port(), || {
                    format!(
                        "{origin}: the probe asks port {port}, metrics listen on {}",
                        settings.metrics.listen
                    )
                });
                problems.require(path == "/healthz", || {
                    format!("{origin}: the probe asks {path}, not /healthz")
                });
                problems.require(
                    command.iter().any(|word| {
                        word == "--fail"
                            || (word.starts_with('-')
                                && !word.starts_with("--")
                                && word.contains('f'))
                    }),
                    || format!("{origin}: curl without --fail succeeds on HTTP errors"),
                );
            }
            None => problems.push(format!("{origin}: the curl probe has no http:// URL")),
        },
        other => problems.push(format!("{origin}: unknown probe command {other:?}")),
    }
}
