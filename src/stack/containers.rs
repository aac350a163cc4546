//! `up` for the containers topology (`AUTHPLANE_DEV_TOPOLOGY=containers`, the seed's
//! `make docker-run`): the AS container and the echo server's container on one user-defined
//! network, the AS reachable there as `authserver`, both ports published on 127.0.0.1. The CLI on
//! this machine reaches them through the published ports (`AUTHPLANE_DEV_PUBLIC_URL`, the MCP
//! URL) while the issuer every token carries stays `http://authserver:<port>`.
//!
//! The AS is always a container here: `auto` means Docker (no embedded fallback — no container
//! could reach an AS on this machine's loopback). Each object is recorded in
//! [`launched`](super::launched) before it is created, so Ctrl-C mid-`up` removes the containers
//! and the network this invocation created. Nothing here prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::cli::{Component, UpArgs};
use crate::config::{Settings, Source, Topology, default, var};
use crate::diagnose::{Code, Finding};
use crate::report::Run;
use crate::stack::docker::{self, echo_container, echo_image, network};
use crate::stack::process::{self, PidState};
use crate::stack::{AsBackend, Started, backend, launched, started};

/// Starts what is not running: the network, the AS container on it, then (when `with_echo`) the
/// echo server's image and container. Returns whether everything asked for is up; a failed step
/// has its finding in `run`.
pub async fn ensure_up(
    settings: &Settings,
    args: &UpArgs,
    run: &mut Run<'_>,
    with_echo: bool,
) -> anyhow::Result<bool> {
    let timer = run.start("backend");
    let docker = match docker::connect().await {
        Ok(docker) => docker,
        Err(mut finding) => {
            // The usual fix names the embedded AS, which this topology cannot use.
            finding.fix = format!(
                "start Docker (e.g. `sudo systemctl start docker`) or check DOCKER_HOST: {}=containers \
                 runs the AS and the echo server as containers; without Docker use {}=host",
                var::DEV_TOPOLOGY,
                var::DEV_TOPOLOGY
            );
            super::fail_backend(run, timer, finding);
            return Ok(false);
        }
    };
    let echo_process = match process::inspect(&settings.run_dir, Component::Echo) {
        PidState::Running(pid) => Some(pid),
        _ => None,
    };
    // A held port is found before any pull or build (which can take minutes); our own echo
    // container or echo process holding the echo port is no conflict (the process is replaced
    // below).
    if !super::preflight_ports(settings, run, with_echo).await {
        run.skip(timer, "not chosen: a port is in use");
        return Ok(false);
    }
    let image = &settings.image;
    let mut pull = run.pull_progress(image);
    let present = docker::ensure_image(&docker, image, args.no_pull, |e| pull.event(e)).await;
    pull.finish();
    match present {
        Ok(pulled) => run.pass(
            timer,
            format!(
                "docker ({}=containers; image {image} {})",
                var::DEV_TOPOLOGY,
                if pulled { "pulled" } else { "present" }
            ),
            json!({"backend": "docker", "topology": "containers", "kept": false}),
        ),
        Err(reason) => {
            let finding = docker::image_finding(image, &reason);
            super::fail_backend(run, timer, finding);
            return Ok(false);
        }
    }

    if !ensure_network(&docker, settings, run).await? {
        return Ok(false);
    }
    let timeout = Duration::from_secs(args.wait_timeout);
    let as_result = super::ensure_container(&docker, settings, timeout, run).await?;
    if !as_result.is_up() {
        if with_echo {
            let timer = run.start(process::title(Component::Echo));
            run.skip(timer, "not started: the authorization server is not up");
        }
        return Ok(false);
    }
    backend::record(&settings.run_dir, AsBackend::Docker)?;
    // The container does not read AUTHPLANE_DEV_USER_*: make the user through its admin API.
    super::dev_user::ensure_via_admin(settings, run).await;
    record(&settings.run_dir)?;
    if !with_echo {
        return Ok(true);
    }
    if let Some(pid) = echo_process {
        let timer = run.start("stop echo MCP server process");
        process::stop(&settings.run_dir, Component::Echo, pid)?;
        started::forget(&settings.run_dir, Component::Echo);
        run.pass(
            timer,
            format!(
                "stopped the echo server process (pid {pid}): the containers topology runs it in \
                 a container"
            ),
            json!({"pid": pid}),
        );
    }
    let Some(tag) = ensure_echo_image(&docker, settings, run).await else {
        return Ok(false);
    };
    ensure_echo_container(&docker, settings, &tag, as_result, timeout, run).await
}

