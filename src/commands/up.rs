//! `up`: write the first `.env` if there is none, then start the authorization server and the
//! echo MCP server in the background (health-waited) and print their endpoints. Idempotent: a
//! second `up` finds both running and changes nothing.
//!
//! Ctrl-C (SIGINT) or SIGTERM while `up` runs stops what this invocation started (process groups
//! and pid files, or the container it created), says so in one line and exits 130 (see
//! [`crate::stack::launched`]). What was running before `up` began is left alone.

use serde_json::json;

use crate::cli::{Component, UpArgs};
use crate::commands::Context;
use crate::exit::Interrupted;
use crate::report::Outcome;
use crate::stack::launched::{self, Interrupts};
use crate::stack::{self, health, process};

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

    let as_log = process::log_path(&settings.run_dir, Component::Authserver);
    let echo_log = process::log_path(&settings.run_dir, Component::Echo);
    let issuer = settings.server_issuer.clone();
    let mcp_url = settings.audience();
    run.text(format!("issuer:     {issuer}"));
    run.text(format!("public URL: {}", settings.public_url));
    run.text(format!("admin URL:  {}", settings.admin_url));
    run.text(format!("MCP URL:    {mcp_url}"));
    // The password is a registered secret: the line shows it only under --show-secrets.
    let password = settings.dev_user_password.as_deref().unwrap_or("");
    run.text(format!(
        "dev user:   {} / {password}  (the login page's user; from {})",
        settings.dev_user_email,
        settings.env_file.display()
    ));
    run.text(format!(
        "logs:       {}, {}",
        as_log.display(),
        echo_log.display()
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
