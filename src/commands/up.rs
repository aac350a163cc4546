//! `up`: write the first `.env` if there is none, then start the authorization server and the
//! echo MCP server in the background (health-waited), register the echo server's resource on the
//! authorization server, and print their endpoints. Idempotent: a
//! second `up` finds both running and changes nothing.
//!
//! Ctrl-C (SIGINT) or SIGTERM while `up` runs stops what this invocation started (process groups
//! and pid files, or the container it created), says so in one line and exits 130 (see
//! [`crate::stack::launched`]). What was running before `up` began is left alone.

use serde_json::json;

use crate::cli::{Component, UpArgs};
use crate::commands::Context;
use crate::config::Topology;
use crate::exit::Interrupted;
use crate::report::Outcome;
use crate::stack::launched::{self, Interrupts};
use crate::stack::{self, health, process};
use crate::steps::Flow;

/// Runs the command; an interrupt undoes what it started and ends it with [`Interrupted`].
pub async fn run(args: &UpArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    // Installed before anything is started, so a signal at any later moment is caught.
    let mut interrupts = Interrupts::install()?;
    tokio::select! {
        biased;
        signal = interrupts.recv() => {
            let undone = launched::undo().await;
            let what = if undone.done.is_empty() {
                "nothing had been started yet".to_owned()
            } else {
                undone.done.join(", ")
            };
            let left = if undone.failed.is_empty() {
                "nothing it started is left running".to_owned()
            } else {
                undone.failed.join("; ")
            };
            Err(Interrupted(format!(
                "up was interrupted ({signal}) while starting the stack: {what}; {left}. Run \
                 `authplane-dev up` again to start the stack"
            ))
            .into())
        }
        result = start(args, ctx) => result,
    }
}

async fn start(args: &UpArgs, ctx: &Context<'_>) -> anyhow::Result<Outcome> {
    let mut run = ctx.reporter.run("up");
    let Some(prepared) = crate::commands::preflight::prepare(ctx, &mut run).await? else {
        return Ok(run.finish());
    };
    let settings = &prepared.settings;

    let up = stack::ensure_up(settings, args, &mut run, true).await?;
    if !up {
        return Ok(run.finish());
    }
    // Registered here, not only by `verify`: an MCP client pointed at the echo server right
    // after `up` (MCP Inspector, Claude Code) asks for this resource on authorize and would get
    // `invalid_target` otherwise. It is the echo server's own resource, so `up` also patches it
    // to the URL the echo server now serves (as `verify --fix` would), saying so in the step.
    let mut flow = Flow::new(settings, ctx.reporter, true, true)?;
    if !flow.check_resource_uri(&mut run) || flow.ensure_resource(&mut run, true).await.is_none() {
        return Ok(run.finish());
    }

    let as_log = process::log_path(&settings.run_dir, Component::Authserver);
    let echo_log = process::log_path(&settings.run_dir, Component::Echo);
    let issuer = settings.server_issuer.clone();
    let mcp_url = settings.audience();
    run.text(format!("issuer:     {issuer}"));
    run.text(format!("public URL: {}", settings.public_url));
    run.text(format!("admin URL:  {}", settings.admin_url));
    run.text(format!("MCP URL:    {mcp_url}"));
    if settings.topology == Topology::Containers {
        run.text(format!(
            "containers: {} (as `{}`), {} on network {}; `authplane-dev logs` shows their logs",
            settings.container_name,
            crate::config::default::NETWORK_ALIAS,
            stack::docker::echo_container::name(settings),
            stack::docker::network::name(&settings.container_name)
        ));
    } else {
        run.text(format!(
            "logs:       {}, {}",
            as_log.display(),
            echo_log.display()
        ));
    }
    // The password is a registered secret: the line shows it only under --show-secrets.
    let password = settings.dev_user_password.as_deref().unwrap_or("");
    run.text(format!(
        "dev user:   {} / {password}  (the login page's user; from {})",
        settings.dev_user_email,
        settings.env_file.display()
    ));
    run.text("next: `authplane-dev verify`; stop with `authplane-dev clean`".to_owned());
    run.data(
        "endpoints",
        json!({
            "issuer": issuer,
            "public_url": settings.public_url,
            "admin_url": settings.admin_url,
            "as_metadata": health::probe_url(settings, Component::Authserver),
            "mcp_url": mcp_url,
            "protected_resource_metadata": health::probe_url(settings, Component::Echo),
        }),
    );
    run.data("logs", json!({"authserver": as_log, "echo": echo_log}));
    run.data(
        "dev_user",
        json!({"email": settings.dev_user_email, "password": password}),
    );
    Ok(run.finish())
}
