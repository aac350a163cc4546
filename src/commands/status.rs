//! `status`: one step per component — running (pid, URL, answers or not), not running, or a stale
//! pid file. It is a report: the exit code is 0 even when components are down.

use serde_json::json;

use crate::cli::StatusArgs;
use crate::commands::Context;
use crate::report::Outcome;
use crate::stack::{self, process};

/// Runs the command.
pub async fn run(_args: &StatusArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let settings = &ctx.settings;
    process::check_run_dir(&settings.run_dir)?;
    let mut run = ctx.reporter.run("status");
    let mut components = Vec::new();
    let container = container_state(settings).await;
    for component in stack::COMPONENTS {
        if component == crate::cli::Component::Authserver
            && let Some((name, running)) = &container
        {
            let timer = run.start(process::title(component));
            let url = stack::health::public_url(settings, component);
            let probe = stack::health::probe(settings, component).await;
            let detail = json!({"name": "authserver", "container": name, "running": running,
                "url": url, "healthy": probe.is_ok()});
            match (running, probe) {
                (true, Ok(())) => run.pass(
                    timer,
                    format!("running (container {name}) at {url}, answers"),
                    detail,
                ),
                (true, Err(why)) => run.warn(
                    timer,
                    format!("running (container {name}) at {url}, does not answer: {why}"),
                    detail,
                ),
                (false, _) => run.warn(
                    timer,
                    format!(
                        "container {name} exists but is stopped (`authplane-dev up` replaces it)"
                    ),
                    detail,
                ),
            }
            continue;
        }
        let timer = run.start(process::title(component));
        let status = stack::component_status(settings, component).await;
        let detail = json!(status);
        let pid = status
            .pid
            .map_or_else(String::new, |p| format!(" (pid {p})"));
        match (status.state, status.healthy) {
            ("running", true) => run.pass(
                timer,
                format!("running{pid} at {}, answers", status.url),
                detail,
            ),
            ("running", false) => run.warn(
                timer,
                format!(
                    "running{pid} at {}, does not answer: {}",
                    status.url,
                    status.reason.as_deref().unwrap_or("no answer")
                ),
                detail,
            ),
            ("stale", _) => run.warn(
                timer,
                format!(
                    "not running; stale pid file: {} (`authplane-dev up` replaces it)",
                    status.reason.as_deref().unwrap_or("unknown")
                ),
                detail,
            ),
            _ => run.skip(timer, "not running (`authplane-dev up` starts it)"),
        }
        components.push(status);
    }
    run.data("components", json!(components));
    Ok(run.finish())
}

/// The managed container (name, running) when the Docker backend may be in use and one exists.
async fn container_state(settings: &crate::config::Settings) -> Option<(String, bool)> {
    let (_, found) = stack::docker::configured_container(settings).await?;
    Some((
        settings.container_name.clone(),
        stack::docker::is_running(&found),
    ))
}
