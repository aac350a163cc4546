//! The lifecycle of background components: which authorization-server backend runs, starting the
//! components in the background (health-waited), inspecting and stopping them.
//!
//! - [`process`] — child processes, pid files and log files under `run_dir`;
//! - [`ports`] — port pre-flight and "who holds this port";
//! - [`held_ports`] — the ports the stack needs that something else holds, as findings;
//! - [`health`] — readiness probes;
//! - [`lock`] — the run-directory lock that keeps state-changing runs from overlapping.
//!
//! - [`docker`] — the Docker backend (the only module that speaks bollard);
//! - [`backend`] — the record of the backend a running stack was started with;
//! - [`containers`] — `up` for the containers topology (AS and echo server on one network).
//!
//! [`AsBackend`] decides between the embedded process and the container. Nothing here prints:
//! steps and findings are recorded in the caller's [`Run`] (pull progress through
//! [`Run::pull_progress`]).

pub mod backend;
pub mod containers;
pub mod dev_user;
pub mod docker;
pub mod echo_client;
pub mod external;
pub mod health;
mod held_ports;
pub mod identity;
pub mod launched;
pub mod lock;
pub mod platform;
pub mod ports;
pub mod process;
pub mod started;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::cli::{Component, UpArgs};
use crate::config::{self, Backend, Settings, var};
use crate::diagnose::{Code, Finding};
use crate::report::Run;

pub use backend::{AsBackend, Choice};
pub use held_ports::foreign_held_ports;
pub(crate) use held_ports::preflight_ports;
use held_ports::{held_finding, held_ports, join_ports};
use process::PidState;

/// Ends the "backend" step on a Docker finding: the step fails with the finding's message and
/// code, and the finding is recorded.
fn fail_backend(run: &mut Run<'_>, timer: crate::report::StepTimer, finding: Finding) {
    run.fail(
        timer,
        finding.message.clone(),
        json!({"backend": "docker", "code": finding.code}),
    );
    run.finding(finding);
}

/// Starts whatever is not running: the authorization server first, then (when `with_echo`) the
/// echo MCP server, each health-waited up to `args.wait_timeout` seconds. Records a "backend"
/// step and one step per component in `run` ("already running (pid N)" / "started (pid N) in X
/// ms"; a failed step plus a finding on error). Returns `Ok(true)` when everything asked for is
/// up, `Ok(false)` when a component failed (the finding says why).
///
/// Callers run the configuration pre-flight first (`commands::preflight`), which also takes the
/// run-directory lock and writes or completes the `.env`; nothing here checks the configuration.
/// Once the authorization server is up, its backend is recorded ([`backend::record`]) so that a
/// later `auto` run keeps it. When the authorization server is (re)started
/// while an echo server from before is running, the echo server is restarted too: its SDK caches
/// the old server's signing keys.
pub async fn ensure_up(
    settings: &Settings,
    args: &UpArgs,
    run: &mut Run<'_>,
    with_echo: bool,
) -> anyhow::Result<bool> {
    process::check_run_dir(&settings.run_dir)?;
    if settings.topology == config::Topology::Containers && settings.backend != Backend::External {
        return containers::ensure_up(settings, args, run, with_echo).await;
    }

    if let Some(external) = external::detect(settings).await {
        return use_external(settings, &external, args, run, with_echo).await;
    }
    if settings.backend == Backend::External {
        let timer = run.start("backend");
        let finding = external_absent(settings);
        run.fail(
            timer,
            finding.message.clone(),
            json!({"backend": "external"}),
        );
        run.finding(finding);
        return Ok(false);
    }
    if settings.backend != Backend::Embedded && !preflight_ports(settings, run, with_echo).await {
        return Ok(false);
    }
    let timer = run.start("backend");
    let mut pull = run.pull_progress(&settings.image);
    let chosen = AsBackend::choose(settings, args.no_pull, |e| pull.event(e)).await;
    pull.finish();
    let (backend, docker) = match chosen {
        Ok(choice) => {
            run.pass(timer, choice.why.clone(), choice.detail());
            (choice.backend, choice.docker)
        }
        Err(finding) => {
            fail_backend(run, timer, finding);
            return Ok(false);
        }
    };

    let timeout = Duration::from_secs(args.wait_timeout);
    let as_result = match (backend, docker) {
        (AsBackend::Docker, Some(docker)) => {
            ensure_container(&docker, settings, timeout, run).await?
        }
        _ => ensure_component(settings, Component::Authserver, timeout, run).await?,
    };
    if as_result.is_up() {
        backend::record(&settings.run_dir, backend)?;
        // The container does not read AUTHPLANE_DEV_USER_*: make the user through its API.
        if backend == AsBackend::Docker {
            dev_user::ensure_via_admin(settings, run).await;
        }
    }
    if !with_echo {
        return Ok(as_result.is_up());
    }
    if !as_result.is_up() {
        let timer = run.start(process::title(Component::Echo));
        run.skip(timer, "not started: the authorization server is not up");
        return Ok(false);
    }
    if as_result == Started::Fresh
        && let PidState::Running(pid) = process::inspect(&settings.run_dir, Component::Echo)
    {
        let timer = run.start("restart echo MCP server");
        match process::stop(&settings.run_dir, Component::Echo, pid) {
            Ok(_) => run.pass(
                timer,
                format!(
                    "stopped the old echo server (pid {pid}): it cached the previous \
                     authorization server's keys"
                ),
                json!({"pid": pid}),
            ),
            Err(e) => {
                run.fail(timer, format!("cannot stop pid {pid}"), json!({"pid": pid}));
                return Err(e);
            }
        }
    }
    if !prepare_echo_revocation(settings, run).await? {
        return Ok(false);
    }
    let echo_result = ensure_component(settings, Component::Echo, timeout, run).await?;
    Ok(echo_result.is_up())
}

