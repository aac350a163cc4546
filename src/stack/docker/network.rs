//! The user-defined bridge network of the containers topology: the AS container joins it under
//! the alias `authserver` and the MCP server's container resolves that name through Docker's
//! embedded DNS (the default bridge network has no DNS, hence a network of our own). It carries
//! our labels, so `clean` removes only the one this project directory created.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{EndpointSettings, NetworkCreateRequest, NetworkingConfig};

use crate::config::Settings;
use crate::stack::docker::{MANAGED_LABEL, PROJECT_LABEL, Removal, own_labels, project_hash};

/// The network's name: the AS container's name with `-net`, so two projects with different
/// container names (`AUTHPLANE_DEV_CONTAINER`) never share one.
pub fn name(container: &str) -> String {
    format!("{container}-net")
}

/// What a container joining the network with `aliases` is created with.
pub fn joined(settings: &Settings, aliases: &[&str]) -> NetworkingConfig {
    let endpoint = EndpointSettings {
        aliases: Some(aliases.iter().map(|a| (*a).to_owned()).collect()),
        ..Default::default()
    };
    NetworkingConfig {
        endpoints_config: Some(HashMap::from([(name(&settings.container_name), endpoint)])),
    }
}

/// What [`ensure`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// It existed already (ours).
    Existing,
    /// It was created now.
    Created,
    /// One of that name exists that another project directory (its label given) or someone else
    /// ("") created: not ours to use.
    Foreign(String),
}

/// Makes sure this project's network exists: creates it (bridge driver, our labels) unless there.
pub async fn ensure(docker: &Docker, settings: &Settings) -> anyhow::Result<Ensured> {
    let network = name(&settings.container_name);
    if let Some(labels) = labels_of(docker, &network).await? {
        return Ok(if is_own(&labels) {
            Ensured::Existing
        } else {
            Ensured::Foreign(labels.get(PROJECT_LABEL).cloned().unwrap_or_default())
        });
    }
    docker
        .create_network(NetworkCreateRequest {
            name: network,
            driver: Some("bridge".to_owned()),
            labels: Some(own_labels()),
            ..Default::default()
        })
        .await?;
    Ok(Ensured::Created)
}

/// The labels of network `network`, None when there is none.
async fn labels_of(
    docker: &Docker,
    network: &str,
) -> anyhow::Result<Option<HashMap<String, String>>> {
    match docker.inspect_network(network, None).await {
        Ok(found) => Ok(Some(found.labels.unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_own(labels: &HashMap<String, String>) -> bool {
    labels.get(MANAGED_LABEL).map(String::as_str) == Some("true")
        && labels.get(PROJECT_LABEL) == Some(&project_hash())
}

/// Removes the network of container `container` when this project created it; the containers on
/// it must be gone first (the engine refuses to remove a network in use).
pub async fn remove_own(docker: &Docker, container: &str) -> anyhow::Result<Removal> {
    let network = name(container);
    let Some(labels) = labels_of(docker, &network).await? else {
        return Ok(Removal::Absent);
    };
    if !is_own(&labels) {
        return Ok(Removal::OtherProject(
            labels.get(PROJECT_LABEL).cloned().unwrap_or_default(),
        ));
    }
    remove(docker, &network).await?;
    Ok(Removal::Removed)
}

/// Removes network `network`; Ok(false) when there is none.
pub async fn remove(docker: &Docker, network: &str) -> anyhow::Result<bool> {
    match docker.remove_network(network).await {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