/// `<run_dir>/topology`: present (holding `containers`) while a stack started in the containers
/// topology is up, so that later verbs follow it when nothing sets the topology ([`follow`]).
/// Written once the AS is up, removed by `clean`.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join("topology")
}

fn recorded(run_dir: &Path) -> bool {
    std::fs::read_to_string(record_path(run_dir)).is_ok_and(|t| t.trim() == "containers")
}

fn record(run_dir: &Path) -> anyhow::Result<()> {
    if recorded(run_dir) {
        return Ok(());
    }
    crate::private_files::write_file(
        &record_path(run_dir),
        b"containers\n",
        crate::private_files::Durability::Unsynced,
    )
}

/// After `up --topology containers`, a plain `verify` (or `status`, `logs`, `doctor`, `token`)
/// follows the stack that runs: when nothing sets `AUTHPLANE_DEV_TOPOLOGY` (flag, environment,
/// `.env`) and the run directory records the containers topology, `settings` take it (shown as
/// coming from the command line, the flag that started it). A topology set anywhere wins.
pub fn follow(settings: &mut Settings) {
    if settings.vars.source(var::DEV_TOPOLOGY) == Source::Default && recorded(&settings.run_dir) {
        settings
            .vars
            .set_flag(var::DEV_TOPOLOGY, Topology::Containers.as_str());
        settings.topology = Topology::Containers;
    }
}

/// Whether this project's echo container runs (in the containers topology only; no engine call
/// otherwise).
pub async fn echo_running(docker: &docker::Client, settings: &Settings) -> bool {
    settings.topology == crate::config::Topology::Containers
        && echo_container::find(docker, settings)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| docker::is_running(&c) && docker::is_own(&c))
}

/// The "network" step: this project's network exists (created now or before).
async fn ensure_network(
    docker: &docker::Client,
    settings: &Settings,
    run: &mut Run<'_>,
) -> anyhow::Result<bool> {
    let name = network::name(&settings.container_name);
    let timer = run.start("network");
    // Recorded first: a Ctrl-C while the request is in flight still removes it.
    launched::record_network(&name);
    match network::ensure(docker, settings).await? {
        network::Ensured::Existing => {
            launched::forget_network(&name);
            run.pass(
                timer,
                format!("{name} (exists)"),
                json!({"network": name, "created": false}),
            );
            Ok(true)
        }
        network::Ensured::Created => {
            run.pass(
                timer,
                format!(
                    "created {name}; the AS joins it as `{}`",
                    default::NETWORK_ALIAS
                ),
                json!({"network": name, "created": true}),
            );
            Ok(true)
        }
        network::Ensured::Foreign(project) => {
            launched::forget_network(&name);
            run.fail(
                timer,
                format!("network {name} belongs to someone else"),
                json!({"network": name, "project": project}),
            );
            let (whose, remedy) = if project.is_empty() {
                (
                    "that authplane-dev did not create".to_owned(),
                    format!("remove it (`docker network rm {name}`) if nothing uses it"),
                )
            } else {
                (
                    format!(
                        "for another project directory (label {}={project})",
                        docker::PROJECT_LABEL
                    ),
                    "run `authplane-dev clean` in the directory that started it".to_owned(),
                )
            };
            run.finding(
                Finding::error(
                    Code::ConfigInvalid,
                    format!("a Docker network named {name} exists {whose}"),
                    format!(
                        "set {} to another name for this project (the network is named after \
                         it), or {remedy}",
                        var::DEV_CONTAINER
                    ),
                )
                .why("authplane-dev only uses or removes networks this directory created"),
            );
            Ok(false)
        }
    }
}

/// The "echo image" step: the echo server's image for this binary, built unless present. Its tag,
/// or None when it could not be built (the finding says why). A warm run finds the tag recorded
/// for this binary in the run directory and only asks the engine whether the image is there.
async fn ensure_echo_image(
    docker: &docker::Client,
    settings: &Settings,
    run: &mut Run<'_>,
) -> Option<String> {
    let timer = run.start("echo image");
    let recorded = match echo_image::recorded_tag(&settings.run_dir) {
        Some(tag) if echo_image::exists(docker, &tag).await => Some(tag),
        _ => None,
    };
    let built = match recorded {
        Some(tag) => Ok((tag, false)),
        None => match echo_image::context() {
            Ok(context) => {
                let tag = context.tag.clone();
                echo_image::ensure(docker, context)
                    .await
                    .map(|built| (tag, built))
            }
            Err(reason) => Err(reason),
        },
    };
    match built {
        Ok((tag, built)) => {
            echo_image::record_tag(&settings.run_dir, &tag);
            let ms = timer.elapsed().as_millis();
            let summary = if built {
                format!("built {tag} from this binary in {ms} ms")
            } else {
                format!("{tag} (present: built from this binary before)")
            };
            run.pass(timer, summary, json!({"image": tag, "built": built}));
            Some(tag)
        }
        Err(reason) => {
            run.fail(
                timer,
                "cannot build the echo server's image",
                json!({"reason": reason}),
            );
            run.finding(
                Finding::error(
                    Code::ImageUnavailable,
                    "the echo server's image could not be built from this binary",
                    format!(
                        "fix what the reason names, or run the echo server on this machine: {}=host",
                        var::DEV_TOPOLOGY
                    ),
                )
                .why(reason),
            );
            None
        }
    }
}