/// With `AUTHPLANE_DEV_ECHO_REVOCATION` on, registers (or reuses) the echo server's introspection
/// client; a running echo server that uses a replaced client is stopped so it starts with the new
/// one. False when the client could not be registered (the echo server is then not started: it
/// would refuse to start without it).
async fn prepare_echo_revocation(settings: &Settings, run: &mut Run<'_>) -> anyhow::Result<bool> {
    if !settings.echo_revocation {
        return Ok(true);
    }
    match echo_client::prepare(settings, run).await? {
        echo_client::Prepared::Failed => {
            let timer = run.start(process::title(Component::Echo));
            run.skip(
                timer,
                "not started: its introspection client could not be registered",
            );
            Ok(false)
        }
        echo_client::Prepared::Registered => {
            if let PidState::Running(pid) = process::inspect(&settings.run_dir, Component::Echo) {
                process::stop(&settings.run_dir, Component::Echo, pid)?;
                started::forget(&settings.run_dir, Component::Echo);
            }
            Ok(true)
        }
        echo_client::Prepared::Reused => Ok(true),
    }
}

/// Uses an authorization server someone else runs (never started, restarted or stopped here) and
/// starts the echo server for it when asked.
async fn use_external(
    settings: &Settings,
    external: &external::External,
    args: &UpArgs,
    run: &mut Run<'_>,
    with_echo: bool,
) -> anyhow::Result<bool> {
    let timer = run.start("backend");
    run.pass(
        timer,
        format!(
            "external: an authorization server already answers at {}",
            external.url
        ),
        json!({"backend": "external", "url": external.url, "issuer": external.issuer}),
    );
    let timer = run.start(process::title(Component::Authserver));
    run.pass(
        timer,
        format!(
            "external (not managed by authplane-dev) at {}, issuer {}",
            external.url, external.issuer
        ),
        json!({"external": true, "url": external.url, "issuer": external.issuer, "started": false}),
    );
    if !with_echo {
        return Ok(true);
    }
    if !prepare_echo_revocation(settings, run).await? {
        return Ok(false);
    }
    let timeout = Duration::from_secs(args.wait_timeout);
    Ok(ensure_component(settings, Component::Echo, timeout, run)
        .await?
        .is_up())
}

