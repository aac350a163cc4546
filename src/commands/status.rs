//! `status`: one step per component — running (pid, URL, answers or not), not running, or a stale
//! pid file. A component that is down or does not answer is an error finding (`as_unreachable`,
//! `mcp_unreachable`) with the command that fixes it, and the run exits 1; it exits 0 when every
//! component answers, so `authplane-dev status || authplane-dev up` works. Read-only: it never
//! waits for the run-directory lock, and asks Docker nothing while the stack recorded as embedded
//! runs.

use serde_json::json;

use crate::cli::{Component, StatusArgs};
use crate::commands::Context;
use crate::config::Settings;
use crate::diagnose::{Code, Finding};
use crate::report::{Outcome, Run};
use crate::stack::{self, AsBackend, process};

/// Runs the command.
pub async fn run(_args: &StatusArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let settings = &ctx.settings;
    process::check_run_dir(&settings.run_dir)?;
    let mut run = ctx.reporter.run("status");
    run.exit_as_check();
    let mut components = Vec::new();
    let container = container_state(settings).await;
    let echo_container = stack::docker::echo_container::configured(settings)
        .await
        .map(|(_, found)| {
            (
                stack::docker::echo_container::name(settings),
                stack::docker::is_running(&found),
            )
        });
    for component in stack::COMPONENTS {
        let in_container = match component {
            Component::Authserver => &container,
            Component::Echo => &echo_container,
        };
        if let Some((name, running)) = in_container {
            container_step(&mut run, settings, component, name, *running).await;
            continue;
        }
        let timer = run.start(process::title(component));
        let mut status = stack::component_status(settings, component).await;
        if component == Component::Authserver
            && status.state != "running"
            && let Some(external) = stack::external::detect(settings).await
        {
            // An AS someone else runs answers here: ours is not needed, nothing is down.
            status.state = "external";
            status.healthy = true;
            run.pass(
                timer,
                format!(
                    "external (not managed by authplane-dev) at {}, answers, issuer {}",
                    external.url, external.issuer
                ),
                json!(status),
            );
            components.push(status);
            continue;
        }
        let detail = json!(status);
        let pid = status
            .pid
            .map_or_else(String::new, |p| format!(" (pid {p})"));
        let title = process::title(component);
        let logs = format!("authplane-dev logs {}", process::name(component));
        match (status.state, status.healthy) {
            ("running", true) => {
                let changed = stack::started::stale(settings, component);
                if changed.is_empty() {
                    run.pass(
                        timer,
                        format!("running{pid} at {}, answers", status.url),
                        detail,
                    );
                } else {
                    let described = stack::started::describe(&changed);
                    run.warn(
                        timer,
                        format!(
                            "running{pid} at {}, answers, but was started with other settings: {described}",
                            status.url
                        ),
                        detail,
                    );
                    run.finding(
                        Finding::warning(
                            Code::StaleComponent,
                            format!("the {title} runs with other settings than the configuration: {described}"),
                            "`authplane-dev up` (or verify / token) restarts it with the current configuration",
                        ),
                    );
                }
            }
            ("running", false) => {
                let why = status.reason.as_deref().unwrap_or("no answer");
                run.fail(
                    timer,
                    format!("running{pid} at {}, does not answer: {why}", status.url),
                    detail,
                );
                run.finding(down(
                    component,
                    format!(
                        "the {title}{pid} runs but does not answer at {}: {why}",
                        status.url
                    ),
                    format!(
                        "check `{logs}`; `authplane-dev clean` then `authplane-dev up` restarts it"
                    ),
                ));
            }
            ("stale", _) => {
                let why = status.reason.as_deref().unwrap_or("unknown");
                run.fail(
                    timer,
                    format!("not running; stale pid file: {why} (`authplane-dev up` replaces it)"),
                    detail,
                );
                run.finding(down(
                    component,
                    format!("the {title} is not running (stale pid file: {why})"),
                    "authplane-dev up".to_owned(),
                ));
            }
            _ => {
                run.fail(timer, "not running (`authplane-dev up` starts it)", detail);
                run.finding(down(
                    component,
                    format!("the {title} is not running"),
                    "authplane-dev up".to_owned(),
                ));
            }
        }
        components.push(status);
    }
    run.data("components", json!(components));
    Ok(run.finish())
}

/// The step for `component`'s container `name` (the AS's, or the echo server's in the containers
/// topology).
async fn container_step(
    run: &mut Run<'_>,
    settings: &Settings,
    component: Component,
    name: &str,
    running: bool,
) {
    let title = process::title(component);
    let timer = run.start(title);
    let url = stack::health::public_url(settings, component);
    let probe = stack::health::probe(settings, component).await;
    let detail = json!({"name": process::name(component), "container": name, "running": running,
        "url": url, "healthy": probe.is_ok()});
    match (running, probe) {
        (true, Ok(())) => run.pass(
            timer,
            format!("running (container {name}) at {url}, answers"),
            detail,
        ),
        (true, Err(why)) => {
            run.fail(
                timer,
                format!("running (container {name}) at {url}, does not answer: {why}"),
                detail,
            );
            run.finding(down(
                component,
                format!("the {title} (container {name}) runs but does not answer at {url}: {why}"),
                format!(
                    "check `docker logs {name}`; `authplane-dev clean` then `authplane-dev up` \
                     restarts it"
                ),
            ));
        }
        (false, _) => {
            run.fail(
                timer,
                format!("container {name} exists but is stopped (`authplane-dev up` replaces it)"),
                detail,
            );
            run.finding(down(
                component,
                format!("the {title}'s container {name} is stopped"),
                "authplane-dev up".to_owned(),
            ));
        }
    }
}

/// The finding for a component that is down or does not answer.
fn down(component: Component, message: String, fix: String) -> Finding {
    let code = match component {
        Component::Authserver => Code::AsUnreachable,
        Component::Echo => Code::McpUnreachable,
    };
    Finding::error(code, message, fix)
}

/// The managed container (name, running) when the Docker backend may be in use and one exists.
/// No engine call while the stack recorded as embedded runs.
async fn container_state(settings: &Settings) -> Option<(String, bool)> {
    if stack::backend::recorded(&settings.run_dir) == Some(AsBackend::Embedded)
        && matches!(
            process::inspect(&settings.run_dir, Component::Authserver),
            process::PidState::Running(_)
        )
    {
        return None;
    }
    let (_, found) = stack::docker::configured_container(settings).await?;
    Some((
        settings.container_name.clone(),
        stack::docker::is_running(&found),
    ))
}