/// The echo server's container from image `tag`: kept when it runs with the same inputs and the
/// AS was not (re)started now (the SDK caches the AS's keys), else (re)created and health-waited
/// through its published port.
async fn ensure_echo_container(
    docker: &docker::Client,
    settings: &Settings,
    tag: &str,
    as_result: Started,
    timeout: Duration,
    run: &mut Run<'_>,
) -> anyhow::Result<bool> {
    let name = echo_container::name(settings);
    let url = settings.audience();
    let timer = run.start(process::title(Component::Echo));
    let wanted = started::inputs(settings, Component::Echo, Some(tag));
    let mut because = None;
    if let Some(found) = echo_container::find(docker, settings)
        .await
        .map_err(anyhow::Error::msg)?
    {
        if !docker::is_own(&found) {
            run.fail(
                timer,
                format!("container {name} belongs to another project directory"),
                json!({"container": name}),
            );
            run.finding(Finding::error(
                Code::ConfigInvalid,
                format!(
                    "a container named {name} exists for another project directory (label {}={})",
                    docker::PROJECT_LABEL,
                    docker::project_of(&found)
                ),
                format!(
                    "set {} to another name for this project, or run `authplane-dev clean` in \
                     the directory that started it",
                    var::DEV_CONTAINER
                ),
            ));
            return Ok(false);
        }
        let changed = started::read(&settings.run_dir, Component::Echo)
            .map(|recorded| started::changes(&recorded, &wanted))
            .unwrap_or_default();
        if docker::is_running(&found) && changed.is_empty() && as_result == Started::Already {
            run.pass(
                timer,
                format!("already running (container {name}) at {url}"),
                json!({"container": name, "url": url, "started": false}),
            );
            return Ok(true);
        }
        because = Some(if changed.is_empty() {
            "the authorization server was (re)started: the SDK caches its keys".to_owned()
        } else {
            format!("settings changed: {}", started::describe(&changed))
        });
        docker::remove(docker, &name).await?;
        started::forget(&settings.run_dir, Component::Echo);
    }
    launched::record_container(&name);
    let id = echo_container::start(docker, settings, tag).await?;
    match docker::wait_component_ready(docker, settings, Component::Echo, &id, timeout).await {
        Ok(()) => {
            started::record(&settings.run_dir, Component::Echo, &wanted)?;
            // An older binary's image is no longer used by anything of ours; one in use elsewhere
            // is kept by the engine. Best effort: a leftover image is `clean`'s to remove.
            let _ = echo_image::remove_own(docker, Some(tag)).await;
            let ms = timer.elapsed().as_millis();
            let verb = if because.is_some() {
                "recreated"
            } else {
                "started"
            };
            let because_text = because
                .as_ref()
                .map_or_else(String::new, |b| format!("; {b}"));
            run.pass(
                timer,
                format!("{verb} (container {name}, image {tag}) in {ms} ms at {url}{because_text}"),
                json!({"container": name, "image": tag, "url": url, "started": true,
                       "restarted_because": because}),
            );
            Ok(true)
        }
        Err(why) => {
            let _ = docker::remove(docker, &name).await;
            launched::forget_container(&name);
            run.fail(
                timer,
                format!("container {name} did not become ready at {url}"),
                json!({"container": name, "url": url}),
            );
            run.finding(Finding::error(
                Code::McpUnreachable,
                format!("the echo server container {name} is not ready: {why}"),
                format!(
                    "fix what its log names, then `authplane-dev up` again; a slow machine may \
                     need --wait-timeout (or run it on this machine: {}=host)",
                    var::DEV_TOPOLOGY
                ),
            ));
            Ok(false)
        }
    }
}