/// `--as external` with nothing answering at the public URL.
fn external_absent(settings: &Settings) -> Finding {
    Finding::error(
        Code::AsUnreachable,
        format!(
            "no authorization server answers at {} ({}=external asks for one that runs already)",
            settings.public_url,
            var::DEV_AS
        ),
        format!(
            "start your AS (e.g. the seed's `make run`, or `authplane-dev serve authserver` in \
             another terminal), point {} at it, or use --as auto to let authplane-dev start one",
            var::DEV_PUBLIC_URL
        ),
    )
    .why("with an external AS authplane-dev only uses it; it never starts one")
    .compare(
        format!(
            "RFC 8414 metadata at {}",
            health::probe_url(settings, Component::Authserver)
        ),
        "no answer",
    )
}

/// How [`ensure_component`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    Already,
    Fresh,
    Failed,
}

impl Started {
    pub(crate) fn is_up(self) -> bool {
        self != Started::Failed
    }
}

async fn ensure_component(
    settings: &Settings,
    component: Component,
    timeout: Duration,
    run: &mut Run<'_>,
) -> anyhow::Result<Started> {
    let title = process::title(component);
    let run_dir = &settings.run_dir;
    let log = process::log_path(run_dir, component);
    let url = health::public_url(settings, component);
    let timer = run.start(title);
    let mut note = String::new();
    let wanted = started::inputs(settings, component, None);
    let mut restarted = None;
    match process::inspect(run_dir, component) {
        PidState::Running(pid)
            if let Some(changed) = started::read(run_dir, component)
                .map(|recorded| started::changes(&recorded, &wanted))
                .filter(|changed| !changed.is_empty()) =>
        {
            // Started with other settings: a verb acting on the new configuration against the
            // old process would report the wrong findings, so it is restarted (as `docker
            // compose up` recreates a changed service).
            process::stop(run_dir, component, pid)?;
            started::forget(run_dir, component);
            restarted = Some(started::describe(&changed));
        }
        PidState::Running(pid) => {
            return match health::wait_ready(settings, component, timeout, None, &log).await {
                Ok(()) => {
                    run.pass(
                        timer,
                        format!("already running (pid {pid}) at {url}"),
                        json!({"pid": pid, "url": url, "log": log, "started": false}),
                    );
                    Ok(Started::Already)
                }
                Err(not_ready) => {
                    run.fail(
                        timer,
                        format!("running (pid {pid}) but does not answer at {url}"),
                        json!({"pid": pid, "url": url, "log": log}),
                    );
                    run.finding(unready_finding(settings, component, Some(pid), &not_ready));
                    Ok(Started::Failed)
                }
            };
        }
        PidState::Stale { pid, reason } => {
            let _ = process::remove_pid_file(run_dir, component);
            let pid = pid.map_or_else(String::new, |p| format!(" (pid {p})"));
            note = format!("; replaced a stale pid file{pid}: {reason}");
        }
        PidState::Missing => {}
    }

    let held = held_ports(settings, component);
    if !held.is_empty() {
        run.fail(
            timer,
            format!("not started: port {} in use{note}", join_ports(&held)),
            json!({"ports": held.iter().map(|h| h.port).collect::<Vec<_>>()}),
        );
        for h in held {
            run.finding(h.finding(component));
        }
        return Ok(Started::Failed);
    }

    let mut child = process::spawn(settings, component)?;
    let pid = child.id();
    launched::record_process(process::absolute(run_dir), component, pid);
    match health::wait_ready(settings, component, timeout, Some(&mut child), &log).await {
        Ok(()) => {
            started::record(run_dir, component, &wanted)?;
            let ms = timer.elapsed().as_millis();
            let verb = if restarted.is_some() {
                "restarted"
            } else {
                "started"
            };
            let because = restarted.as_ref().map_or_else(String::new, |changed| {
                format!("; settings changed: {changed}")
            });
            run.pass(
                timer,
                format!("{verb} (pid {pid}) in {ms} ms at {url}{note}{because}"),
                json!({"pid": pid, "url": url, "log": log, "started": true,
                       "restarted_because": restarted}),
            );
            Ok(Started::Fresh)
        }
        Err(not_ready) => {
            process::stop_child(run_dir, component, &mut child);
            launched::forget_process(pid);
            run.fail(
                timer,
                format!("did not become ready at {url}{note}"),
                json!({"pid": pid, "url": url, "log": log}),
            );
            run.finding(unready_finding(settings, component, None, &not_ready));
            Ok(Started::Failed)
        }
    }
}

