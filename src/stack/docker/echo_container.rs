//! The echo server's container in the containers topology: the image [`super::echo_image`]
//! built, on the project's network ([`super::network`]), running `serve echo` on every interface
//! of the container (`--bind 0.0.0.0:PORT`) with `PORT` published on 127.0.0.1, and the MCP
//! server side's variables only — its issuer is the AS's network name.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use crate::config::{MCP_SERVER_SIDE, Settings, var};
use crate::stack::docker::{self, Removal, network, own_labels};

/// The container's name: the AS container's name with `-echo`.
pub fn name(settings: &Settings) -> String {
    name_for(&settings.container_name)
}

/// The echo container's name next to AS container `container`.
pub fn name_for(container: &str) -> String {
    format!("{container}-echo")
}

/// The container's environment, sorted: the variables the MCP server side reads and the echo
/// server's own DPoP mode, never the AS's secrets. Dev mode is on unless set: the issuer is plain
/// http on a private network address, which the SDK refuses outside dev mode.
pub fn env(settings: &Settings) -> Vec<String> {
    let mut env: Vec<String> = settings
        .vars
        .child_env()
        .into_iter()
        .filter(|(k, _)| MCP_SERVER_SIDE.contains(&k.as_str()) || k == var::DEV_ECHO_DPOP)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if settings.vars.non_empty(var::DEV_MODE).is_none() {
        env.retain(|e| !e.starts_with(&format!("{}=", var::DEV_MODE)));
        env.push(format!("{}=true", var::DEV_MODE));
    }
    env.sort();
    env
}

/// Creates and starts the echo container from `image`; returns its id.
pub async fn start(docker: &Docker, settings: &Settings, image: &str) -> anyhow::Result<String> {
    let port = settings.port;
    let port_bindings = docker::published(&[(port, port)]);
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec![
            "serve".to_owned(),
            "echo".to_owned(),
            "--bind".to_owned(),
            format!("0.0.0.0:{port}"),
        ]),
        env: Some(env(settings)),
        labels: Some(own_labels()),
        exposed_ports: Some(port_bindings.keys().cloned().collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            ..Default::default()
        }),
        networking_config: Some(network::joined(settings, &[])),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name(&name(settings))
                    .build(),
            ),
            body,
        )
        .await?;
    docker
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await?;
    Ok(created.id)
}

/// Our echo container of `settings`, running or not.
pub async fn find(
    docker: &Docker,
    settings: &Settings,
) -> Result<Option<ContainerSummary>, String> {
    docker::find(docker, &name(settings)).await
}

/// The daemon and our echo container (running or not) in the containers topology; None in the
/// host topology (no engine call) or when there is none.
pub async fn configured(settings: &Settings) -> Option<(Docker, ContainerSummary)> {
    if settings.topology != crate::config::Topology::Containers {
        return None;
    }
    let docker = docker::connect().await.ok()?;
    let found = find(&docker, settings).await.ok()??;
    Some((docker, found))
}

/// Removes the echo container next to AS container `container` when this project started it.
pub async fn remove_own(docker: &Docker, container: &str) -> anyhow::Result<Removal> {
    docker::remove_own(docker, &name_for(container)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Vars};

    #[test]
    fn the_echo_container_gets_the_mcp_side_only_and_dev_mode() {
        let pairs = [
            (var::SERVER_ISSUER, "http://authserver:9000"),
            (var::ADMIN_API_KEY, "k".repeat(40).leak() as &str),
            (var::DEV_TOPOLOGY, "containers"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let settings = Settings::resolve(
            Vars::from_parts(pairs, Vec::new()),
            &Overrides::default(),
            std::path::Path::new(".env"),
            std::path::Path::new(".run"),
        )
        .unwrap();
        let env = env(&settings);
        assert!(
            env.contains(&"AUTHPLANE_ISSUER=http://authserver:9000".to_owned()),
            "{env:?}"
        );
        assert!(
            env.contains(&"AUTHPLANE_DEV_MODE=true".to_owned()),
            "{env:?}"
        );
        assert!(
            env.iter()
                .all(|e| !e.starts_with("AUTHPLANE_ADMIN_API_KEY")),
            "{env:?}"
        );
        assert!(
            env.iter()
                .all(|e| !e.starts_with("AUTHPLANE_SERVER_ISSUER")),
            "{env:?}"
        );
        assert_eq!(name(&settings), "authplane-dev-authserver-echo");
    }
}
