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
    let mut run = ctx.reporter.run("status");
    let mut components = Vec::new();
    for component in stack::COMPONENTS {
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