pub(crate) async fn ensure_container(
    docker: &docker::Client,
    settings: &Settings,
    timeout: Duration,
    run: &mut Run<'_>,
) -> anyhow::Result<Started> {
    let name = &settings.container_name;
    let url = health::public_url(settings, Component::Authserver);
    let timer = run.start(process::title(Component::Authserver));
    let wanted = started::inputs(settings, Component::Authserver, Some(&settings.image));
    let mut restarted = None;
    let found = docker::find(docker, name)
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(c) = &found {
        if !docker::is_own(c) {
            let project = docker::project_of(c);
            // Same name, started by authplane-dev in another directory: not ours to use or
            // replace (its volume holds that project's keys and registrations).
            run.fail(
                timer,
                format!("container {name} belongs to another project directory"),
                json!({"container": name, "project": project}),
            );
            run.finding(
                Finding::error(
                    Code::ConfigInvalid,
                    format!(
                        "a container named {name} exists for another project directory (label {}={project})",
                        docker::PROJECT_LABEL
                    ),
                    format!(
                        "set {} to another name for this project, or run `authplane-dev clean` in the directory that started it",
                        var::DEV_CONTAINER
                    ),
                )
                .why("authplane-dev only uses or replaces containers this directory started"),
            );
            return Ok(Started::Failed);
        }
        let id = c.id.clone().unwrap_or_else(|| name.clone());
        let changed = started::read(&settings.run_dir, Component::Authserver)
            .map(|recorded| started::changes(&recorded, &wanted))
            .unwrap_or_default();
        if docker::is_running(c) && changed.is_empty() {
            return match docker::wait_ready(docker, settings, &id, timeout).await {
                Ok(()) => {
                    run.pass(
                        timer,
                        format!("already running (container {name}) at {url}"),
                        json!({"container": name, "url": url, "started": false}),
                    );
                    Ok(Started::Already)
                }
                Err(why) => {
                    run.fail(
                        timer,
                        format!("container {name} runs but does not answer at {url}"),
                        json!({"container": name, "url": url}),
                    );
                    run.finding(container_unready(name, &why));
                    Ok(Started::Failed)
                }
            };
        }
        // A stopped container of ours, or one started with other settings, is replaced; its
        // volume (the data) stays.
        if !changed.is_empty() {
            restarted = Some(started::describe(&changed));
        }
        docker::remove(docker, name).await?;
        started::forget(&settings.run_dir, Component::Authserver);
    }

    let held = held_ports(settings, Component::Authserver);
    if !held.is_empty() {
        run.fail(
            timer,
            format!("not started: port {} in use", join_ports(&held)),
            json!({"ports": held.iter().map(|h| h.port).collect::<Vec<_>>()}),
        );
        for h in held {
            run.finding(held_finding(Some(docker), &h, Component::Authserver).await);
        }
        return Ok(Started::Failed);
    }

    launched::record_container(name);
    let id = docker::start(docker, settings).await?;
    match docker::wait_ready(docker, settings, &id, timeout).await {
        Ok(()) => {
            started::record(&settings.run_dir, Component::Authserver, &wanted)?;
            let ms = timer.elapsed().as_millis();
            let verb = if restarted.is_some() {
                "recreated"
            } else {
                "started"
            };
            let because = restarted.as_ref().map_or_else(String::new, |changed| {
                format!("; settings changed: {changed}")
            });
            run.pass(
                timer,
                format!(
                    "{verb} (container {name}, image {}) in {ms} ms at {url}{because}",
                    settings.image
                ),
                json!({"container": name, "image": settings.image, "url": url, "started": true,
                       "restarted_because": restarted}),
            );
            Ok(Started::Fresh)
        }
        Err(why) => {
            let _ = docker::remove(docker, name).await;
            launched::forget_container(name);
            run.fail(
                timer,
                format!("container {name} did not become ready at {url}"),
                json!({"container": name, "url": url}),
            );
            run.finding(container_unready(name, &why));
            Ok(Started::Failed)
        }
    }
}

