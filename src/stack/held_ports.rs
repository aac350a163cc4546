//! Ports the stack needs that something else holds: which ones, who holds them (the container
//! publishing the port when the engine names one, else the host process), and the `port_in_use`
//! finding that says how to free them. Used by `up`'s pre-flight and by doctor.

use serde_json::json;

use super::{Component, containers, docker, external, ports, process};
use crate::config::{self, Backend, Settings, var};
use crate::diagnose::{Code, Finding};
use crate::report::Run;
use process::PidState;

/// A port that is taken, with the variable that sets it.
pub(super) struct HeldPort {
    pub(super) port: u16,
    variable: &'static str,
    holder: ports::Holder,
}

impl HeldPort {
    pub(super) fn finding(&self, component: Component) -> Finding {
        let port = self.port;
        let holder = self.holder.describe(port);
        let stop = self.holder.pid().map_or_else(
            || format!("find it with `{}`", ports::find_holder_command(port)),
            |pid| {
                if cfg!(windows) {
                    format!("stop it (`taskkill /PID {pid}`)")
                } else {
                    format!("stop it (`kill {pid}`)")
                }
            },
        );
        let also = if self.variable == var::SERVER_ADDRESS {
            format!(
                " (and {} / {} to the same port)",
                var::SERVER_ISSUER,
                var::ISSUER
            )
        } else if self.variable == var::PORT {
            format!(" (and {} to the same port)", var::BASE_URL)
        } else {
            String::new()
        };
        let example = if self.variable == var::PORT {
            "<free port>"
        } else {
            ":<free port>"
        };
        Finding::error(
            Code::PortInUse,
            format!(
                "port {port} ({}) is already in use by {holder}",
                self.variable
            ),
            format!(
                "{stop}, or choose another port: set {}={example} in .env{also}",
                self.variable
            ),
        )
        .why(format!(
            "the {} must listen on port {port} and cannot while another process holds it",
            process::title(component)
        ))
    }
}

/// The finding for a port held by something else: the container publishing it when the engine
/// names one, else the host process (or what is known of it).
pub(super) async fn held_finding(
    docker: Option<&docker::Client>,
    h: &HeldPort,
    component: Component,
) -> Finding {
    let container = match docker {
        Some(docker) => docker::port_holder(docker, h.port).await,
        None => None,
    };
    match container {
        Some((container, image)) => Finding::error(
            Code::PortInUse,
            format!(
                "port {} ({}) is already in use by container {container} (image {image})",
                h.port, h.variable
            ),
            format!(
                "stop it (`docker stop {container}`), or choose another port: set {}=:<free port> in .env",
                h.variable
            ),
        ),
        None => h.finding(component),
    }
}

/// The ports the stack needs that something other than our stack holds, each with its
/// `port_in_use` finding. A port is fine when free, when our component holds it (its pid file
/// names a live server of ours), or — for the AS's ports, unless the embedded backend is selected —
/// when this project's container runs. Holders are named: the container publishing the port when
/// the engine knows one, else the host process.
pub async fn foreign_held_ports(settings: &Settings, with_echo: bool) -> Vec<(u16, Finding)> {
    let mut components = vec![Component::Authserver];
    if with_echo {
        components.push(Component::Echo);
    }
    let mut held = Vec::new();
    for component in components {
        if matches!(
            process::inspect(&settings.run_dir, component),
            PidState::Running(_)
        ) {
            continue;
        }
        held.extend(
            held_ports(settings, component)
                .into_iter()
                .map(|h| (component, h)),
        );
    }
    if held.is_empty() {
        return Vec::new();
    }
    if held.iter().any(|(c, _)| *c == Component::Authserver)
        && external::detect(settings).await.is_some()
    {
        // An AS someone else runs holds the AS's ports: it is used as it is, not a conflict.
        held.retain(|(c, _)| *c != Component::Authserver);
        if held.is_empty() {
            return Vec::new();
        }
    }
    let docker = docker::connect().await.ok();
    if let Some(docker) = &docker
        && settings.backend != Backend::Embedded
        && held.iter().any(|(c, _)| *c == Component::Authserver)
        && docker::own_running(docker, &settings.container_name).await
    {
        // Our container publishes the AS's ports: "already running", not a conflict.
        held.retain(|(c, _)| *c != Component::Authserver);
    }
    if let Some(docker) = &docker
        && held.iter().any(|(c, _)| *c == Component::Echo)
        && containers::echo_running(docker, settings).await
    {
        held.retain(|(c, _)| *c != Component::Echo);
    }
    let mut findings = Vec::new();
    for (component, h) in &held {
        findings.push((h.port, held_finding(docker.as_ref(), h, *component).await));
    }
    findings
}

/// Pre-flight for the Docker backend, before any image pull (which can take minutes): every port
/// the stack needs is free or held by our own stack ([`foreign_held_ports`]). Records a "ports"
/// step only when something else holds a port; returns whether `up` may go on.
pub(crate) async fn preflight_ports(
    settings: &Settings,
    run: &mut Run<'_>,
    with_echo: bool,
) -> bool {
    let held = foreign_held_ports(settings, with_echo).await;
    if held.is_empty() {
        return true;
    }
    let timer = run.start("ports");
    run.fail(
        timer,
        format!(
            "port {} in use; nothing was pulled or started",
            held.iter()
                .map(|(port, _)| port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        json!({"ports": held.iter().map(|(port, _)| port).collect::<Vec<_>>()}),
    );
    for (_, finding) in held {
        run.finding(finding);
    }
    false
}

pub(super) fn held_ports(settings: &Settings, component: Component) -> Vec<HeldPort> {
    let wanted: Vec<(&'static str, String, u16)> = match component {
        Component::Authserver => vec![
            (
                var::SERVER_ADDRESS,
                settings.server_address.clone(),
                settings.server_port(),
            ),
            (
                var::ADMIN_ADDRESS,
                settings.admin_address.clone(),
                settings.admin_port(),
            ),
        ],
        Component::Echo => vec![(var::PORT, format!(":{}", settings.port), settings.port)],
    };
    wanted
        .into_iter()
        .filter_map(|(variable, address, port)| {
            let bind = config::bind_address(variable, &address).ok()?;
            ports::check(&bind, port).err().map(|holder| HeldPort {
                port,
                variable,
                holder,
            })
        })
        .collect()
}

pub(super) fn join_ports(held: &[HeldPort]) -> String {
    held.iter()
        .map(|h| h.port.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_finding_names_port_variable_and_holder() {
        let held = HeldPort {
            port: 4321,
            variable: var::SERVER_ADDRESS,
            holder: ports::Holder::Process {
                pid: 77,
                cmdline: "nc -l 4321".into(),
            },
        };
        let f = held.finding(Component::Authserver);
        assert_eq!(f.code, Code::PortInUse);
        assert!(
            f.message.contains("4321") && f.message.contains("pid 77"),
            "{}",
            f.message
        );
        assert!(f.fix.contains("AUTHPLANE_SERVER_ADDRESS"), "{}", f.fix);
        assert!(f.fix.contains("kill 77"), "{}", f.fix);
    }
}