/// Why the container `name` is not ready, as a finding: volume_unwritable when its log says it
/// cannot write the data volume (the fix is about the volume, not the server), else
/// as_unreachable.
fn container_unready(name: &str, why: &docker::NotReady) -> Finding {
    if let docker::NotReady::Exited {
        exit_code,
        user,
        log,
    } = why
        && let Some(line) = docker::unwritable_data_line(log)
    {
        return docker::volume_unwritable(name, user, line, *exit_code);
    }
    Finding::error(
        Code::AsUnreachable,
        format!("the authorization server container {name} is not ready: {why}"),
        format!(
            "check `docker logs {name}`; `authplane-dev clean` then `authplane-dev up` restarts it"
        ),
    )
}

fn unready_finding(
    settings: &Settings,
    component: Component,
    running_pid: Option<u32>,
    not_ready: &health::NotReady,
) -> Finding {
    let title = process::title(component);
    let name = process::name(component);
    let code = match component {
        Component::Authserver => Code::AsUnreachable,
        Component::Echo => Code::McpUnreachable,
    };
    let probe = health::probe_url(settings, component);
    let log = process::log_path(&settings.run_dir, component);
    let (message, tail) = match not_ready {
        health::NotReady::Exited { status, log_tail } => (
            format!("the {title} exited during startup ({status})"),
            log_tail,
        ),
        health::NotReady::Timeout { last, log_tail } => (
            match running_pid {
                Some(pid) => format!("the {title} (pid {pid}) runs but does not answer: {last}"),
                None => format!("the {title} did not become ready in time: {last}"),
            },
            log_tail,
        ),
    };
    let why = if tail.is_empty() {
        format!(
            "readiness means GET {probe} answers 200; its log {} is empty",
            log.display()
        )
    } else {
        format!(
            "readiness means GET {probe} answers 200; last lines of {}:{}",
            log.display(),
            tail.iter().fold(String::new(), |mut acc, l| {
                acc.push_str("\n      | ");
                acc.push_str(l);
                acc
            })
        )
    };
    let fix = match running_pid {
        Some(_) => format!(
            "check `authplane-dev logs {name}`; `authplane-dev clean` then `authplane-dev up` \
             restarts it"
        ),
        None => format!(
            "fix what the log names (`authplane-dev logs {name}`), then run `authplane-dev up` \
             again; a slow machine may need --wait-timeout"
        ),
    };
    Finding::error(code, message, fix).why(why)
}

/// What `status` reports for one component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// `authserver` or `echo`.
    pub name: &'static str,
    /// `running`, `not_running` or `stale`; `status` reports an AS someone else runs as
    /// `external`.
    pub state: &'static str,
    pub pid: Option<u32>,
    pub url: String,
    /// Whether the readiness probe answered (false when not running).
    pub healthy: bool,
    pub log: PathBuf,
    /// Why a pid file is stale, or what the probe answered instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Inspects `component`: its pid file, its process and (when running) one readiness probe.
pub async fn component_status(settings: &Settings, component: Component) -> ComponentStatus {
    let mut status = ComponentStatus {
        name: process::name(component),
        state: "not_running",
        pid: None,
        url: health::public_url(settings, component),
        healthy: false,
        log: process::log_path(&settings.run_dir, component),
        reason: None,
    };
    match process::inspect(&settings.run_dir, component) {
        PidState::Missing => {}
        PidState::Stale { pid, reason } => {
            status.state = "stale";
            status.pid = pid;
            status.reason = Some(reason);
        }
        PidState::Running(pid) => {
            status.state = "running";
            status.pid = Some(pid);
            match health::probe(settings, component).await {
                Ok(()) => status.healthy = true,
                Err(why) => status.reason = Some(why),
            }
        }
    }
    status
}

/// The components in start order.
pub const COMPONENTS: [Component; 2] = [Component::Authserver, Component::Echo];
